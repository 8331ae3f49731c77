-- One-time keys of forms that create or regenerate something, spent in the same
-- transaction as the change. Only the key's SHA-256 is stored; a day later it is forgotten.
CREATE TABLE form_keys (
    key_hash TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    spent_at BIGINT NOT NULL
);
CREATE INDEX form_keys_spent ON form_keys (spent_at);
