-- Orders of credit packs and their payment attempts. An order snapshots its pack; a paid
-- order has exactly one purchase row in the ledger, which a unique index guarantees.

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    pack_id BIGINT NOT NULL REFERENCES packs (id) ON DELETE RESTRICT,
    pack_name TEXT NOT NULL,
    credits BIGINT NOT NULL CHECK (credits > 0),
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'paid', 'expired', 'refunded', 'partly_refunded')),
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    payment_reference TEXT,
    card_last4 TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,
    paid_at TIMESTAMPTZ,
    CHECK ((status IN ('pending', 'expired')) = (paid_at IS NULL))
);
CREATE INDEX orders_by_database ON orders (database_id, id DESC);
CREATE INDEX orders_pending_by_expiry ON orders (expires_at) WHERE status = 'pending';

CREATE TABLE payment_attempts (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE RESTRICT,
    approved BOOLEAN NOT NULL,
    message TEXT NOT NULL,
    card_last4 TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX payment_attempts_by_order ON payment_attempts (order_id);

ALTER TABLE ledger_entries
    ADD CONSTRAINT ledger_entries_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id);
CREATE UNIQUE INDEX ledger_entries_one_purchase_per_order
    ON ledger_entries (order_id) WHERE kind = 'purchase';
