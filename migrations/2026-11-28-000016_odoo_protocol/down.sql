DROP TABLE iap_transactions;
DROP TABLE provider_keys;
ALTER TABLE iap_accounts DROP COLUMN token_sha1;
ALTER TABLE iap_accounts DROP CONSTRAINT iap_accounts_token_check;
ALTER TABLE iap_accounts ADD CONSTRAINT iap_accounts_token_check CHECK (length(token) >= 43);
ALTER TABLE databases DROP COLUMN dbuuid;
