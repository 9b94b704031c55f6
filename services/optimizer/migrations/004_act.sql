-- Acting on the ad platform: every change the optimizer makes, from plan to outcome; the
-- campaigns as the platform last reported them; each rule firing, once per campaign-hour.

-- A change is planned ('pending') in one transaction and carried out in the next, so a
-- crash between the two leaves a row that is finished later with the same change id (the
-- platform applies a change id once). At most one change per campaign is in flight.
ALTER TABLE ai_optimization_history
    ADD COLUMN status text NOT NULL DEFAULT 'applied'
        CHECK (status IN ('pending', 'applied', 'failed')),
    ADD COLUMN setting text CHECK (setting IN ('budget', 'bid', 'status', 'audience')),
    ADD COLUMN value_before jsonb,
    ADD COLUMN value_after jsonb,
    ADD COLUMN change_id uuid NOT NULL DEFAULT gen_random_uuid(),
    ADD COLUMN connector text,
    ADD COLUMN cause_type text CHECK (cause_type IN ('decision', 'rule', 'recommendation', 'rollback')),
    ADD COLUMN cause_id uuid,
    ADD COLUMN decision_id uuid,
    ADD COLUMN rule_id uuid,
    ADD COLUMN recommendation_id uuid,
    ADD COLUMN rollback_of uuid REFERENCES ai_optimization_history (id),
    ADD COLUMN rolled_back_by uuid REFERENCES ai_optimization_history (id),
    ADD COLUMN clamps jsonb,
    ADD COLUMN failure_code text,
    ADD COLUMN failure_reason text,
    -- The platform's clock: when the change was planned, and from when it holds. Cooldowns
    -- and daily caps count on it, so they hold in simulated time too.
    ADD COLUMN planned_for timestamptz,
    ADD COLUMN effective_from timestamptz,
    ADD COLUMN applied_at timestamptz,
    ADD COLUMN correlation_id uuid,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX ai_optimization_history_change ON ai_optimization_history (change_id);
CREATE UNIQUE INDEX ai_optimization_history_in_flight
    ON ai_optimization_history (tenant_id, target_entity_id) WHERE status = 'pending';
CREATE INDEX ai_optimization_history_entity
    ON ai_optimization_history (tenant_id, target_entity_id, effective_from);

ALTER TABLE ai_recommendations DROP CONSTRAINT ai_recommendations_status_check;
ALTER TABLE ai_recommendations
    ADD CONSTRAINT ai_recommendations_status_check
        CHECK (status IN ('pending', 'approved', 'implemented', 'rejected', 'failed')),
    ADD COLUMN optimization_id uuid REFERENCES ai_optimization_history (id),
    ADD COLUMN failure_reason text;

-- Campaigns as the ad platform last reported them; ``id`` is the campaign's id.
CREATE TABLE ad_campaigns (
    id uuid NOT NULL,
    tenant_id uuid NOT NULL,
    name text NOT NULL,
    status text NOT NULL,
    daily_budget numeric(14, 2) NOT NULL,
    bid_multiplier numeric(10, 4) NOT NULL,
    audience_factor numeric(10, 4) NOT NULL,
    audiences jsonb NOT NULL DEFAULT '[]',
    connector text NOT NULL,
    platform_as_of timestamptz NOT NULL,
    synced_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX ad_campaigns_page ON ad_campaigns (tenant_id, created_at DESC, id DESC);

-- Rules: the newest hour each was evaluated for, and one row per campaign it fired on per
-- hour (the key that keeps a firing from acting twice).
ALTER TABLE ai_automation_rules
    ADD COLUMN evaluated_for timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE TABLE rule_firings (
    tenant_id uuid NOT NULL,
    rule_id uuid NOT NULL REFERENCES ai_automation_rules (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL,
    as_of timestamptz NOT NULL,
    evaluation jsonb NOT NULL,
    outcomes jsonb NOT NULL DEFAULT '[]',
    succeeded boolean,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, campaign_id, as_of)
);
CREATE INDEX rule_firings_tenant ON rule_firings (tenant_id, created_at DESC);
