-- Copies of others' facts only move forward: an event that arrives late must not undo a
-- newer one. And the data hour a decision was made for gets a typed column of its own.

ALTER TABLE alert_view ADD COLUMN source_updated_at timestamptz;

ALTER TABLE ai_decision_logs ADD COLUMN as_of timestamptz;
UPDATE ai_decision_logs SET as_of = (context_data ->> 'as_of')::timestamptz
WHERE cycle_id IS NOT NULL AND context_data ->> 'as_of' ~ '^\d{4}-\d{2}-\d{2}T';
DROP INDEX ai_decision_logs_campaign;
CREATE INDEX ai_decision_logs_repeat_guard
    ON ai_decision_logs (tenant_id, as_of, (context_data ->> 'campaign_id'), action_taken)
    WHERE as_of IS NOT NULL;
