-- SMS sent by an Odoo database through its SMS API: each number's uuid (the database's own id
-- of the message, so that a repeat is recognised and never sent or charged twice) and where to
-- report its delivery.
ALTER TABLE sms_messages
    ADD COLUMN odoo_uuid TEXT CHECK (odoo_uuid ~ '^[A-Za-z0-9_-]{1,64}$'),
    ADD COLUMN webhook_url TEXT CHECK (length(webhook_url) <= 2000);
CREATE UNIQUE INDEX sms_messages_odoo_uuid ON sms_messages (database_id, odoo_uuid)
    WHERE odoo_uuid IS NOT NULL;
