-- Orders, their lines, and the outbox of confirmation emails.
CREATE TABLE orders (
    id                 uuid        PRIMARY KEY,
    customer_name      text        NOT NULL,
    customer_email     text        NOT NULL,
    -- lower-cased in the application, so both databases compare alike
    customer_email_key text        NOT NULL,
    currency           text        NOT NULL,
    total_cents        bigint      NOT NULL CHECK (total_cents >= 0),
    status             text        NOT NULL CHECK (status IN ('pending', 'processing', 'shipped', 'delivered', 'cancelled')),
    version            bigint      NOT NULL CHECK (version >= 1),
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL
);

-- Newest-first keyset paging, unfiltered and under each filter.
CREATE INDEX orders_newest_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_status_newest_idx ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_customer_newest_idx ON orders (customer_email_key, created_at DESC, id DESC);

CREATE TABLE order_items (
    order_id         uuid    NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position         integer NOT NULL,
    sku              text    NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents BETWEEN 0 AND 100000000),
    line_total_cents bigint  NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, position)
);

-- One confirmation email per order. `available_at` is when it may next be
-- claimed: its due time while waiting, the end of the lease while claimed.
CREATE TABLE email_outbox (
    order_id     uuid        PRIMARY KEY REFERENCES orders (id) ON DELETE CASCADE,
    recipient    text        NOT NULL,
    subject      text        NOT NULL,
    body         text        NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts     integer     NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL,
    sent_at      timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL
);

-- Only waiting emails are indexed: the claim query stays fast however many
-- millions have been sent.
CREATE INDEX email_outbox_due_idx ON email_outbox (available_at) WHERE state = 'pending';
