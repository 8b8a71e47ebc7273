ALTER TABLE letters DROP COLUMN source;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (
    'purchase', 'trial', 'charge', 'hold', 'capture', 'release', 'expiry', 'adjustment', 'refund'
));
DROP INDEX iap_accounts_one_default;
ALTER TABLE iap_accounts DROP COLUMN is_default, DROP COLUMN label;
