ALTER TABLE order_items ALTER CONSTRAINT order_items_order_id_fkey NOT DEFERRABLE;
ALTER TABLE email_outbox ALTER CONSTRAINT email_outbox_order_id_fkey NOT DEFERRABLE;
