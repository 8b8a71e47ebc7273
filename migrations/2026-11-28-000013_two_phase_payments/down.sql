DROP INDEX payment_attempts_started;
DROP INDEX payment_attempts_one_in_flight;
DELETE FROM payment_attempts WHERE status = 'started';
ALTER TABLE payment_attempts ADD COLUMN approved BOOLEAN;
UPDATE payment_attempts SET approved = (status IN ('approved', 'refunded'));
ALTER TABLE payment_attempts
    ALTER COLUMN approved SET NOT NULL,
    ALTER COLUMN message SET NOT NULL,
    DROP COLUMN status,
    DROP COLUMN idempotency_key,
    DROP COLUMN amount_minor,
    DROP COLUMN currency,
    DROP COLUMN reference,
    DROP COLUMN finished_at;
