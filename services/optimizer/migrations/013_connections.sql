-- Ad-platform connections (services/optimizer/connections/): the ad account a tenant
-- links, and the credentials the optimizer reaches it with.
--
-- A tenant has at most one connection; without one the optimizer uses the process-wide
-- connector (ADPILOT_CONNECTOR). `credentials` is AES-GCM ciphertext (nonce first) of
-- the credentials as JSON, sealed with the key `credentials_key_id` names
-- (shared/secrets.py); no route selects it.
CREATE TABLE ad_connections (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL UNIQUE,
    platform text NOT NULL CHECK (platform IN ('sandbox', 'google_ads', 'meta')),
    account_id text NOT NULL,
    time_zone text NOT NULL,
    currency text NOT NULL,
    credentials bytea,
    credentials_key_id text,
    status text NOT NULL DEFAULT 'ok'
        CHECK (status IN ('ok', 'auth_failed', 'rate_limited', 'disabled')),
    status_reason text,
    checked_at timestamptz,
    -- Metrics pulled from the platform (services/optimizer/connections/pull.py): the end
    -- of the last hour pulled, and when a replica last claimed the pull.
    metrics_pulled_until timestamptz,
    metrics_pull_claimed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CHECK ((credentials IS NULL) = (credentials_key_id IS NULL))
);
CREATE INDEX ad_connections_page ON ad_connections (tenant_id, created_at DESC, id DESC);

-- The platform's own id for the request that made a change (Meta's fbtrace_id, Google
-- Ads' request id), for the audit trail.
ALTER TABLE ai_optimization_history ADD COLUMN platform_request_id text;
