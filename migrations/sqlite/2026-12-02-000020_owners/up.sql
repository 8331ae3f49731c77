-- Owners: the namespaces repositories, access tokens, plans and token counters belong to.
-- Every owner is a user's own namespace for now (kind 'user', named as the user); an
-- organization (no user of its own) is the next kind. The namespace name is unique across
-- kinds, so a user and an organization can never share one.
CREATE TABLE owners (
    id INTEGER PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('user', 'organization')),
    -- the namespace: the first component of every repository name it owns
    name TEXT NOT NULL,
    -- whose own namespace this is (kind 'user'); NULL for an organization. Deleting the
    -- user deletes the namespace, and with it its tokens and repositories.
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    plan TEXT NOT NULL DEFAULT 'personal' CHECK (plan IN ('personal', 'pro', 'team', 'business')),
    -- how many tokens the owner holds, kept in step by every insert and delete of a token (in
    -- the same transaction): the plan limit and the overview's total read it instead of counting
    token_count BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    CHECK ((kind = 'user') = (user_id IS NOT NULL))
);
CREATE UNIQUE INDEX owners_name ON owners (name);
-- one own namespace per user (NULLs, the organizations, do not collide)
CREATE UNIQUE INDEX owners_user ON owners (user_id);

-- One owner per user, with the user's id as the owner's: every user_id stored on a token or
-- a repository is then already the id of its owner. Plan and token count move here.
INSERT INTO owners (id, kind, name, user_id, plan, token_count, created_at)
    SELECT id, 'user', username, id, plan, token_count, created_at FROM users;

-- Tokens point to their owner. SQLite cannot change a column's foreign key in place: the
-- table is rebuilt (nothing references it), every row and column kept.
CREATE TABLE access_tokens_new (
    id INTEGER PRIMARY KEY NOT NULL,
    uuid TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
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
    last_used_ua TEXT,
    last_refused_at BIGINT,
    last_refused_ip TEXT,
    last_refused_ua TEXT
);
INSERT INTO access_tokens_new (id, uuid, owner_id, description, scope, token_hash, hint, created_at, creator_ip, creator_ua,
                               expires_at, is_active, last_used_at, last_used_ip, last_used_ua, last_refused_at, last_refused_ip, last_refused_ua)
    SELECT id, uuid, user_id, description, scope, token_hash, hint, created_at, creator_ip, creator_ua,
           expires_at, is_active, last_used_at, last_used_ip, last_used_ua, last_refused_at, last_refused_ip, last_refused_ua
    FROM access_tokens;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_new RENAME TO access_tokens;
CREATE UNIQUE INDEX access_tokens_hash ON access_tokens (token_hash);
CREATE UNIQUE INDEX access_tokens_uuid ON access_tokens (uuid);
-- the overview: one owner's tokens, newest first
CREATE INDEX access_tokens_owner_newest ON access_tokens (owner_id, id DESC);
-- the overview's counts without scanning every token: expired ones by date, inactive ones by flag
CREATE INDEX access_tokens_owner_expiry ON access_tokens (owner_id, expires_at);
CREATE INDEX access_tokens_owner_active ON access_tokens (owner_id, is_active);

-- Repositories point to their owner the same way.
CREATE TABLE repositories_new (
    id INTEGER PRIMARY KEY NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    -- the full path, e.g. alice/app: the owner's name, then the path inside the namespace
    name TEXT NOT NULL,
    is_public BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_push_at BIGINT
);
INSERT INTO repositories_new (id, owner_id, name, is_public, created_at, last_push_at)
    SELECT id, owner_id, name, is_public, created_at, last_push_at FROM repositories;
DROP TABLE repositories;
ALTER TABLE repositories_new RENAME TO repositories;
CREATE UNIQUE INDEX repositories_name ON repositories (name);
CREATE INDEX repositories_owner ON repositories (owner_id, name);

-- Moved to the owner: one place each, nothing to keep in step.
ALTER TABLE users DROP COLUMN token_count;
ALTER TABLE users DROP COLUMN plan;
