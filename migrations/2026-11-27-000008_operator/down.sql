DROP INDEX ledger_entries_refunds_by_order;
DROP INDEX orders_by_paid_at;
DROP INDEX ledger_entries_by_time;
DROP TABLE audit_log;
DROP FUNCTION rows_are_append_only();
DROP TABLE refunds;
