-- Daily rollups, so that no page sums an account's ledger at request time: Account Information's
-- chart and forecast, View My Services' sparklines and the operator's dashboard read a row per
-- account and UTC day, whatever the ledger's size. Triggers keep them in the transaction of the
-- rows they sum; `verify-ledger` checks that they equal what they sum.

-- Per account and day: credits spent (charges and captures) and how many, credits bought
-- (purchases), and the first spend of the day (the forecast's "first use").
CREATE TABLE ledger_daily (
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    day DATE NOT NULL,
    spent BIGINT NOT NULL DEFAULT 0 CHECK (spent >= 0),
    spent_count BIGINT NOT NULL DEFAULT 0 CHECK (spent_count >= 0),
    bought BIGINT NOT NULL DEFAULT 0,
    first_spent_at TIMESTAMPTZ,
    PRIMARY KEY (account_id, day)
);
CREATE INDEX ledger_daily_by_day ON ledger_daily (day);

-- Per account, day and currency: orders paid (by paid_at) and refunds succeeded (by the refund's
-- creation), as the dashboard counts them.
CREATE TABLE sales_daily (
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id) ON DELETE RESTRICT,
    day DATE NOT NULL,
    currency TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    orders BIGINT NOT NULL DEFAULT 0,
    credits_sold BIGINT NOT NULL DEFAULT 0,
    revenue_minor BIGINT NOT NULL DEFAULT 0,
    refunds BIGINT NOT NULL DEFAULT 0,
    credits_refunded BIGINT NOT NULL DEFAULT 0,
    refunded_minor BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, day, currency)
);
CREATE INDEX sales_daily_by_day ON sales_daily (day);

-- One statement's ledger rows, summed per account and day (a batch of charges is one upsert).
CREATE FUNCTION ledger_entries_roll_up() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_daily AS d (account_id, day, spent, spent_count, bought, first_spent_at)
    SELECT account_id, (created_at AT TIME ZONE 'UTC')::date,
           COALESCE(-sum(amount) FILTER (WHERE kind IN ('charge', 'capture')), 0),
           count(*) FILTER (WHERE kind IN ('charge', 'capture')),
           COALESCE(sum(amount) FILTER (WHERE kind = 'purchase'), 0),
           min(created_at) FILTER (WHERE kind IN ('charge', 'capture'))
    FROM inserted
    WHERE kind IN ('charge', 'capture', 'purchase')
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (account_id, day) DO UPDATE SET
        spent = d.spent + EXCLUDED.spent,
        spent_count = d.spent_count + EXCLUDED.spent_count,
        bought = d.bought + EXCLUDED.bought,
        first_spent_at = LEAST(d.first_spent_at, EXCLUDED.first_spent_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER ledger_entries_roll_up
    AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT
    EXECUTE FUNCTION ledger_entries_roll_up();

CREATE FUNCTION orders_roll_up_sale() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sales_daily AS s (account_id, day, currency, orders, credits_sold, revenue_minor)
    VALUES (NEW.account_id, (NEW.paid_at AT TIME ZONE 'UTC')::date, NEW.currency, 1,
            NEW.credits, NEW.price_minor)
    ON CONFLICT (account_id, day, currency) DO UPDATE SET
        orders = s.orders + 1,
        credits_sold = s.credits_sold + EXCLUDED.credits_sold,
        revenue_minor = s.revenue_minor + EXCLUDED.revenue_minor;
    RETURN NULL;
END
$$;

CREATE TRIGGER orders_roll_up_sale
    AFTER UPDATE OF status ON orders
    FOR EACH ROW
    WHEN (OLD.status = 'pending' AND NEW.status = 'paid')
    EXECUTE FUNCTION orders_roll_up_sale();

CREATE FUNCTION refunds_roll_up() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO sales_daily AS s (account_id, day, currency, refunds, credits_refunded,
                                  refunded_minor)
    SELECT o.account_id, (NEW.created_at AT TIME ZONE 'UTC')::date, NEW.currency, 1,
           NEW.credits, NEW.amount_minor
    FROM orders o WHERE o.id = NEW.order_id
    ON CONFLICT (account_id, day, currency) DO UPDATE SET
        refunds = s.refunds + 1,
        credits_refunded = s.credits_refunded + EXCLUDED.credits_refunded,
        refunded_minor = s.refunded_minor + EXCLUDED.refunded_minor;
    RETURN NULL;
END
$$;

CREATE TRIGGER refunds_roll_up_insert
    AFTER INSERT ON refunds
    FOR EACH ROW
    WHEN (NEW.status = 'succeeded')
    EXECUTE FUNCTION refunds_roll_up();

CREATE TRIGGER refunds_roll_up_update
    AFTER UPDATE OF status ON refunds
    FOR EACH ROW
    WHEN (OLD.status <> 'succeeded' AND NEW.status = 'succeeded')
    EXECUTE FUNCTION refunds_roll_up();

-- What the ledger, the orders and the refunds hold already.
INSERT INTO ledger_daily (account_id, day, spent, spent_count, bought, first_spent_at)
SELECT account_id, (created_at AT TIME ZONE 'UTC')::date,
       COALESCE(-sum(amount) FILTER (WHERE kind IN ('charge', 'capture')), 0),
       count(*) FILTER (WHERE kind IN ('charge', 'capture')),
       COALESCE(sum(amount) FILTER (WHERE kind = 'purchase'), 0),
       min(created_at) FILTER (WHERE kind IN ('charge', 'capture'))
FROM ledger_entries
WHERE kind IN ('charge', 'capture', 'purchase')
GROUP BY 1, 2;

INSERT INTO sales_daily (account_id, day, currency, orders, credits_sold, revenue_minor)
SELECT account_id, (paid_at AT TIME ZONE 'UTC')::date, currency, count(*), sum(credits),
       sum(price_minor)
FROM orders WHERE paid_at IS NOT NULL
GROUP BY 1, 2, 3;

INSERT INTO sales_daily AS s (account_id, day, currency, refunds, credits_refunded, refunded_minor)
SELECT o.account_id, (r.created_at AT TIME ZONE 'UTC')::date, r.currency, count(*),
       sum(r.credits), sum(r.amount_minor)
FROM refunds r JOIN orders o ON o.id = r.order_id
WHERE r.status = 'succeeded'
GROUP BY 1, 2, 3
ON CONFLICT (account_id, day, currency) DO UPDATE SET
    refunds = EXCLUDED.refunds,
    credits_refunded = EXCLUDED.credits_refunded,
    refunded_minor = EXCLUDED.refunded_minor;
