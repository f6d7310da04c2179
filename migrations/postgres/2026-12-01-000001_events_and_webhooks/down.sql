DROP INDEX email_outbox_newest_idx;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_subscriptions;
DROP TABLE webhook_endpoints;
DROP TABLE order_events;
