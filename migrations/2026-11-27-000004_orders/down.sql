DROP INDEX ledger_entries_one_purchase_per_order;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_order_id_fkey;
DROP TABLE payment_attempts;
DROP TABLE orders;
