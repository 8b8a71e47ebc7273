CREATE INDEX holds_active_by_account ON holds (account_id) WHERE status = 'active';
CREATE INDEX holds_active_by_expiry ON holds (expires_at) WHERE status = 'active';
DROP INDEX holds_open_by_account;
DROP INDEX holds_open_by_expiry;
DROP INDEX databases_name_trigrams;
