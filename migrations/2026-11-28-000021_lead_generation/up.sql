-- What one unit of a metered service costs (credits per enrichment, per company found, per
-- contact found), in units of 0.0001 credit. The operator edits them on the service's page
-- (audited); each request keeps the prices it was held at, so an edit never changes what a
-- request already running costs.
CREATE TABLE usage_prices (
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
    unit TEXT NOT NULL CHECK (unit ~ '^[a-z_]+$'),
    label TEXT NOT NULL CHECK (btrim(label) <> ''),
    credits BIGINT NOT NULL CHECK (credits >= 0 AND credits <= 1000000000),
    PRIMARY KEY (service_id, unit)
);

-- A contact that is a company (Odoo's "Company" type): Partner Autocomplete suggests
-- companies while its name is typed.
ALTER TABLE contacts ADD COLUMN is_company BOOLEAN NOT NULL DEFAULT false;
UPDATE contacts SET is_company = true WHERE directory_company_id IS NOT NULL;

-- Enrichments keep the price they were held at.
ALTER TABLE enrichments ADD COLUMN price BIGINT NOT NULL DEFAULT 10000 CHECK (price >= 0);
ALTER TABLE enrichments ALTER COLUMN price DROP DEFAULT;
-- Asked from a contact of the app, or by an Odoo database (which keeps the data itself).
ALTER TABLE enrichments ADD COLUMN source TEXT NOT NULL DEFAULT 'contact'
    CHECK (source IN ('contact', 'odoo'));

-- The same contact and company enriched twice at once (a double click): one waits for the
-- other and is refused here, so it is held and charged once.
CREATE UNIQUE INDEX enrichments_one_pending ON enrichments (contact_id, company_id)
    WHERE status = 'pending' AND source = 'contact';

-- Lead Generation: one row per "Generate Leads" request, the service's records on the
-- paid-service steps (one job per request). The maximum is held; what was found is captured.
CREATE TABLE lead_requests (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL UNIQUE REFERENCES service_jobs (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    requested_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- The form's one-time key: the same form posted twice makes one request.
    form_key TEXT NOT NULL CHECK (length(form_key) BETWEEN 16 AND 64),
    lead_count INT NOT NULL CHECK (lead_count BETWEEN 1 AND 200),
    countries TEXT[] NOT NULL,
    industries TEXT[] NOT NULL,
    min_employees INT NOT NULL CHECK (min_employees >= 1),
    max_employees INT NOT NULL CHECK (max_employees >= min_employees),
    contacts_per_company INT NOT NULL CHECK (contacts_per_company BETWEEN 0 AND 5),
    seniorities TEXT[] NOT NULL,
    departments TEXT[] NOT NULL,
    price_per_company BIGINT NOT NULL CHECK (price_per_company >= 0),
    price_per_contact BIGINT NOT NULL CHECK (price_per_contact >= 0),
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    companies_found INT NOT NULL DEFAULT 0 CHECK (companies_found >= 0),
    contacts_found INT NOT NULL DEFAULT 0 CHECK (contacts_found >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (database_id, form_key)
);
CREATE INDEX lead_requests_by_database ON lead_requests (database_id, id DESC);

-- The Leads app: a company found (or typed in), its contacts and its chatter.
CREATE TABLE leads (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    request_id BIGINT REFERENCES lead_requests (id) ON DELETE RESTRICT,
    directory_company_id BIGINT REFERENCES directory_companies (id),
    name TEXT NOT NULL CHECK (btrim(name) <> ''),
    country_code TEXT,
    street TEXT,
    postal_code TEXT,
    city TEXT,
    vat TEXT,
    website TEXT,
    phone TEXT,
    industry TEXT,
    employees INT,
    logo_svg TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- A company is a lead of a database once: two requests never pay for it twice.
    UNIQUE (database_id, directory_company_id)
);
CREATE INDEX leads_by_name ON leads (database_id, name, id);

CREATE TABLE lead_contacts (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    lead_id BIGINT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    directory_person_id BIGINT REFERENCES directory_people (id),
    name TEXT NOT NULL CHECK (btrim(name) <> ''),
    job_title TEXT,
    seniority TEXT,
    department TEXT,
    email TEXT
);
CREATE INDEX lead_contacts_by_lead ON lead_contacts (lead_id, id);

CREATE TABLE lead_events (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    lead_id BIGINT NOT NULL REFERENCES leads (id) ON DELETE CASCADE,
    body TEXT NOT NULL CHECK (btrim(body) <> ''),
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX lead_events_by_lead ON lead_events (lead_id, id DESC);
