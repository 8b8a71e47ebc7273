-- An Odoo SMS call writes up to 500 message rows at once: the uuid's CHECK said its length with
-- a bounded repetition (`{1,64}`), a regular expression of over a hundred states matched on
-- every row. A length test and a character class say the same.
ALTER TABLE sms_messages
    DROP CONSTRAINT sms_messages_odoo_uuid_check,
    ADD CONSTRAINT sms_messages_odoo_uuid_check
        CHECK (length(odoo_uuid) BETWEEN 1 AND 64 AND odoo_uuid ~ '^[A-Za-z0-9_-]+$');
