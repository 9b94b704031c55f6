-- Forecasts made by shared/forecasting.py: a campaign's totals over [period_start,
-- period_end) on the platform's clock, with the hourly point forecast kept so the forecast
-- can be scored (MASE) once the period has passed. ``forecast_period_start``/``_end`` stay
-- the period's first and last UTC dates.
ALTER TABLE ai_campaign_forecasts
    ADD COLUMN horizon_hours integer CHECK (horizon_hours > 0),
    ADD COLUMN period_start timestamptz,
    ADD COLUMN period_end timestamptz,
    ADD COLUMN model_details jsonb,
    ADD COLUMN hourly_forecast jsonb,
    ADD COLUMN trigger text CHECK (trigger IN ('schedule', 'request')),
    -- Filled when scored: MASE per metric and their mean, which totals fell inside the
    -- 80% and 95% intervals, and how many of the period's hours were reported.
    ADD COLUMN mase jsonb,
    ADD COLUMN interval_hits jsonb,
    ADD COLUMN hours_observed integer,
    ADD COLUMN scored_at timestamptz;

-- A scheduled refresh makes one forecast per campaign, horizon and period, whichever
-- replica runs it.
CREATE UNIQUE INDEX ai_campaign_forecasts_scheduled
    ON ai_campaign_forecasts (tenant_id, campaign_id, horizon_hours, period_start)
    WHERE trigger = 'schedule';
-- Forecasts waiting for their period to pass.
CREATE INDEX ai_campaign_forecasts_unscored
    ON ai_campaign_forecasts (tenant_id, period_end) WHERE scored_at IS NULL;
