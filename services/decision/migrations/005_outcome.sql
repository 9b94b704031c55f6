-- What became of a decision on the ad platform, as the optimizer reports it: applied
-- (with before, after and any clamping), failed, waiting for a person, or not carried out.
-- ``action_taken`` stays the action decided: cycles compare new decisions with it.
ALTER TABLE ai_decision_logs
    ADD COLUMN outcome jsonb,
    ADD COLUMN outcome_at timestamptz;
