DROP TABLE lead_events;
DROP TABLE lead_contacts;
DROP TABLE leads;
DROP TABLE lead_requests;
ALTER TABLE enrichments DROP COLUMN price;
DROP TABLE usage_prices;
