-- replaces checksum 845acc57036441bac80da139d5695ab88824862689cd6bd88e63243c40db9500
-- (this file also created campaign_metrics, which shared/migrations/campaign_metrics now
-- defines for every service keeping a copy; a database that ran the old file has the table)

-- What de-duplicates alerts and risks.

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
