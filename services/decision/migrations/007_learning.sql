-- Learning: when a decision was judged, and scores per period, decision type, model
-- version and cohort (decisions carried out, and those never carried out, kept apart).

ALTER TABLE ai_decision_logs ADD COLUMN validated_at timestamptz;
-- Decisions still waiting for their horizon to pass (measured ones carry actual_impact).
CREATE INDEX ai_decision_logs_due ON ai_decision_logs (tenant_id, as_of)
    WHERE validation_status = 'pending' AND actual_impact IS NULL AND as_of IS NOT NULL;

-- Brier scores and calibration errors live in [0, 1] and need more than two decimals;
-- summed profit effects need more than three digits.
ALTER TABLE ai_performance_scores
    ALTER COLUMN score_value TYPE double precision,
    ALTER COLUMN benchmark_comparison TYPE double precision,
    ADD COLUMN period_start timestamptz,
    ADD COLUMN decision_type text,
    ADD COLUMN model_version text,
    ADD COLUMN cohort text CHECK (cohort IN ('all', 'applied', 'not_applied')),
    ADD COLUMN sample_size double precision,
    ADD COLUMN details jsonb;
-- One row per score of a group in a period; recomputing the period replaces it.
CREATE UNIQUE INDEX ai_performance_scores_group ON ai_performance_scores (
    tenant_id, metric_type, measurement_period, period_start,
    coalesce(decision_type, ''), coalesce(model_version, ''), coalesce(cohort, ''))
    WHERE period_start IS NOT NULL;

-- Each cycle refits every decision type's confidence on its judged decisions.
CREATE INDEX ai_decision_logs_judged ON ai_decision_logs (tenant_id, decision_type)
    WHERE validation_status IN ('validated', 'incorrect');
