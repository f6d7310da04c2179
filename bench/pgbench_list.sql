-- The SQL behind GET /orders?limit=50: the newest page with each order's
-- email state (one row more, to know whether a next page exists), then the
-- items of those orders (the service passes the ids as an array: = ANY($1)).
SELECT o.id, o.customer_name, o.customer_email, o.customer_email_key, o.currency, o.total_cents, o.status,
       o.version, o.created_at, o.updated_at, e.state, e.attempts, e.sent_at, e.last_error
    FROM orders o JOIN email_outbox e ON e.order_id = o.id
    ORDER BY o.created_at DESC, o.id DESC LIMIT 51;
SELECT order_id, position, sku, quantity, unit_price_cents, line_total_cents
    FROM order_items
    WHERE order_id = ANY(ARRAY(SELECT id FROM orders ORDER BY created_at DESC, id DESC LIMIT 51))
    ORDER BY order_id, position;
