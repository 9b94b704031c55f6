-- replaces checksum 14444863051cca595f1e6bcd21d9ae5b203227581ddeb956f37bc45ab3274dfe
-- (this file also created campaign_metrics, which shared/migrations/campaign_metrics now
-- defines for every service keeping a copy; a database that ran the old file has the table)

-- What the decision service keeps of others' facts (learned from events), and what makes
-- cycles coalesce and decisions not repeat.

-- Open alerts as the alerts service announced them.
CREATE TABLE alert_view (
    tenant_id uuid NOT NULL,
    alert_id uuid PRIMARY KEY,
    campaign_id uuid,
    kind text,
    metric text,
    severity text NOT NULL,
    observed double precision,
    baseline double precision,
    status text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_view_open ON alert_view (tenant_id, campaign_id) WHERE status IN ('active', 'acknowledged');

-- The latest assessment of each risk per campaign.
CREATE TABLE risk_view (
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    risk_type text NOT NULL,
    risk_level text NOT NULL,
    probability_score double precision NOT NULL,
    assessed_hour timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id, risk_type)
);

ALTER TABLE master_ai_cycles
    ADD COLUMN error_message text,
    -- Automatic cycles (alerts, schedule) are joinable: a burst of alerts queues one cycle.
    -- A cycle someone asked for through the API is their own and never joined.
    ADD COLUMN joinable boolean NOT NULL DEFAULT false;
CREATE UNIQUE INDEX master_ai_cycles_one_pending ON master_ai_cycles (tenant_id)
    WHERE status = 'pending' AND joinable;

CREATE INDEX ai_decision_logs_campaign ON ai_decision_logs (tenant_id, (context_data ->> 'campaign_id'), action_taken);

ALTER TABLE ai_model_versions ADD COLUMN parameters jsonb NOT NULL DEFAULT '{}';

-- Wakes the cycle runner when a cycle is queued.
CREATE FUNCTION cycle_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_cycles', '');
    RETURN NULL;
END $$;
CREATE TRIGGER cycle_notify AFTER INSERT ON master_ai_cycles
    FOR EACH STATEMENT EXECUTE FUNCTION cycle_notify();
