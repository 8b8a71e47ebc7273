DROP TABLE identifications;
DROP TABLE signers;
DROP TABLE sign_requests;
