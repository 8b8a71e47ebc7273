DROP TRIGGER iap_accounts_auto_topup ON iap_accounts;
DROP FUNCTION iap_accounts_auto_topup();
DROP TRIGGER auto_topups_mirror ON auto_topups;
DROP FUNCTION auto_topups_mirror();
ALTER TABLE iap_accounts DROP COLUMN auto_topup_below;
DROP FUNCTION auto_topup_order(BIGINT);
DROP FUNCTION auto_topup_stop(BIGINT, TEXT, BIGINT);
DROP FUNCTION auto_topup_declined(BIGINT, BIGINT);
DELETE FROM email_outbox WHERE kind IN ('auto_topup_declined', 'auto_topup_stopped');
ALTER TABLE email_outbox
    DROP CONSTRAINT email_outbox_kind_fields_check,
    DROP CONSTRAINT email_outbox_kind_check,
    ADD CONSTRAINT email_outbox_kind_check CHECK (kind IN ('low_credit', 'receipt')),
    ADD CONSTRAINT email_outbox_check2 CHECK (CASE kind
        WHEN 'low_credit' THEN account_id IS NOT NULL AND order_id IS NULL
        WHEN 'receipt' THEN order_id IS NOT NULL
    END);
DROP INDEX orders_auto_topup_by_month;
DROP INDEX orders_auto_topup_due;
DROP INDEX orders_one_pending_auto_topup;
ALTER TABLE orders
    DROP CONSTRAINT orders_auto_topup_check,
    DROP CONSTRAINT orders_paid_at_check,
    DROP CONSTRAINT orders_status_check,
    DROP COLUMN next_attempt_at,
    DROP COLUMN payment_method_id,
    DROP COLUMN auto_topup,
    ADD CONSTRAINT orders_status_check
        CHECK (status IN ('pending', 'paid', 'expired', 'refunded', 'partly_refunded')),
    ADD CONSTRAINT orders_check CHECK ((status IN ('pending', 'expired')) = (paid_at IS NULL));
DROP TABLE auto_topups;
DROP TABLE payment_methods;
