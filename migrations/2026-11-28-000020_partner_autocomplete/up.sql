-- Partner Autocomplete: a contact that is a company can be enriched from the directory. The
-- contact keeps what it got; its chatter records the enrichment; the enrichments are the
-- service's records on the paid-service steps (one job per enrichment).
ALTER TABLE contacts
    ADD COLUMN street TEXT,
    ADD COLUMN postal_code TEXT,
    ADD COLUMN city TEXT,
    ADD COLUMN vat TEXT,
    ADD COLUMN website TEXT,
    ADD COLUMN industry TEXT,
    ADD COLUMN employees INT,
    ADD COLUMN logo_svg TEXT,
    -- The directory company it was enriched with (paid): enriching with it again is free.
    ADD COLUMN directory_company_id BIGINT REFERENCES directory_companies (id);

CREATE TABLE contact_events (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    contact_id BIGINT NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    body TEXT NOT NULL CHECK (btrim(body) <> ''),
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX contact_events_by_contact ON contact_events (contact_id, id DESC);

CREATE TABLE enrichments (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL REFERENCES service_jobs (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    contact_id BIGINT REFERENCES contacts (id) ON DELETE SET NULL,
    company_id BIGINT NOT NULL REFERENCES directory_companies (id),
    requested_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'failed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX enrichments_by_job ON enrichments (job_id);
