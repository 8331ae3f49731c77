-- Personal access tokens. The plaintext is never stored: only its SHA-256 (unique) and the
-- first 4 random characters as a hint the owner can recognise.
CREATE TABLE access_tokens (
    id INTEGER PRIMARY KEY NOT NULL,
    uuid TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    description TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('repo:admin', 'repo:write', 'repo:read', 'repo:public_read')),
    token_hash BLOB NOT NULL,
    hint TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    creator_ip TEXT NOT NULL DEFAULT '',
    creator_ua TEXT NOT NULL DEFAULT '',
    -- NULL: never expires
    expires_at BIGINT,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    last_used_at BIGINT,
    last_used_ip TEXT,
    last_used_ua TEXT
);
CREATE UNIQUE INDEX access_tokens_hash ON access_tokens (token_hash);
CREATE UNIQUE INDEX access_tokens_uuid ON access_tokens (uuid);
-- the overview: one owner's tokens, newest first
CREATE INDEX access_tokens_owner_newest ON access_tokens (user_id, id DESC);
-- the overview's counts without scanning every token: expired ones by date, inactive ones by flag
CREATE INDEX access_tokens_owner_expiry ON access_tokens (user_id, expires_at);
CREATE INDEX access_tokens_owner_active ON access_tokens (user_id, is_active);

-- How many tokens the user holds, kept in step by every insert and delete of a token (in
-- the same transaction): the plan limit and the overview's total read it instead of counting.
ALTER TABLE users ADD COLUMN token_count BIGINT NOT NULL DEFAULT 0;
