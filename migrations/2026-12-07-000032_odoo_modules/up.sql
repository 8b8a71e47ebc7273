-- Several accounts of one service per database, as the customer tells them apart: a label it
-- may edit (e.g. the company the account serves) and the one its own pages spend from.
ALTER TABLE iap_accounts
    ADD COLUMN label TEXT NOT NULL DEFAULT '' CHECK (length(label) <= 60),
    ADD COLUMN is_default BOOLEAN NOT NULL DEFAULT false;
CREATE UNIQUE INDEX iap_accounts_one_default
    ON iap_accounts (database_id, service_id) WHERE is_default;

-- Credits moved between two accounts of one database and service: a row on each side.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_kind_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_kind_check CHECK (kind IN (
    'purchase', 'trial', 'charge', 'hold', 'capture', 'release', 'expiry', 'adjustment', 'refund',
    'transfer'
));

-- Letters an Odoo database sent through /iap/snailmail/1/print, beside the in-app ones.
ALTER TABLE letters ADD COLUMN source TEXT NOT NULL DEFAULT 'app' CHECK (source IN ('app', 'odoo'));
