DROP INDEX digitizations_to_read;
ALTER TABLE digitizations DROP COLUMN error, DROP COLUMN reading_until, DROP COLUMN read_attempts;
ALTER TABLE documents DROP COLUMN text_layer, DROP COLUMN pdf_facts;
