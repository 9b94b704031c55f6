-- Carrying a change out without holding a transaction across the call to the platform:
-- a worker leases the pending row (``claimed_until``), calls the platform, then records the
-- outcome. An unanswered call leaves the row pending for another attempt (same change id)
-- after ``next_attempt_at``.
ALTER TABLE ai_optimization_history
    ADD COLUMN attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN claimed_until timestamptz,
    ADD COLUMN next_attempt_at timestamptz,
    ADD COLUMN last_error text;

-- One change in flight per setting of a campaign (a pause and a budget cut may travel
-- together; two budget changes may not).
DROP INDEX ai_optimization_history_in_flight;
CREATE UNIQUE INDEX ai_optimization_history_in_flight
    ON ai_optimization_history (tenant_id, target_entity_id, setting) WHERE status = 'pending';
CREATE INDEX ai_optimization_history_pending
    ON ai_optimization_history (next_attempt_at) WHERE status = 'pending';

-- When the platform gave the answer a stored campaign comes from: an older answer never
-- overwrites a newer one, even within one platform hour.
ALTER TABLE ad_campaigns ADD COLUMN observed_at timestamptz NOT NULL DEFAULT now();
