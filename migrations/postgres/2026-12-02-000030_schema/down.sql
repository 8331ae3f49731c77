-- Everything up.sql made, tables that reference others first. Indexes, constraints and
-- identity sequences go with their tables.
DROP TABLE second_factors;
DROP TABLE form_keys;
DROP TABLE login_challenges;
DROP TABLE repositories;
DROP TABLE access_tokens;
DROP TABLE owners;
DROP TABLE activity;
DROP TABLE sessions;
DROP TABLE recovery_codes;
DROP TABLE users;
