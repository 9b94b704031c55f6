-- The tenant's industry (services/optimizer/benchmarks/): set with
-- `PUT /api/ai/preferences` on the tenant-wide row (user_id = '*') and sent to the
-- optimizer in preferences.updated. NULL: none set. The values are the Industry literal of
-- shared/contracts/benchmarks.py.
ALTER TABLE ai_user_preferences ADD COLUMN industry text;
