-- A change the platform never answered is read back: 'applied' or 'failed' from what the
-- campaign holds, or 'unknown' while the platform cannot be read either. An unknown
-- change still counts as in flight, so nothing else is planned for that setting until
-- its outcome is known.
ALTER TABLE ai_optimization_history
    DROP CONSTRAINT ai_optimization_history_status_check,
    ADD CONSTRAINT ai_optimization_history_status_check
        CHECK (status IN ('pending', 'applied', 'failed', 'unknown'));

DROP INDEX ai_optimization_history_in_flight;
CREATE UNIQUE INDEX ai_optimization_history_in_flight
    ON ai_optimization_history (tenant_id, target_entity_id, setting)
    WHERE status IN ('pending', 'unknown');
DROP INDEX ai_optimization_history_pending;
CREATE INDEX ai_optimization_history_pending
    ON ai_optimization_history (next_attempt_at) WHERE status IN ('pending', 'unknown');
