-- Odoo's own IAP protocol. A database met through it is known by its `dbuuid`; its accounts by
-- the tokens it made itself (`uuid4().hex`, 32 characters) and by their SHA-1 (the hashed
-- "Buy credits" link). Service providers hold, capture and cancel with a key of their service.
ALTER TABLE databases
    ADD COLUMN dbuuid TEXT UNIQUE
        CHECK (dbuuid ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$');

ALTER TABLE iap_accounts DROP CONSTRAINT iap_accounts_token_check;
ALTER TABLE iap_accounts
    ADD CONSTRAINT iap_accounts_token_check CHECK (token ~ '^[A-Za-z0-9_-]{32,128}$'),
    -- Filled by the app for older rows at start (PostgreSQL has no built-in SHA-1).
    ADD COLUMN token_sha1 TEXT UNIQUE CHECK (token_sha1 ~ '^[0-9a-f]{40}$');

CREATE TABLE provider_keys (
    id BIGSERIAL PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
    name TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- SHA-256 of the key, hex: the key itself is shown once and kept nowhere.
    key_sha256 TEXT NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX provider_keys_by_service ON provider_keys (service_id);

-- The transaction token `/iap/1/authorize` answers, naming the hold it made.
CREATE TABLE iap_transactions (
    token TEXT PRIMARY KEY CHECK (length(token) >= 32),
    hold_id BIGINT NOT NULL UNIQUE REFERENCES holds (id) ON DELETE RESTRICT,
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    provider_key_id BIGINT NOT NULL REFERENCES provider_keys (id) ON DELETE RESTRICT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
