-- The SQL the service runs per created order, as one transaction: the order,
-- its two items and its confirmation email. The service stores the email
-- already claimed by its own dispatcher (attempt 1, leased for 60 s), so it
-- sends no NOTIFY; only an email its dispatcher has no room for is queued
-- for others with a NOTIFY. Ids are time-ordered like the service's UUIDv7s.
BEGIN;
SELECT (lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
        || '7' || substr(md5(random()::text), 1, 19))::uuid AS id, clock_timestamp() AS now \gset
INSERT INTO orders (id, customer_name, customer_email, customer_email_key, currency, total_cents, status, version, created_at, updated_at)
    VALUES (:id, 'Ada Lovelace', 'ada@example.com', 'ada@example.com', 'EUR', 3449, 'pending', 1, :now, :now);
INSERT INTO order_items (order_id, position, sku, quantity, unit_price_cents, line_total_cents)
    VALUES (:id, 0, 'BOOK-001', 2, 1250, 2500), (:id, 1, 'PEN-7', 1, 949, 949);
-- The email's text and HTML parts are about 0.3 and 2.8 KB for two lines.
INSERT INTO email_outbox (order_id, recipient, subject, body, html_body, state, attempts, available_at, created_at)
    VALUES (:id, 'ada@example.com', 'Order confirmed', repeat('t', 340), repeat('h', 2800), 'pending', 1,
            :now::timestamptz + interval '60 seconds', :now);
COMMIT;
