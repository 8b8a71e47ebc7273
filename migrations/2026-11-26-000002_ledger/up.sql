-- The credits ledger: one IAP account per (database, service) with its posted balance and the
-- credits reserved by active holds; an append-only ledger of every change; two-phase holds;
-- and stored results of idempotent requests. Amounts are BIGINT counts of 0.0001 credit.

CREATE TABLE iap_accounts (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
    token TEXT NOT NULL UNIQUE CHECK (length(token) >= 43),
    balance BIGINT NOT NULL DEFAULT 0,
    reserved BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (database_id, service_id),
    CONSTRAINT balance_not_negative CHECK (balance >= 0),
    CONSTRAINT reserved_not_negative CHECK (reserved >= 0),
    CONSTRAINT reserved_within_balance CHECK (reserved <= balance)
);

CREATE TABLE holds (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    amount BIGINT NOT NULL CHECK (amount > 0),
    captured BIGINT NOT NULL DEFAULT 0 CHECK (captured >= 0 AND captured <= amount),
    status TEXT NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'captured', 'cancelled', 'expired')),
    description TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    closed_at TIMESTAMPTZ,
    CHECK ((status = 'active') = (closed_at IS NULL))
);
CREATE INDEX holds_active_by_account ON holds (account_id) WHERE status = 'active';
CREATE INDEX holds_active_by_expiry ON holds (expires_at) WHERE status = 'active';

CREATE TABLE ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    kind TEXT NOT NULL CHECK (kind IN (
        'purchase', 'trial', 'charge', 'hold', 'capture', 'release', 'expiry', 'adjustment', 'refund'
    )),
    -- Change of the posted balance, and of the reserved credits.
    amount BIGINT NOT NULL,
    reserved_change BIGINT NOT NULL DEFAULT 0,
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reserved_after BIGINT NOT NULL CHECK (reserved_after >= 0 AND reserved_after <= balance_after),
    hold_id BIGINT REFERENCES holds (id),
    order_id BIGINT,
    -- Who or what caused it: "user:12", "api:account:3", "cli", "system:expiry", "order:7".
    actor TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account_id, id DESC);

-- The ledger is append-only, whatever the code does.
CREATE FUNCTION ledger_entries_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger entries are append-only: % is not allowed', TG_OP;
END
$$;
CREATE TRIGGER ledger_entries_no_update_or_delete
    BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_are_append_only();
CREATE TRIGGER ledger_entries_no_truncate
    BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_are_append_only();

-- The first result of a request made with an Idempotency-Key, replayed on retries.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request TEXT NOT NULL,
    response_status SMALLINT NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
