DROP TRIGGER iap_accounts_below_threshold ON iap_accounts;
DROP FUNCTION iap_accounts_below_threshold();
ALTER TABLE iap_accounts DROP COLUMN below_threshold_since;
