-- Invoices: one for each paid order, numbered without gaps per calendar year (UTC). The number
-- is taken from a per-year counter in the transaction that marks the order paid, so a payment
-- that rolls back takes its number back with it, and concurrent payments take their turns on
-- the counter's row. Seller and buyer are copied onto the invoice as they are at that moment.

-- The platform operator's details as seller, and the VAT rate (basis points; NULL = no VAT
-- line). Prices include VAT: the invoice shows the part of the price that is VAT.
CREATE TABLE invoice_settings (
    id SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    seller_name TEXT NOT NULL CHECK (length(seller_name) BETWEEN 1 AND 200),
    seller_address TEXT NOT NULL DEFAULT '' CHECK (length(seller_address) <= 1000),
    seller_vat TEXT NOT NULL DEFAULT '' CHECK (length(seller_vat) <= 40),
    vat_rate_bp INTEGER CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO invoice_settings (seller_name) VALUES ('IAP Credits');

-- A customer database's details as buyer (optional: the database's name otherwise).
CREATE TABLE billing_details (
    database_id BIGINT PRIMARY KEY REFERENCES databases (id) ON DELETE RESTRICT,
    company_name TEXT NOT NULL DEFAULT '' CHECK (length(company_name) <= 200),
    address TEXT NOT NULL DEFAULT '' CHECK (length(address) <= 1000),
    vat_number TEXT NOT NULL DEFAULT '' CHECK (length(vat_number) <= 40),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE invoice_counters (
    year SMALLINT PRIMARY KEY,
    last INTEGER NOT NULL CHECK (last > 0)
);

CREATE TABLE invoices (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL UNIQUE REFERENCES orders (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    year SMALLINT NOT NULL,
    number INTEGER NOT NULL CHECK (number > 0),
    issued_at TIMESTAMPTZ NOT NULL,
    seller_name TEXT NOT NULL,
    seller_address TEXT NOT NULL,
    seller_vat TEXT NOT NULL,
    buyer_name TEXT NOT NULL,
    buyer_address TEXT NOT NULL,
    buyer_vat TEXT NOT NULL,
    buyer_email TEXT NOT NULL,
    service_name TEXT NOT NULL,
    pack_name TEXT NOT NULL,
    credits BIGINT NOT NULL CHECK (credits > 0),
    total_minor BIGINT NOT NULL CHECK (total_minor >= 0),
    currency TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    vat_rate_bp INTEGER CHECK (vat_rate_bp BETWEEN 0 AND 10000),
    vat_minor BIGINT NOT NULL CHECK (vat_minor >= 0 AND vat_minor <= total_minor),
    UNIQUE (year, number),
    CHECK (vat_rate_bp IS NOT NULL OR vat_minor = 0)
);
CREATE INDEX invoices_by_database ON invoices (database_id, id DESC);

-- The invoice of a paid order, with the year's next number.
CREATE FUNCTION issue_invoice(o orders) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_year SMALLINT := extract(year FROM o.paid_at AT TIME ZONE 'UTC');
    v_number INTEGER;
    s invoice_settings%ROWTYPE;
    b billing_details%ROWTYPE;
    v_database TEXT;
    v_email TEXT;
    v_service TEXT;
    v_vat BIGINT := 0;
BEGIN
    INSERT INTO invoice_counters (year, last) VALUES (v_year, 1)
    ON CONFLICT (year) DO UPDATE SET last = invoice_counters.last + 1
    RETURNING last INTO v_number;
    SELECT * INTO s FROM invoice_settings WHERE id = 1;
    SELECT * INTO b FROM billing_details WHERE database_id = o.database_id;
    SELECT name INTO v_database FROM databases WHERE id = o.database_id;
    SELECT email INTO v_email FROM users WHERE id = o.created_by;
    SELECT services.name INTO v_service
    FROM iap_accounts JOIN services ON services.id = iap_accounts.service_id
    WHERE iap_accounts.id = o.account_id;
    IF s.vat_rate_bp IS NOT NULL THEN
        -- The VAT included in the price, to the nearest cent (half away from zero).
        v_vat := round(o.price_minor::numeric * s.vat_rate_bp / (10000 + s.vat_rate_bp));
    END IF;
    INSERT INTO invoices (order_id, database_id, year, number, issued_at, seller_name,
                          seller_address, seller_vat, buyer_name, buyer_address, buyer_vat,
                          buyer_email, service_name, pack_name, credits, total_minor, currency, vat_rate_bp, vat_minor)
    VALUES (o.id, o.database_id, v_year, v_number, o.paid_at, s.seller_name, s.seller_address,
            s.seller_vat, coalesce(nullif(b.company_name, ''), v_database),
            coalesce(b.address, ''), coalesce(b.vat_number, ''), coalesce(v_email, ''),
            v_service, o.pack_name, o.credits,
            o.price_minor, o.currency, s.vat_rate_bp, v_vat);
END
$$;

CREATE FUNCTION orders_issue_invoice() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM issue_invoice(NEW);
    RETURN NEW;
END
$$;

CREATE TRIGGER orders_issue_invoice
    AFTER UPDATE OF status ON orders
    FOR EACH ROW
    WHEN (OLD.status = 'pending' AND NEW.status = 'paid')
    EXECUTE FUNCTION orders_issue_invoice();

-- The orders paid before invoices existed get theirs, numbered in the order they were paid.
DO $$
DECLARE
    o orders%ROWTYPE;
BEGIN
    FOR o IN SELECT * FROM orders WHERE paid_at IS NOT NULL ORDER BY paid_at, id LOOP
        PERFORM issue_invoice(o);
    END LOOP;
END
$$;
