DROP TABLE digitizations;
DROP TABLE vendor_bills;
DROP TABLE documents;
