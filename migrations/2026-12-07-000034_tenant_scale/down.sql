DROP INDEX databases_name_trigrams;
