-- Order events: each change to an order, written in the transaction of the
-- change (the create's statements are pipelined, so its foreign keys are
-- checked at commit).
CREATE TABLE order_events (
    id          uuid        PRIMARY KEY,
    order_id    uuid        NOT NULL REFERENCES orders (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    type        text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    -- the event as the timeline shows it and webhooks send it, written once
    payload     text        NOT NULL,
    api_key_id  text,
    request_id  text
);

CREATE INDEX order_events_timeline_idx ON order_events (order_id, occurred_at, id);

-- Where events are sent. A deleted endpoint stays, disabled, for the history
-- of its deliveries.
CREATE TABLE webhook_endpoints (
    id         uuid        PRIMARY KEY,
    url        text        NOT NULL,
    -- signs every delivery, so it is kept whole; shown only at creation
    secret     text        NOT NULL,
    enabled    boolean     NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    deleted_at timestamptz
);

CREATE TABLE webhook_subscriptions (
    event_type  text NOT NULL,
    endpoint_id uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    PRIMARY KEY (event_type, endpoint_id)
);

-- The webhook outbox: one row per event and subscribed endpoint, stored with
-- the event. `available_at` works as in email_outbox.
CREATE TABLE webhook_deliveries (
    id           uuid        PRIMARY KEY,
    event_id     uuid        NOT NULL REFERENCES order_events (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    endpoint_id  uuid        NOT NULL REFERENCES webhook_endpoints (id),
    order_id     uuid        NOT NULL,
    event_type   text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL,
    sent_at      timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, available_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_newest_idx ON webhook_deliveries (created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (order_id);
-- GET /deliveries lists emails newest first too.
CREATE INDEX email_outbox_newest_idx ON email_outbox (created_at DESC, order_id DESC);
