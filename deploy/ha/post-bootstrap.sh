#!/bin/sh
# Patroni's post_bootstrap: runs once, on the node that made the cluster, with the
# superuser's connection URL as $1 (and PGPASSFILE set). Makes the app's two roles and its
# database (docs/operations.md, "Database roles"): the owner runs the migrations, the app
# serves with what they grant it. (Patroni makes the replication and rewind roles itself.)
# The passwords come from Patroni's environment: IAP_OWNER_PASSWORD, IAP_APP_PASSWORD.
set -eu
: "${IAP_OWNER_PASSWORD:?set IAP_OWNER_PASSWORD in Patroni's environment}"
: "${IAP_APP_PASSWORD:?set IAP_APP_PASSWORD in Patroni's environment}"
psql "$1" -v ON_ERROR_STOP=1 -q \
  -v owner_password="$IAP_OWNER_PASSWORD" -v app_password="$IAP_APP_PASSWORD" <<'SQL'
CREATE ROLE iap_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE iap_app LOGIN PASSWORD :'app_password';
CREATE DATABASE iap_credits OWNER iap_owner;
\connect iap_credits
ALTER SCHEMA public OWNER TO iap_owner;
SQL
