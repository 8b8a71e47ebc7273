DROP TABLE company_lookups;
