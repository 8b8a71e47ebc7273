DROP TRIGGER refunds_roll_up_update ON refunds;
DROP TRIGGER refunds_roll_up_insert ON refunds;
DROP FUNCTION refunds_roll_up();
DROP TRIGGER orders_roll_up_sale ON orders;
DROP FUNCTION orders_roll_up_sale();
DROP TRIGGER ledger_entries_roll_up ON ledger_entries;
DROP FUNCTION ledger_entries_roll_up();
DROP TABLE sales_daily;
DROP TABLE ledger_daily;
