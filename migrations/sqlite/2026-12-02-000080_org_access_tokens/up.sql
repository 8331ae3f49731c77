-- Organization access tokens: tokens an organization holds, of no user, each reaching the
-- repositories its resources name. The plaintext is never stored: only its SHA-256 (unique)
-- and the first 4 random characters as a hint the owners can recognise.
CREATE TABLE org_access_tokens (
    id INTEGER PRIMARY KEY NOT NULL,
    uuid TEXT NOT NULL,
    -- the organization; deleting it deletes its tokens
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    label TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- a JSON array of {"path", "scope"}: a repository of the organization, `org/*` for all of
    -- them or `*/*/public` for every public repository, each with its widest image scope.
    -- Fixed at creation; read with the token in its one lookup
    resources TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    hint TEXT NOT NULL,
    -- who created it, kept by name too: the token outlives its creator's membership
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_by_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- NULL: never expires
    expires_at BIGINT,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    last_used_at BIGINT,
    last_used_ip TEXT,
    last_used_ua TEXT
);
CREATE UNIQUE INDEX org_access_tokens_hash ON org_access_tokens (token_hash);
CREATE UNIQUE INDEX org_access_tokens_uuid ON org_access_tokens (uuid);
-- the owners' list: one organization's tokens, newest first
CREATE INDEX org_access_tokens_owner_newest ON org_access_tokens (owner_id, id DESC);
