-- Files a database uploads (vendor bills now; letters to post and documents to sign next): kept
-- in the database, checked by content, served only to signed-in users of their database.
CREATE TABLE documents (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    uploaded_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    file_name TEXT NOT NULL CHECK (length(file_name) BETWEEN 1 AND 255),
    media_type TEXT NOT NULL
        CHECK (media_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    size_bytes INT NOT NULL CHECK (size_bytes BETWEEN 1 AND 10485760),
    sha256 TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- PDFs: their page count, read when uploaded.
    pages INT CHECK (pages >= 1),
    content BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX documents_by_database ON documents (database_id, id DESC);

-- The Vendor Bills app: a bill is an uploaded document and the fields read from it (by
-- Documents Digitization, then reviewed by the user).
CREATE TABLE vendor_bills (
    id BIGSERIAL PRIMARY KEY,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    document_id BIGINT NOT NULL UNIQUE REFERENCES documents (id) ON DELETE RESTRICT,
    status TEXT NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'digitized', 'unreadable')),
    vendor TEXT CHECK (length(vendor) <= 200),
    invoice_number TEXT CHECK (length(invoice_number) <= 100),
    invoice_date DATE,
    due_date DATE,
    currency TEXT CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor BIGINT CHECK (total_minor >= 0),
    tax_minor BIGINT CHECK (tax_minor >= 0),
    vat TEXT CHECK (length(vat) <= 20),
    -- How sure the digitization was of each field it filled (0–100), by field name.
    confidence JSONB NOT NULL DEFAULT '{}',
    -- The text it read, for the user to compare.
    extracted_text TEXT,
    -- Fields the user corrected after digitization.
    reviewed BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX vendor_bills_by_database ON vendor_bills (database_id, id DESC);

-- The service's records on the paid-service steps: one per Digitize.
CREATE TABLE digitizations (
    id BIGSERIAL PRIMARY KEY,
    job_id BIGINT NOT NULL UNIQUE REFERENCES service_jobs (id) ON DELETE RESTRICT,
    database_id BIGINT NOT NULL REFERENCES databases (id) ON DELETE RESTRICT,
    bill_id BIGINT NOT NULL REFERENCES vendor_bills (id) ON DELETE RESTRICT,
    requested_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    price BIGINT NOT NULL CHECK (price >= 0),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'done', 'unreadable', 'failed')),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX digitizations_by_bill ON digitizations (bill_id, id DESC);
-- Digitize pressed twice at once: one digitization under way a bill, so one charge.
CREATE UNIQUE INDEX digitizations_one_pending ON digitizations (bill_id) WHERE status = 'pending';
