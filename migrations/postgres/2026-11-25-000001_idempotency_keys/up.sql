-- Idempotency keys of POST /orders: the first answer, repeated to retries
-- until the key expires. Taken in the same transaction as the order; the
-- primary key serialises concurrent requests with one key.
CREATE TABLE idempotency_keys (
    key          text        PRIMARY KEY,
    -- SHA-256 of the request body as a canonical JSON value
    fingerprint  text        NOT NULL,
    order_id     uuid        NOT NULL,
    status       integer     NOT NULL,
    response     text        NOT NULL,
    created_at   timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- Purging expired keys walks this index, never the table.
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
