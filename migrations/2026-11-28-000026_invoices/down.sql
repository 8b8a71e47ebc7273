DROP TRIGGER orders_issue_invoice ON orders;
DROP FUNCTION orders_issue_invoice();
DROP FUNCTION issue_invoice(orders);
DROP TABLE invoices;
DROP TABLE invoice_counters;
DROP TABLE billing_details;
DROP TABLE invoice_settings;
