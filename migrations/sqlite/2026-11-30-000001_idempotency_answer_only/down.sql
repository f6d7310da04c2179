ALTER TABLE idempotency_keys ADD COLUMN status integer NOT NULL DEFAULT 201;
