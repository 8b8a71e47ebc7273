DROP TABLE app_events;
DROP TABLE contacts;
DROP TABLE users;
DROP TABLE databases;
DROP TABLE packs;
DROP TABLE services;
