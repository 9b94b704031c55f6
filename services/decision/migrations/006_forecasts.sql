-- The optimizer's campaign forecasts, as its forecast.created events tell them, and their
-- scores once forecast.scored arrives. Decisions may read a campaign's expected totals
-- here; the forecasting models' running accuracy in ai_model_versions is computed from
-- the scored rows.
CREATE TABLE campaign_forecasts (
    forecast_id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    campaign_id uuid NOT NULL,
    horizon_hours integer NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    -- Totals over the period: spend, conversions, revenue, roas.
    predicted jsonb NOT NULL,
    -- {"80": {metric: {"low", "high"}}, "95": {...}}
    intervals jsonb NOT NULL,
    model_name text NOT NULL,
    model_version text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    actual jsonb,
    mase jsonb,
    mean_mase double precision,
    accuracy_score double precision,
    interval_hits jsonb,
    hours_observed integer,
    scored_at timestamptz
);
CREATE INDEX campaign_forecasts_latest
    ON campaign_forecasts (tenant_id, campaign_id, horizon_hours, period_start DESC);
CREATE INDEX campaign_forecasts_scored
    ON campaign_forecasts (model_name, model_version) WHERE scored_at IS NOT NULL;
