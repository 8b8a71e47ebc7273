-- When an account went below its threshold (NULL while it is not below one), kept by a trigger
-- that runs only when an account crosses it. The operator's dashboard lists the accounts below
-- their threshold, latest first, from the partial index alone, whatever the number of accounts
-- (it read all of them: 60 ms at 300,000). The index changes only on a crossing, so a charge
-- that crosses nothing stays a HOT update.
ALTER TABLE iap_accounts ADD COLUMN below_threshold_since TIMESTAMPTZ;
UPDATE iap_accounts SET below_threshold_since = updated_at
    WHERE threshold > 0 AND balance - reserved < threshold;
CREATE INDEX iap_accounts_below_threshold ON iap_accounts (below_threshold_since DESC, id DESC)
    WHERE below_threshold_since IS NOT NULL;

CREATE FUNCTION iap_accounts_below_threshold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.below_threshold_since := CASE
        WHEN NEW.threshold > 0 AND NEW.balance - NEW.reserved < NEW.threshold THEN now()
    END;
    RETURN NEW;
END
$$;

CREATE TRIGGER iap_accounts_below_threshold
    BEFORE INSERT OR UPDATE OF balance, reserved, threshold ON iap_accounts
    FOR EACH ROW
    WHEN ((NEW.threshold > 0 AND NEW.balance - NEW.reserved < NEW.threshold)
          <> (NEW.below_threshold_since IS NOT NULL))
    EXECUTE FUNCTION iap_accounts_below_threshold();
