-- At most one low-credit alert per account per hour, whatever the settings do: turning Warn Me
-- or the threshold off and on again cannot make the outbox a mass mailer. A crossing within an
-- hour of the last alert leaves the account un-alerted, so the first debit after that hour
-- (still below the threshold) queues it.
CREATE OR REPLACE FUNCTION iap_accounts_low_credit_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.warn_me OR NEW.balance - NEW.reserved >= NEW.threshold THEN
        NEW.low_credit_alerted := FALSE;
    ELSIF NOT NEW.low_credit_alerted THEN
        IF EXISTS (
            SELECT 1 FROM email_outbox
            WHERE account_id = NEW.id AND kind = 'low_credit' AND status = 'pending'
        ) THEN
            -- An alert still waits: it covers this crossing.
            NEW.low_credit_alerted := TRUE;
        ELSIF NOT EXISTS (
            SELECT 1 FROM email_outbox
            WHERE account_id = NEW.id AND kind = 'low_credit' AND status IN ('sent', 'failed')
              AND closed_at > now() - interval '1 hour'
        ) THEN
            NEW.low_credit_alerted := TRUE;
            INSERT INTO email_outbox (kind, database_id, account_id)
            VALUES ('low_credit', NEW.database_id, NEW.id);
        END IF;
    END IF;
    RETURN NEW;
END
$$;
