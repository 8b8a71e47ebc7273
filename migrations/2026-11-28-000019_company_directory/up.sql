-- The simulated company directory behind Partner Autocomplete and Lead Generation: companies
-- and their people, generated at start when empty (`directory::seed`), searched by name with
-- trigram similarity and exactly by VAT number and domain.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE directory_companies (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    legal_form TEXT NOT NULL,
    country_code TEXT NOT NULL CHECK (country_code ~ '^[A-Z]{2}$'),
    street TEXT NOT NULL,
    postal_code TEXT NOT NULL,
    city TEXT NOT NULL,
    vat TEXT UNIQUE,
    domain TEXT NOT NULL UNIQUE,
    phone TEXT NOT NULL,
    industry TEXT NOT NULL CHECK (industry ~ '^[A-U]$'),
    employees INT NOT NULL CHECK (employees > 0),
    founded INT NOT NULL
);
-- What was typed so far: name prefixes by B-tree, then nearest names by trigram distance
-- (a GiST index answers `ORDER BY lower(name) <-> $1 LIMIT n` without looking at every row).
CREATE INDEX directory_companies_name_prefix ON directory_companies (lower(name) text_pattern_ops);
CREATE INDEX directory_companies_name_trgm ON directory_companies USING gist (lower(name) gist_trgm_ops);
CREATE INDEX directory_companies_search ON directory_companies (country_code, industry, employees);

CREATE TABLE directory_people (
    id BIGSERIAL PRIMARY KEY,
    company_id BIGINT NOT NULL REFERENCES directory_companies (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    job_title TEXT NOT NULL,
    seniority TEXT NOT NULL,
    department TEXT NOT NULL,
    email TEXT NOT NULL
);
CREATE INDEX directory_people_by_company ON directory_people (company_id);
