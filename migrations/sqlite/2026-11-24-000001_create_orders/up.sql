-- Same tables as migrations/postgres. Ids are hyphenated lower-case UUID text;
-- times are fixed-width RFC 3339 text with microseconds and `Z`, so text order
-- is time order.
CREATE TABLE orders (
    id                 TEXT    PRIMARY KEY NOT NULL,
    customer_name      TEXT    NOT NULL,
    customer_email     TEXT    NOT NULL,
    customer_email_key TEXT    NOT NULL,
    currency           TEXT    NOT NULL,
    total_cents        BIGINT  NOT NULL CHECK (total_cents >= 0),
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    version            BIGINT  NOT NULL CHECK (version >= 1),
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL
) WITHOUT ROWID;

CREATE INDEX orders_newest_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_newest_idx ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_customer_newest_idx ON orders (customer_email_key, created_at DESC, id DESC);

CREATE TABLE order_items (
    order_id         TEXT    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    sku              TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price_cents BIGINT  NOT NULL CHECK (unit_price_cents BETWEEN 0 AND 100000000),
    line_total_cents BIGINT  NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, position)
) WITHOUT ROWID;

CREATE TABLE email_outbox (
    order_id     TEXT    PRIMARY KEY NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    recipient    TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    available_at TEXT    NOT NULL,
    sent_at      TEXT,
    last_error   TEXT,
    created_at   TEXT    NOT NULL
) WITHOUT ROWID;

CREATE INDEX email_outbox_due_idx ON email_outbox (available_at) WHERE state = 'pending';
