-- Tenants and API keys. Keys are stored as SHA-256 hashes: they are long random secrets,
-- so a slow password hash buys nothing, and lookups stay one index probe.

CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id),
    name text NOT NULL,
    role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    prefix text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_keys_page ON api_keys (tenant_id, created_at DESC, id DESC);

-- The trail is history: the gateway's role may read and add rows, never change them.
COMMENT ON TABLE ai_audit_trail IS 'append-only';
ALTER TABLE ai_audit_trail ADD COLUMN principal_id text, ADD COLUMN status_code integer;
