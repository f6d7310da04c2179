-- Same tables as migrations/postgres.
CREATE TABLE order_events (
    id          TEXT PRIMARY KEY NOT NULL,
    order_id    TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    payload     TEXT NOT NULL,
    api_key_id  TEXT,
    request_id  TEXT
) WITHOUT ROWID;

CREATE INDEX order_events_timeline_idx ON order_events (order_id, occurred_at, id);

CREATE TABLE webhook_endpoints (
    id         TEXT    PRIMARY KEY NOT NULL,
    url        TEXT    NOT NULL,
    secret     TEXT    NOT NULL,
    enabled    BOOLEAN NOT NULL,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL,
    deleted_at TEXT
) WITHOUT ROWID;

CREATE TABLE webhook_subscriptions (
    event_type  TEXT NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    PRIMARY KEY (event_type, endpoint_id)
) WITHOUT ROWID;

CREATE TABLE webhook_deliveries (
    id           TEXT    PRIMARY KEY NOT NULL,
    event_id     TEXT    NOT NULL REFERENCES order_events (id) ON DELETE CASCADE,
    endpoint_id  TEXT    NOT NULL REFERENCES webhook_endpoints (id),
    order_id     TEXT    NOT NULL,
    event_type   TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at TEXT    NOT NULL,
    sent_at      TEXT,
    last_error   TEXT,
    created_at   TEXT    NOT NULL
) WITHOUT ROWID;

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, available_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_newest_idx ON webhook_deliveries (created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (order_id);
CREATE INDEX email_outbox_newest_idx ON email_outbox (created_at DESC, order_id DESC);
