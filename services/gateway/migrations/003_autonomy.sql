-- How far the optimizer may go on its own, per tenant, and the tenant's own safety limits.
--
-- The tenant-wide settings are the row with user_id = '*' (one per tenant, by the
-- UNIQUE (tenant_id, user_id) constraint); rows for real users keep their own preferences
-- and are not read for autonomy. `PUT /api/ai/preferences` writes the '*' row and, in the
-- same transaction, publishes preferences.updated for the optimizer, which keeps its own
-- copy (optimizer_tenant_settings).
--   observe   decide and log, change nothing
--   recommend every action waits for a person (the default)
--   act       apply within the safety limits, recommend what the limits forbid
-- safety_limits: the tenant's own limits as JSON (SafetyLimits), laid over the platform's
-- defaults; NULL means none of its own.
ALTER TABLE ai_user_preferences
    ADD COLUMN autonomy text NOT NULL DEFAULT 'recommend'
        CHECK (autonomy IN ('observe', 'recommend', 'act')),
    ADD COLUMN safety_limits jsonb;
