-- The operator's database search at 100,000 databases: a name fragment (`ILIKE '%…%'`) is
-- found through a trigram index instead of reading every name. (A dbuuid is found through its
-- unique index.)
CREATE INDEX databases_name_trigrams ON databases USING gin (name gin_trgm_ops);
