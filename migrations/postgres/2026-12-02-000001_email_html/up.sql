-- The HTML part of the confirmation email, written with its text part when
-- the order is placed. NULL for emails queued before: they are sent text only.
ALTER TABLE email_outbox ADD COLUMN html_body text;
