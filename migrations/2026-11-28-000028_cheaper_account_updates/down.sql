DROP TRIGGER iap_accounts_low_credit_alert ON iap_accounts;
CREATE TRIGGER iap_accounts_low_credit_alert
    BEFORE UPDATE ON iap_accounts
    FOR EACH ROW
    WHEN (NEW.warn_me OR OLD.low_credit_alerted)
    EXECUTE FUNCTION iap_accounts_low_credit_alert();

ALTER TABLE iap_accounts
    DROP CONSTRAINT iap_accounts_token_check,
    ADD CONSTRAINT iap_accounts_token_check CHECK (token ~ '^[A-Za-z0-9_-]{32,128}$'),
    DROP CONSTRAINT iap_accounts_token_sha1_check,
    ADD CONSTRAINT iap_accounts_token_sha1_check CHECK (token_sha1 ~ '^[0-9a-f]{40}$');
