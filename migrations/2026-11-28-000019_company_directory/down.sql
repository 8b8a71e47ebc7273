DROP TABLE directory_people;
DROP TABLE directory_companies;
