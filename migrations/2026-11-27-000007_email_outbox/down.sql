DROP TRIGGER iap_accounts_low_credit_alert ON iap_accounts;
DROP FUNCTION iap_accounts_low_credit_alert();
ALTER TABLE iap_accounts DROP COLUMN low_credit_alerted;
DROP TABLE email_outbox;
