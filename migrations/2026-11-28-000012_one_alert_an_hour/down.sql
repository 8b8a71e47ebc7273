CREATE OR REPLACE FUNCTION iap_accounts_low_credit_alert() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.warn_me OR NEW.balance - NEW.reserved >= NEW.threshold THEN
        NEW.low_credit_alerted := FALSE;
    ELSIF NOT NEW.low_credit_alerted THEN
        NEW.low_credit_alerted := TRUE;
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
