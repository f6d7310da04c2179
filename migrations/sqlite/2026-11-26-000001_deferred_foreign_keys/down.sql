-- Kept in step with migrations/postgres. SQLite inserts an order's rows one
-- after another, so its immediate foreign keys need no change.
SELECT 1;
