DROP INDEX iap_accounts_by_database_service;
ALTER TABLE iap_accounts ADD CONSTRAINT iap_accounts_database_id_service_id_key
    UNIQUE (database_id, service_id);
