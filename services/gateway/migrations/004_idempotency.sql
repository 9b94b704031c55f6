-- Idempotency keys: the first answer to each (tenant, Idempotency-Key), kept for a day so
-- that a client retrying a POST, PUT or PATCH gets that answer again instead of a second
-- change. A row is claimed (status_code NULL) before the request is forwarded, and filled
-- in with the answer once it is known; a claim whose request failed with a 5xx is removed
-- so the client may try again.
CREATE TABLE idempotency_keys (
    tenant_id uuid NOT NULL,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    -- SHA-256 of the method, the path with its query string, and the body bytes.
    request_hash bytea NOT NULL,
    method text NOT NULL,
    path text NOT NULL,
    -- Which gateway request holds the claim: only it may fill in or release the row.
    claim uuid NOT NULL,
    status_code integer,
    response_headers jsonb,
    response_body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
