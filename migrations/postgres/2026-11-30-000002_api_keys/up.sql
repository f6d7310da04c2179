-- API keys: the secret is never stored, only its SHA-256.
CREATE TABLE api_keys (
    id           text        PRIMARY KEY,
    name         text        NOT NULL,
    -- space-separated scope names
    scopes       text        NOT NULL,
    secret_hash  bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);

-- One row once a first key was made: several processes starting together on
-- an empty database race to insert it, and exactly one wins.
CREATE TABLE api_key_bootstrap (
    done boolean PRIMARY KEY CHECK (done)
);
