-- Each decision type's scores say which calibrator turned its evidence into confidence
-- when they were calculated (the prior, Platt's fit or isotonic regression; see
-- services/decision/calibration.fit_type) and the verdict weight it was fitted on.
ALTER TABLE ai_performance_scores
    ADD COLUMN calibrator text CHECK (calibrator IN ('prior', 'platt', 'isotonic')),
    ADD COLUMN calibrator_outcomes double precision CHECK (calibrator_outcomes >= 0);
