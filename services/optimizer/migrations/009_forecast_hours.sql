-- A forecast's hours as a chart draws them: each hour's own 80% band beside the hourly
-- point (made with the forecast), and what each hour actually was (filled when scored).
ALTER TABLE ai_campaign_forecasts
    ADD COLUMN hourly_intervals jsonb,
    ADD COLUMN hourly_actual jsonb;
