DROP TABLE lead_events;
DROP TABLE lead_contacts;
DROP TABLE leads;
DROP TABLE lead_requests;
DROP INDEX enrichments_one_pending;
ALTER TABLE enrichments DROP COLUMN source;
ALTER TABLE enrichments DROP COLUMN price;
ALTER TABLE contacts DROP COLUMN is_company;
DROP TABLE usage_prices;
