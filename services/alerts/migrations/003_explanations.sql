-- What explains an incident (services/alerts/explain.py): the alerts service's own copies
-- of the competitor events the optimizer detected and of the changes it made.

-- competitor.event_detected: one row per event, whatever how often it is delivered.
CREATE TABLE competitor_event_view (
    tenant_id uuid NOT NULL,
    event_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    competitor text NOT NULL,
    kind text NOT NULL,
    started_on date NOT NULL,
    size double precision NOT NULL,
    score double precision NOT NULL,
    confidence double precision NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);
CREATE INDEX competitor_event_view_campaign ON competitor_event_view (tenant_id, campaign_id, started_on);

-- optimization.applied: the setting we changed on a campaign, from what to what, and from when.
CREATE TABLE own_change_view (
    tenant_id uuid NOT NULL,
    change_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    setting text NOT NULL,
    value_before jsonb,
    value_after jsonb,
    effective_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, change_id)
);
CREATE INDEX own_change_view_campaign ON own_change_view (tenant_id, campaign_id, effective_at);
