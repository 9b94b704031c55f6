-- Gateway: per-user automation preferences and the append-only audit trail.

CREATE TABLE ai_user_preferences (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    user_id text NOT NULL,
    automation_level text NOT NULL DEFAULT 'assisted' CHECK (automation_level IN ('manual', 'assisted', 'autonomous')),
    approval_threshold numeric(5, 2) DEFAULT 80 CHECK (approval_threshold BETWEEN 0 AND 100),
    notification_channels jsonb DEFAULT '[]',
    preferences jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id)
);
CREATE INDEX ai_user_preferences_page ON ai_user_preferences (tenant_id, created_at DESC, id DESC);

CREATE TABLE ai_audit_trail (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    actor_type text NOT NULL CHECK (actor_type IN ('user', 'service', 'system')),
    actor_id text NOT NULL,
    action text NOT NULL,
    resource_type text,
    resource_id text,
    before_state jsonb,
    after_state jsonb,
    event_id uuid UNIQUE,
    event_type text,
    request_id text,
    correlation_id uuid,
    causation_id uuid,
    ip_address inet,
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ai_audit_trail_page ON ai_audit_trail (tenant_id, created_at DESC, id DESC);
CREATE INDEX ai_audit_trail_correlation ON ai_audit_trail (tenant_id, correlation_id);

-- Append-only, whoever connects: history is never rewritten.
CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ai_audit_trail is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_trail_append_only BEFORE UPDATE OR DELETE ON ai_audit_trail
    FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only();
CREATE TRIGGER audit_trail_no_truncate BEFORE TRUNCATE ON ai_audit_trail
    FOR EACH STATEMENT EXECUTE FUNCTION audit_trail_append_only();
