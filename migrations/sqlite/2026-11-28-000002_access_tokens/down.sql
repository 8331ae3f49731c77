ALTER TABLE users DROP COLUMN token_count;
DROP TABLE access_tokens;
