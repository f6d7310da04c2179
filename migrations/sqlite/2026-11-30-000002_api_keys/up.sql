-- Same tables as migrations/postgres.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    secret_hash  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
) WITHOUT ROWID;

CREATE TABLE api_key_bootstrap (
    done INTEGER PRIMARY KEY NOT NULL CHECK (done = 1)
);
