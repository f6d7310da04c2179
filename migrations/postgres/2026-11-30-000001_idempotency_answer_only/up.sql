-- The stored answer is opaque to storage: the API always answers a replay
-- with the status of a create, so the HTTP status is no longer kept.
ALTER TABLE idempotency_keys DROP COLUMN status;
