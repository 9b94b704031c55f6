-- A person approves or rejects a recommendation; when, and the last change, are kept.
ALTER TABLE ai_recommendations
    ADD COLUMN decided_at timestamptz,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
