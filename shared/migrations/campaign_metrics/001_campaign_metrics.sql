-- A service's own copy of campaign metrics (shared/metrics_store.py reads and writes it),
-- for every service that keeps one. IF NOT EXISTS: schemas migrated before this file was
-- shared already have the table from their service's own 002 migration; those that lacked
-- the index get it here.

CREATE TABLE IF NOT EXISTS campaign_metrics (
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
-- The newest hours of a tenant: where "now" is, and which campaigns are live.
CREATE INDEX IF NOT EXISTS campaign_metrics_recent ON campaign_metrics (tenant_id, hour DESC);
