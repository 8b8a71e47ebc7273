DROP INDEX sms_messages_odoo_uuid;
ALTER TABLE sms_messages DROP COLUMN webhook_url, DROP COLUMN odoo_uuid;
