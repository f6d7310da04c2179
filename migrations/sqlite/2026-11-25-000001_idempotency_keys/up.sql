-- Same table as migrations/postgres.
CREATE TABLE idempotency_keys (
    key          TEXT    PRIMARY KEY NOT NULL,
    fingerprint  TEXT    NOT NULL,
    order_id     TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT    NOT NULL,
    created_at   TEXT    NOT NULL,
    expires_at   TEXT    NOT NULL
) WITHOUT ROWID;

CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
