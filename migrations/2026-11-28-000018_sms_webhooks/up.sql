-- Delivery reports owed to the webhook of the Odoo database that sent a message: an outbox on
-- the messages themselves. A report is claimed (webhook_next_at moved a lease ahead), POSTed,
-- then marked reported; a failed POST is tried again with a growing delay, for about a day.
ALTER TABLE sms_messages
    ADD COLUMN webhook_attempts INT NOT NULL DEFAULT 0,
    ADD COLUMN webhook_next_at TIMESTAMPTZ,
    ADD COLUMN webhook_reported_at TIMESTAMPTZ,
    ADD COLUMN webhook_error TEXT;
CREATE INDEX sms_messages_webhook_due ON sms_messages (webhook_next_at)
    WHERE webhook_url IS NOT NULL AND webhook_reported_at IS NULL;
