DROP TABLE idempotency_keys;
DROP TABLE ledger_entries;
DROP FUNCTION ledger_entries_are_append_only();
DROP TABLE holds;
DROP TABLE iap_accounts;
