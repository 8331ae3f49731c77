-- Back to plans, token counts, tokens and repositories on the user. Only a user's own
-- namespace can go back (an organization's rows have no user to return to and are lost).
ALTER TABLE users ADD COLUMN plan TEXT NOT NULL DEFAULT 'personal' CHECK (plan IN ('personal', 'pro', 'team', 'business'));
ALTER TABLE users ADD COLUMN token_count BIGINT NOT NULL DEFAULT 0;
UPDATE users SET plan = (SELECT plan FROM owners WHERE owners.user_id = users.id),
                 token_count = (SELECT token_count FROM owners WHERE owners.user_id = users.id)
    WHERE id IN (SELECT user_id FROM owners);

CREATE TABLE access_tokens_old (
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
    expires_at BIGINT,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    last_used_at BIGINT,
    last_used_ip TEXT,
    last_used_ua TEXT,
    last_refused_at BIGINT,
    last_refused_ip TEXT,
    last_refused_ua TEXT
);
INSERT INTO access_tokens_old (id, uuid, user_id, description, scope, token_hash, hint, created_at, creator_ip, creator_ua,
                               expires_at, is_active, last_used_at, last_used_ip, last_used_ua, last_refused_at, last_refused_ip, last_refused_ua)
    SELECT t.id, t.uuid, o.user_id, t.description, t.scope, t.token_hash, t.hint, t.created_at, t.creator_ip, t.creator_ua,
           t.expires_at, t.is_active, t.last_used_at, t.last_used_ip, t.last_used_ua, t.last_refused_at, t.last_refused_ip, t.last_refused_ua
    FROM access_tokens t JOIN owners o ON o.id = t.owner_id WHERE o.user_id IS NOT NULL;
DROP TABLE access_tokens;
ALTER TABLE access_tokens_old RENAME TO access_tokens;
CREATE UNIQUE INDEX access_tokens_hash ON access_tokens (token_hash);
CREATE UNIQUE INDEX access_tokens_uuid ON access_tokens (uuid);
CREATE INDEX access_tokens_owner_newest ON access_tokens (user_id, id DESC);
CREATE INDEX access_tokens_owner_expiry ON access_tokens (user_id, expires_at);
CREATE INDEX access_tokens_owner_active ON access_tokens (user_id, is_active);

CREATE TABLE repositories_old (
    id INTEGER PRIMARY KEY NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    is_public BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_push_at BIGINT
);
INSERT INTO repositories_old (id, owner_id, name, is_public, created_at, last_push_at)
    SELECT r.id, o.user_id, r.name, r.is_public, r.created_at, r.last_push_at
    FROM repositories r JOIN owners o ON o.id = r.owner_id WHERE o.user_id IS NOT NULL;
DROP TABLE repositories;
ALTER TABLE repositories_old RENAME TO repositories;
CREATE UNIQUE INDEX repositories_name ON repositories (name);
CREATE INDEX repositories_owner ON repositories (owner_id, name);

DROP TABLE owners;
