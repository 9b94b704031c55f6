-- The alerts service's own copy of campaign metrics, and what de-duplicates alerts and risks.

CREATE TABLE campaign_metrics (
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    hour timestamptz NOT NULL,
    impressions bigint NOT NULL,
    clicks bigint NOT NULL,
    conversions bigint NOT NULL,
    spend double precision NOT NULL,
    revenue double precision NOT NULL,
    budget double precision NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id, hour)
);

ALTER TABLE ai_smart_alerts
    ADD COLUMN alert_key text,
    ADD COLUMN occurrences integer NOT NULL DEFAULT 1,
    ADD COLUMN first_seen_hour timestamptz,
    ADD COLUMN last_seen_hour timestamptz,
    ADD COLUMN evidence jsonb,
    ADD COLUMN acknowledged_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
-- One open alert per entity and kind: a repeat updates the open one.
CREATE UNIQUE INDEX ai_smart_alerts_open_key ON ai_smart_alerts (tenant_id, affected_entity_id, alert_key)
    WHERE status IN ('active', 'acknowledged') AND alert_key IS NOT NULL;

ALTER TABLE ai_risk_management
    ADD COLUMN assessed_hour timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX ai_risk_management_open ON ai_risk_management (tenant_id, affected_entity_id, risk_type)
    WHERE status = 'active';
