-- Foundation: the catalog (services and their packs), the customer databases (tenants),
-- their users and contacts, and a small key/value table for one-time app events.
-- Credit amounts are BIGINT counts of 0.0001 credit; prices are BIGINT minor units (cents).

CREATE TABLE services (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name TEXT NOT NULL CHECK (length(btrim(name)) > 0),
    provider TEXT NOT NULL CHECK (length(btrim(provider)) > 0),
    description TEXT NOT NULL,
    trial_credits BIGINT NOT NULL DEFAULT 0 CHECK (trial_credits >= 0),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE packs (
    id BIGSERIAL PRIMARY KEY,
    service_id BIGINT NOT NULL REFERENCES services (id) ON DELETE RESTRICT,
    name TEXT NOT NULL CHECK (length(btrim(name)) > 0),
    credits BIGINT NOT NULL CHECK (credits > 0),
    price_minor BIGINT NOT NULL CHECK (price_minor >= 0),
    currency TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    sort_order INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (service_id, name)
);

CREATE TABLE databases (
    id BIGSERIAL PRIMARY KEY,
    name TEXT NOT NULL CHECK (length(btrim(name)) > 0 AND name = btrim(name)),
    subscription TEXT NOT NULL
        CHECK (subscription IN ('enterprise', 'demo', 'educational', 'one-app-free', 'none')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX databases_name_key ON databases (lower(name));

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
    email TEXT NOT NULL CHECK (email = lower(btrim(email)) AND email LIKE '%_@_%'),
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'admin', 'platform')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_database_id_idx ON users (database_id);

CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE CASCADE,
    name TEXT NOT NULL CHECK (length(btrim(name)) > 0),
    company TEXT,
    email TEXT,
    phone TEXT,
    mobile TEXT,
    country TEXT CHECK (country ~ '^[A-Z]{2}$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX contacts_database_id_name_idx ON contacts (database_id, name, id);

-- One-time events of the app itself, such as "the demo data was created".
CREATE TABLE app_events (
    name TEXT PRIMARY KEY,
    happened_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
