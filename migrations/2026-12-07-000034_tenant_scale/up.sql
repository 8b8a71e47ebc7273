-- The operator's database search at 100,000 databases: a name fragment (`ILIKE '%…%'`) is
-- found through a trigram index instead of reading every name. (A dbuuid is found through its
-- unique index.)
CREATE INDEX databases_name_trigrams ON databases USING gin (name gin_trgm_ops);

-- The indexes of open holds, keyed on `closed_at IS NULL` (the same rows as `status = 'active'`,
-- which the table's CHECK ties to it) rather than on the status: diesel binds a status as a
-- parameter, and the generic plan PostgreSQL settles on for a prepared statement cannot use a
-- partial index whose predicate needs the parameter's value — it read every hold instead, once
-- per `/iap/1/balance` and per charge batch. `closed_at IS NULL` has no value to bind.
CREATE INDEX holds_open_by_account ON holds (account_id) WHERE closed_at IS NULL;
CREATE INDEX holds_open_by_expiry ON holds (expires_at) WHERE closed_at IS NULL;
DROP INDEX holds_active_by_account;
DROP INDEX holds_active_by_expiry;
