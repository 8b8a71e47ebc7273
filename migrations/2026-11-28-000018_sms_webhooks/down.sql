DROP INDEX sms_messages_webhook_due;
ALTER TABLE sms_messages
    DROP COLUMN webhook_error,
    DROP COLUMN webhook_reported_at,
    DROP COLUMN webhook_next_at,
    DROP COLUMN webhook_attempts;
