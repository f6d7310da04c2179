DROP TABLE email_outbox;
DROP TABLE order_items;
DROP TABLE orders;
