ALTER TABLE sms_messages
    DROP CONSTRAINT sms_messages_odoo_uuid_check,
    ADD CONSTRAINT sms_messages_odoo_uuid_check CHECK (odoo_uuid ~ '^[A-Za-z0-9_-]{1,64}$');
