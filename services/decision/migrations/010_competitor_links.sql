-- The competitor events the alerts service linked to an incident (its evidence's
-- explanation): a decision's rationale names them.

ALTER TABLE alert_view ADD COLUMN competitors jsonb NOT NULL DEFAULT '[]'::jsonb;
