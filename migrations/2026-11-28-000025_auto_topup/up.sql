-- Saved cards and automatic top-ups.
--
-- A saved card is the payment provider's token for it (never its number): the last 4 digits
-- and the expiry are kept to show it. An automatic top-up is an order created by the database,
-- in the transaction of the debit that takes the account below its trigger, and paid later by
-- a worker with the saved card (no transaction waits on the provider).

CREATE TABLE payment_methods (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    provider_token TEXT NOT NULL UNIQUE,
    brand TEXT NOT NULL,
    last4 TEXT NOT NULL CHECK (last4 ~ '^[0-9]{4}$'),
    expiry_month SMALLINT NOT NULL CHECK (expiry_month BETWEEN 1 AND 12),
    expiry_year SMALLINT NOT NULL CHECK (expiry_year BETWEEN 2000 AND 2200),
    holder TEXT NOT NULL,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX payment_methods_by_database ON payment_methods (database_id, id);

CREATE TABLE auto_topups (
    account_id BIGINT PRIMARY KEY REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    enabled BOOLEAN NOT NULL DEFAULT FALSE,
    -- A top-up is ordered when the available credits fall below this (units of 0.0001).
    below BIGINT NOT NULL CHECK (below > 0),
    pack_id BIGINT NOT NULL REFERENCES packs (id) ON DELETE RESTRICT,
    -- At most this many top-ups, or this amount (in the pack's currency), per calendar month.
    cap_count INTEGER CHECK (cap_count > 0),
    cap_amount_minor BIGINT CHECK (cap_amount_minor > 0),
    payment_method_id BIGINT REFERENCES payment_methods (id) ON DELETE RESTRICT,
    declines_in_row INTEGER NOT NULL DEFAULT 0 CHECK (declines_in_row >= 0),
    -- Why it switched itself off ('cap', 'declined', 'card_removed', 'pack_withdrawn'), and when.
    stopped_reason TEXT CHECK (stopped_reason IN ('cap', 'declined', 'card_removed', 'pack_withdrawn')),
    stopped_at TIMESTAMPTZ,
    updated_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((cap_count IS NULL) <> (cap_amount_minor IS NULL)),
    CHECK (NOT enabled OR payment_method_id IS NOT NULL),
    CHECK ((stopped_reason IS NULL) = (stopped_at IS NULL))
);
CREATE INDEX auto_topups_by_card ON auto_topups (payment_method_id);

-- Orders: automatic ones carry their card and when the worker should (re)try to pay them. A
-- top-up declined three times in a row is 'declined' (nothing was charged).
ALTER TABLE orders
    ADD COLUMN auto_topup BOOLEAN NOT NULL DEFAULT FALSE,
    ADD COLUMN payment_method_id BIGINT REFERENCES payment_methods (id) ON DELETE SET NULL,
    ADD COLUMN next_attempt_at TIMESTAMPTZ,
    DROP CONSTRAINT orders_status_check,
    DROP CONSTRAINT orders_check,
    ADD CONSTRAINT orders_status_check
        CHECK (status IN ('pending', 'paid', 'expired', 'declined', 'refunded', 'partly_refunded')),
    ADD CONSTRAINT orders_paid_at_check
        CHECK ((status IN ('pending', 'expired', 'declined')) = (paid_at IS NULL)),
    ADD CONSTRAINT orders_auto_topup_check CHECK (auto_topup OR next_attempt_at IS NULL);
-- One top-up in flight per account: a pending one covers any further crossing.
CREATE UNIQUE INDEX orders_one_pending_auto_topup ON orders (account_id)
    WHERE auto_topup AND status = 'pending';
CREATE INDEX orders_auto_topup_due ON orders (next_attempt_at)
    WHERE auto_topup AND status = 'pending';
CREATE INDEX orders_auto_topup_by_month ON orders (account_id, created_at) WHERE auto_topup;

-- Emails about automatic top-ups, to the database's administrators.
ALTER TABLE email_outbox
    DROP CONSTRAINT email_outbox_kind_check,
    DROP CONSTRAINT email_outbox_check2,
    ADD CONSTRAINT email_outbox_kind_check
        CHECK (kind IN ('low_credit', 'receipt', 'auto_topup_declined', 'auto_topup_stopped')),
    ADD CONSTRAINT email_outbox_kind_fields_check CHECK (CASE kind
        WHEN 'low_credit' THEN account_id IS NOT NULL AND order_id IS NULL
        WHEN 'receipt' THEN order_id IS NOT NULL
        WHEN 'auto_topup_declined' THEN account_id IS NOT NULL AND order_id IS NOT NULL
        WHEN 'auto_topup_stopped' THEN account_id IS NOT NULL
    END);

-- Switches an account's automatic top-up off, says why by email, and answers nothing.
CREATE FUNCTION auto_topup_stop(p_account_id BIGINT, p_reason TEXT, p_order_id BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_database_id BIGINT;
BEGIN
    UPDATE auto_topups
    SET enabled = FALSE, stopped_reason = p_reason, stopped_at = now(), updated_at = now()
    WHERE account_id = p_account_id AND enabled
    RETURNING database_id INTO v_database_id;
    IF FOUND THEN
        INSERT INTO email_outbox (kind, database_id, account_id, order_id)
        VALUES ('auto_topup_stopped', v_database_id, p_account_id, p_order_id);
    END IF;
END
$$;

-- Tells the admins that the account's top-up `p_order_id` was declined (it is tried again).
CREATE FUNCTION auto_topup_declined(p_account_id BIGINT, p_order_id BIGINT)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO email_outbox (kind, database_id, account_id, order_id)
    SELECT 'auto_topup_declined', database_id, p_account_id, p_order_id
    FROM auto_topups WHERE account_id = p_account_id;
END
$$;

-- Orders the account's top-up if it is on, none is in flight, its pack is on sale and the
-- month's cap allows it; reaching the cap (or a withdrawn pack) switches it off instead. The
-- caller holds the account's row lock, so concurrent debits take their turn here.
CREATE FUNCTION auto_topup_order(p_account_id BIGINT) RETURNS BIGINT
LANGUAGE plpgsql AS $$
DECLARE
    s auto_topups%ROWTYPE;
    p packs%ROWTYPE;
    v_service_id BIGINT;
    v_month_start TIMESTAMPTZ := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    v_count INTEGER;
    v_amount BIGINT;
    v_order_id BIGINT;
BEGIN
    SELECT * INTO s FROM auto_topups WHERE account_id = p_account_id AND enabled;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM orders
               WHERE account_id = p_account_id AND auto_topup AND status = 'pending') THEN
        RETURN NULL;
    END IF;
    SELECT service_id INTO v_service_id FROM iap_accounts WHERE id = p_account_id;
    SELECT * INTO p FROM packs WHERE id = s.pack_id AND service_id = v_service_id AND active;
    IF NOT FOUND THEN
        PERFORM auto_topup_stop(p_account_id, 'pack_withdrawn', NULL);
        RETURN NULL;
    END IF;
    SELECT count(*), coalesce(sum(price_minor), 0) INTO v_count, v_amount
    FROM orders
    WHERE account_id = p_account_id AND auto_topup AND created_at >= v_month_start
      AND status NOT IN ('expired', 'declined');
    IF v_count >= s.cap_count OR v_amount + p.price_minor > s.cap_amount_minor THEN
        PERFORM auto_topup_stop(p_account_id, 'cap', NULL);
        RETURN NULL;
    END IF;
    INSERT INTO orders (database_id, account_id, pack_id, pack_name, credits, price_minor,
                        currency, expires_at, auto_topup, payment_method_id, next_attempt_at)
    VALUES (s.database_id, p_account_id, p.id, p.name, p.credits, p.price_minor, p.currency,
            now() + interval '1 day', TRUE, s.payment_method_id, now())
    ON CONFLICT (account_id) WHERE auto_topup AND status = 'pending' DO NOTHING
    RETURNING id INTO v_order_id;
    RETURN v_order_id;
END
$$;

-- The account's trigger level while its top-up is on (NULL while off), mirrored from
-- auto_topups by the database: the debit trigger's WHEN reads it on the row itself, so a debit
-- that crosses nothing calls no function at all.
ALTER TABLE iap_accounts ADD COLUMN auto_topup_below BIGINT;

CREATE FUNCTION auto_topups_mirror() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_below BIGINT := CASE WHEN NEW.enabled THEN NEW.below END;
BEGIN
    UPDATE iap_accounts SET auto_topup_below = v_below
    WHERE id = NEW.account_id AND auto_topup_below IS DISTINCT FROM v_below;
    RETURN NULL;
END
$$;

CREATE TRIGGER auto_topups_mirror
    AFTER INSERT OR UPDATE OF enabled, below ON auto_topups
    FOR EACH ROW
    EXECUTE FUNCTION auto_topups_mirror();

-- A debit (charge, batched charges, hold, capture, adjustment) that takes the available
-- credits from at or above the trigger to below it orders one top-up, in its own transaction.
CREATE FUNCTION iap_accounts_auto_topup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM auto_topup_order(NEW.id);
    RETURN NULL;
END
$$;

CREATE TRIGGER iap_accounts_auto_topup
    AFTER UPDATE OF balance, reserved ON iap_accounts
    FOR EACH ROW
    WHEN (NEW.auto_topup_below IS NOT NULL
          AND NEW.balance - NEW.reserved < NEW.auto_topup_below
          AND OLD.balance - OLD.reserved >= NEW.auto_topup_below)
    EXECUTE FUNCTION iap_accounts_auto_topup();
