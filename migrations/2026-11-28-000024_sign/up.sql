-- The Sign app: a PDF sent to signers, each through a link of their own (no sign-in), some
-- identified with itsme first (Belgium, the Netherlands).
CREATE TABLE sign_requests (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    document_id BIGINT NOT NULL REFERENCES documents (id) ON DELETE RESTRICT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    -- The form's one-time key: the same form posted twice sends one request.
    form_key TEXT NOT NULL CHECK (length(form_key) BETWEEN 16 AND 64),
    title TEXT NOT NULL CHECK (btrim(title) <> '' AND length(title) <= 200),
    -- The SHA-256 of the document as sent: what every signer signs.
    document_sha256 TEXT NOT NULL CHECK (document_sha256 ~ '^[0-9a-f]{64}$'),
    status TEXT NOT NULL DEFAULT 'sent' CHECK (status IN ('sent', 'completed')),
    -- The original with a signature page appended, once everyone signed.
    signed_pdf BYTEA,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at TIMESTAMPTZ
);
CREATE INDEX sign_requests_by_database ON sign_requests (database_id, id DESC);
CREATE UNIQUE INDEX sign_requests_one_per_form ON sign_requests (database_id, form_key);

CREATE TABLE signers (
    id BIGSERIAL PRIMARY KEY,
    request_id BIGINT NOT NULL REFERENCES sign_requests (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    name TEXT NOT NULL CHECK (btrim(name) <> '' AND length(name) <= 200),
    email TEXT NOT NULL CHECK (length(email) <= 254),
    country TEXT NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    itsme BOOLEAN NOT NULL,
    -- The SHA-256 of the signer's link token: the token itself is never stored.
    token_hash TEXT NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at TIMESTAMPTZ NOT NULL,
    -- What itsme said of them (the national number masked).
    identified_name TEXT,
    identified_birth_date DATE,
    identified_national_number TEXT,
    identified_at TIMESTAMPTZ,
    signed_at TIMESTAMPTZ,
    signed_from TEXT,
    signed_sha256 TEXT CHECK (signed_sha256 ~ '^[0-9a-f]{64}$'),
    CHECK (itsme OR identified_at IS NULL)
);
CREATE INDEX signers_by_request ON signers (request_id, id);

-- itsme identifications: the service's records on the paid-service steps (one job each).
CREATE TABLE identifications (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL UNIQUE REFERENCES service_jobs (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    signer_id BIGINT NOT NULL REFERENCES signers (id) ON DELETE RESTRICT,
    price BIGINT NOT NULL CHECK (price >= 0),
    provider_session TEXT UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'approved', 'denied', 'abandoned')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at TIMESTAMPTZ
);
CREATE INDEX identifications_by_signer ON identifications (signer_id, id DESC);
-- Identify pressed twice at once: one identification under way a signer, so one hold.
CREATE UNIQUE INDEX identifications_one_pending ON identifications (signer_id)
    WHERE status = 'pending';
