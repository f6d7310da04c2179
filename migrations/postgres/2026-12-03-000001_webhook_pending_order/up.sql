-- What a webhook claim asks of each delivery it could take: is an earlier
-- event of the same order still waiting for the same endpoint? Without this
-- index, PostgreSQL without statistics on the table (a database that grew
-- since its last ANALYZE) read every pending delivery of the endpoint for
-- each candidate: 14 ms a claim at 12,000 waiting, against 0.3 ms with it.
CREATE INDEX webhook_deliveries_pending_order_idx ON webhook_deliveries (order_id, endpoint_id)
    WHERE state = 'pending';
