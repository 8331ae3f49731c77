DROP TABLE activity;
DROP TABLE sessions;
DROP TABLE recovery_codes;
DROP TABLE users;
