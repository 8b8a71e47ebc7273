DROP TABLE failed_sign_ins;
ALTER TABLE iap_accounts DROP COLUMN warn_me, DROP COLUMN threshold, DROP COLUMN warning_email;
