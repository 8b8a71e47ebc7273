-- The two roles of "Database roles" in docs/operations.md: the schema's owner runs the migrations, the
-- app serves requests with only the privileges it grants itself at start.
CREATE ROLE iap_owner LOGIN PASSWORD 'owner-secret';
CREATE ROLE iap_app LOGIN PASSWORD 'app-secret';
CREATE DATABASE iap_credits OWNER iap_owner;
\connect iap_credits
ALTER SCHEMA public OWNER TO iap_owner;
