-- Companies an Odoo database bought through Lead Enrichment (by e-mail domain) or Visitor
-- Reveal (by visitor IP), with their people: a row per company handed over, written with the
-- hold of its job, its price captured when the job settles. The same company asked again
-- under the same domain or IP is handed over again for nothing.
CREATE TABLE company_lookups (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL REFERENCES service_jobs (id),
    database_id BIGINT NOT NULL REFERENCES databases (id),
    account_id BIGINT NOT NULL REFERENCES iap_accounts (id),
    kind TEXT NOT NULL CHECK (kind IN ('enrichment', 'reveal')),
    -- The e-mail domain or the visitor's address, as asked.
    asked TEXT NOT NULL CHECK (length(asked) BETWEEN 1 AND 253),
    company_id BIGINT NOT NULL REFERENCES directory_companies (id),
    person_ids BIGINT[] NOT NULL DEFAULT '{}',
    price BIGINT NOT NULL CHECK (price >= 0),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX company_lookups_by_job ON company_lookups (job_id);
CREATE INDEX company_lookups_by_asked ON company_lookups (database_id, kind, asked);
