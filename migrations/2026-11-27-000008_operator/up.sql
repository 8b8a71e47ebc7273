-- The IAP operator's tools: refunds of paid orders, and the audit log of every operator action.

CREATE TABLE refunds (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE RESTRICT,
    -- The `refund` ledger row that took the credits back.
    ledger_entry_id BIGINT NOT NULL UNIQUE REFERENCES ledger_entries (id) ON DELETE RESTRICT,
    credits BIGINT NOT NULL CHECK (credits > 0),
    -- The money returned, in the order's currency.
    amount_minor BIGINT NOT NULL CHECK (amount_minor >= 0),
    currency TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    provider_reference TEXT NOT NULL,
    refunded_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    reason TEXT NOT NULL CHECK (btrim(reason) <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX refunds_by_order ON refunds (order_id);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    operator_id BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- Kept as it was, so the entry still says who after the user is gone.
    operator_email TEXT NOT NULL,
    -- What was done: "order.refund", "account.adjust", "service.update", "pack.create", …
    action TEXT NOT NULL,
    -- What it was done to: "order:12", "account:3", "service:7", "pack:9", "sms_price:FR".
    subject TEXT NOT NULL,
    database_id BIGINT REFERENCES databases (id) ON DELETE SET NULL,
    reason TEXT,
    before JSONB,
    after JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_by_action ON audit_log (action, id DESC);
CREATE INDEX audit_log_by_subject ON audit_log (subject, id DESC);
CREATE INDEX audit_log_by_operator ON audit_log (operator_email, id DESC);

CREATE FUNCTION rows_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION rows_are_append_only();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION rows_are_append_only();

-- The dashboard's period sums. The ledger only grows in time order, so a BRIN index is enough
-- and costs next to nothing on the charge path.
CREATE INDEX ledger_entries_by_time ON ledger_entries USING brin (created_at);
CREATE INDEX orders_by_paid_at ON orders (paid_at) WHERE paid_at IS NOT NULL;
CREATE INDEX ledger_entries_refunds_by_order ON ledger_entries (order_id) WHERE kind = 'refund';
