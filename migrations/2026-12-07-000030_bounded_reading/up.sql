-- What a PDF holds, read once when it is uploaded, in the bounded reader: its pages' sizes and
-- which pages are scans (`pdf_facts`), and its text layer. Quotes and digitization use these and
-- never read the file again. NULL for a PDF stored before: read once when first needed.
ALTER TABLE documents
    ADD COLUMN pdf_facts JSONB,
    ADD COLUMN text_layer TEXT CHECK (length(text_layer) <= 100000);

-- Digitization reads off the request path: the reading worker leases a pending digitization
-- (`reading_until`), counts its attempts, and says why the last one failed.
ALTER TABLE digitizations
    ADD COLUMN read_attempts INT NOT NULL DEFAULT 0 CHECK (read_attempts >= 0),
    ADD COLUMN reading_until TIMESTAMPTZ,
    ADD COLUMN error TEXT CHECK (length(error) <= 1000);
CREATE INDEX digitizations_to_read ON digitizations (id) WHERE status = 'pending';
