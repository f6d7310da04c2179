-- The create transaction sends its inserts pipelined (together, in one round
-- trip); checking the foreign keys at commit makes their order irrelevant.
ALTER TABLE order_items ALTER CONSTRAINT order_items_order_id_fkey DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE email_outbox ALTER CONSTRAINT email_outbox_order_id_fkey DEFERRABLE INITIALLY DEFERRED;
