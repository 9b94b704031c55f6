-- Auction Insights: one row per campaign, competitor domain, day, source and kind, so a
-- report imported or pulled again replaces its rows instead of adding to them. The
-- tenant's own row has the domain 'You', as the platforms' reports name it.
ALTER TABLE ai_competitive_intelligence
    ADD COLUMN campaign_id uuid,
    ADD COLUMN day date,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE UNIQUE INDEX ai_competitive_intelligence_row
    ON ai_competitive_intelligence
    (tenant_id, campaign_id, competitor_identifier, day, data_source, intelligence_type)
    NULLS NOT DISTINCT;
CREATE INDEX ai_competitive_intelligence_day
    ON ai_competitive_intelligence (tenant_id, campaign_id, day);

-- What a competitor did in a campaign's auctions, found in its Auction Insights: it
-- entered, exited, became aggressive or retreated, from ``started_on``. ``size`` is the
-- change in its impression share (points of 100; for entered and exited, the share it
-- came in with or left from), ``score`` that change times its position-above rate.
CREATE TABLE competitor_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    competitor text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('entered', 'exited', 'aggressive', 'retreated')),
    started_on date NOT NULL,
    size double precision NOT NULL,
    score double precision NOT NULL DEFAULT 0,
    confidence double precision NOT NULL CHECK (confidence BETWEEN 0 AND 1),
    evidence jsonb NOT NULL DEFAULT '{}',
    data_source text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, campaign_id, competitor, kind, started_on)
);
CREATE INDEX competitor_events_page ON competitor_events (tenant_id, created_at DESC, id DESC);
CREATE INDEX competitor_events_campaign ON competitor_events (tenant_id, campaign_id, started_on);
