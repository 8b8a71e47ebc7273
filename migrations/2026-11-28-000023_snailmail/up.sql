-- Snailmail's postage: zones with their prices (credits, units of 0.0001), and the countries
-- each zone covers. A country in no zone is not served. The operator edits both (audited).
CREATE TABLE postage_zones (
    zone TEXT PRIMARY KEY CHECK (zone ~ '^[a-z_]{1,30}$'),
    name TEXT NOT NULL CHECK (btrim(name) <> ''),
    -- A letter of one sheet.
    base_price BIGINT NOT NULL CHECK (base_price >= 0),
    -- Each further sheet (a cover page is a sheet; duplex prints two pages a sheet).
    per_sheet BIGINT NOT NULL CHECK (per_sheet >= 0),
    -- Each page printed in colour.
    colour_per_page BIGINT NOT NULL CHECK (colour_per_page >= 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE postage_countries (
    country TEXT PRIMARY KEY CHECK (country ~ '^[A-Z]{2}$'),
    zone TEXT NOT NULL REFERENCES postage_zones (zone) ON DELETE RESTRICT
);

INSERT INTO postage_zones (zone, name, base_price, per_sheet, colour_per_page) VALUES
    ('domestic', 'Belgium', 10000, 1000, 1000),
    ('europe', 'Europe', 15000, 1500, 1000),
    ('world', 'Rest of the world', 25000, 2500, 1000);
INSERT INTO postage_countries (country, zone) VALUES
    ('BE', 'domestic'),
    ('NL', 'europe'), ('LU', 'europe'), ('FR', 'europe'), ('DE', 'europe'), ('AT', 'europe'),
    ('CH', 'europe'), ('IT', 'europe'), ('ES', 'europe'), ('PT', 'europe'), ('GB', 'europe'),
    ('DK', 'europe'), ('SE', 'europe'), ('NO', 'europe'), ('FI', 'europe'), ('PL', 'europe'),
    ('CZ', 'europe'),
    ('US', 'world'), ('CA', 'world');

-- Letters sent by post: the service's records on the paid-service steps (one job a letter),
-- with the address as it was when sent.
CREATE TABLE letters (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL UNIQUE REFERENCES service_jobs (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE RESTRICT,
    contact_id BIGINT REFERENCES contacts (id) ON DELETE SET NULL,
    sent_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- The send form's one-time key: the same form posted twice sends one letter.
    form_key TEXT NOT NULL CHECK (length(form_key) BETWEEN 16 AND 64),
    recipient TEXT NOT NULL CHECK (btrim(recipient) <> ''),
    street TEXT NOT NULL CHECK (btrim(street) <> ''),
    postal_code TEXT NOT NULL CHECK (btrim(postal_code) <> ''),
    city TEXT NOT NULL CHECK (btrim(city) <> ''),
    country TEXT NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    pages INT NOT NULL CHECK (pages BETWEEN 1 AND 20),
    sheets INT NOT NULL CHECK (sheets >= 1),
    colour BOOLEAN NOT NULL,
    duplex BOOLEAN NOT NULL,
    cover BOOLEAN NOT NULL,
    zone TEXT NOT NULL,
    price BIGINT NOT NULL CHECK (price >= 0),
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sent', 'delivered', 'undeliverable', 'refused', 'failed')),
    provider_reference TEXT,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
CREATE INDEX letters_by_database ON letters (database_id, id DESC);
CREATE UNIQUE INDEX letters_one_per_form ON letters (database_id, form_key);
CREATE INDEX letters_in_transit ON letters (id) WHERE status = 'sent';
