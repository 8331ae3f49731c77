-- Repositories Berth knows of: recorded the first time a push to them is authorized, so
-- "public" has something to attach to. The namespace is the owner's username.
CREATE TABLE repositories (
    id INTEGER PRIMARY KEY NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- the full path, e.g. alice/app
    name TEXT NOT NULL,
    is_public BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_push_at BIGINT
);
CREATE UNIQUE INDEX repositories_name ON repositories (name);
CREATE INDEX repositories_owner ON repositories (owner_id, name);
