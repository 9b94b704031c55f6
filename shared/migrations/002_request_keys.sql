-- Writes carried out once per Idempotency-Key (shared/once.py): the key is recorded in the
-- transaction that makes the write, with the answer the write got, so a copy of the request
-- sent after its first answer was lost is answered from here instead of writing again.
CREATE TABLE request_keys (
    tenant_id uuid NOT NULL,
    key text NOT NULL,
    status smallint,
    body bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);
CREATE INDEX request_keys_created ON request_keys (created_at);
