-- What the simulated providers (payments, SMS carrier, post, itsme) remember, as a real
-- provider remembers it on its side: one record per key, the first one kept. In the database,
-- so that every instance of the app (and a restarted one) talks to the same provider.
CREATE TABLE simulated_provider_records (
    space TEXT NOT NULL CHECK (space ~ '^[a-z][a-z_-]*$'),
    key TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 500),
    value JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (space, key)
);
