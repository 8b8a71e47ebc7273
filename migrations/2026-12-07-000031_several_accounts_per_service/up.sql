-- Several IAP accounts per (database, service): Odoo sends one token per company, and a new one
-- when an administrator deletes the IAP account. A new token never locks out another; the
-- database's own pages use its first account of the service (the oldest). A trial is granted
-- to that first account only.
ALTER TABLE iap_accounts DROP CONSTRAINT iap_accounts_database_id_service_id_key;
CREATE INDEX iap_accounts_by_database_service ON iap_accounts (database_id, service_id, id);
