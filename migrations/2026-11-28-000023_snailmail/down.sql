DROP TABLE letters;
DROP TABLE postage_countries;
DROP TABLE postage_zones;
