-- Payments in two phases: an attempt is recorded (status 'started', with the idempotency key the
-- provider is called with) and committed before the provider is called; its outcome is written
-- in a second transaction that also credits the pack. A crash in between leaves it 'started',
-- and the reconciler asks the provider what became of that key.
ALTER TABLE payment_attempts
    ADD COLUMN status TEXT NOT NULL DEFAULT 'started'
        CHECK (status IN ('started', 'approved', 'declined', 'failed', 'refunded')),
    ADD COLUMN idempotency_key TEXT,
    ADD COLUMN amount_minor BIGINT CHECK (amount_minor >= 0),
    ADD COLUMN currency TEXT CHECK (currency ~ '^[A-Z]{3}$'),
    ADD COLUMN reference TEXT,
    ADD COLUMN finished_at TIMESTAMPTZ,
    ALTER COLUMN message DROP NOT NULL;
UPDATE payment_attempts
SET status = CASE WHEN approved THEN 'approved' ELSE 'declined' END,
    idempotency_key = 'legacy-' || id,
    finished_at = created_at;
UPDATE payment_attempts a
SET amount_minor = o.price_minor, currency = o.currency
FROM orders o WHERE o.id = a.order_id;
ALTER TABLE payment_attempts
    DROP COLUMN approved,
    ALTER COLUMN idempotency_key SET NOT NULL,
    ALTER COLUMN amount_minor SET NOT NULL,
    ALTER COLUMN currency SET NOT NULL,
    ADD CONSTRAINT payment_attempts_idempotency_key_key UNIQUE (idempotency_key),
    ADD CHECK ((status = 'started') = (finished_at IS NULL)),
    ADD CHECK ((status = 'started') = (message IS NULL));
-- One attempt in flight per order: a second tab waits for it instead of charging again.
CREATE UNIQUE INDEX payment_attempts_one_in_flight ON payment_attempts (order_id)
    WHERE status = 'started';
CREATE INDEX payment_attempts_started ON payment_attempts (created_at) WHERE status = 'started';
