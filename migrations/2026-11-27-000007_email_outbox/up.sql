-- Email outbox: low-credit alerts and order receipts are written here in the same transaction
-- as the change that causes them (a debit, a paid order), and a worker sends them later. So a
-- crash or an SMTP outage cannot lose one, and a rolled-back debit never sends one.

CREATE TABLE email_outbox (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('low_credit', 'receipt')),
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    account_id BIGINT REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    order_id BIGINT REFERENCES orders (id) ON DELETE RESTRICT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The last failure (while pending or failed), or why it was cancelled.
    last_error TEXT,
    -- What was handed to the SMTP server, recorded when it was.
    recipients TEXT,
    subject TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at TIMESTAMPTZ,
    CHECK ((status = 'pending') = (closed_at IS NULL)),
    CHECK ((status = 'sent') = (recipients IS NOT NULL)),
    CHECK (CASE kind
        WHEN 'low_credit' THEN account_id IS NOT NULL AND order_id IS NULL
        WHEN 'receipt' THEN order_id IS NOT NULL
    END)
);
CREATE INDEX email_outbox_due ON email_outbox (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX email_outbox_by_account ON email_outbox (account_id, id) WHERE account_id IS NOT NULL;
CREATE INDEX email_outbox_failed ON email_outbox (id) WHERE status = 'failed';
CREATE UNIQUE INDEX email_outbox_one_receipt_per_order ON email_outbox (order_id) WHERE kind = 'receipt';

-- Whether the current stay below the threshold has had its alert: set when one is queued,
-- cleared (re-armed) when the available credits are back at or above the threshold, or when
-- Warn Me is turned off.
ALTER TABLE iap_accounts ADD COLUMN low_credit_alerted BOOLEAN NOT NULL DEFAULT FALSE;

-- One alert per crossing, whatever path changed the account (charges, batched charges, holds,
-- captures, adjustments, settings): the account row is locked by the UPDATE, so concurrent
-- debits that cross together still queue a single alert.
CREATE FUNCTION iap_accounts_low_credit_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.warn_me OR NEW.balance - NEW.reserved >= NEW.threshold THEN
        NEW.low_credit_alerted := FALSE;
    ELSIF NOT NEW.low_credit_alerted THEN
        NEW.low_credit_alerted := TRUE;
        -- Turning Warn Me off and on again while an alert still waits does not queue another.
        IF NOT EXISTS (
            SELECT 1 FROM email_outbox
            WHERE account_id = NEW.id AND kind = 'low_credit' AND status = 'pending'
        ) THEN
            INSERT INTO email_outbox (kind, database_id, account_id)
            VALUES ('low_credit', NEW.database_id, NEW.id);
        END IF;
    END IF;
    RETURN NEW;
END
$$;

-- Accounts without Warn Me (the great majority of charges) skip the function entirely.
CREATE TRIGGER iap_accounts_low_credit_alert
    BEFORE UPDATE ON iap_accounts
    FOR EACH ROW
    WHEN (NEW.warn_me OR OLD.low_credit_alerted)
    EXECUTE FUNCTION iap_accounts_low_credit_alert();
