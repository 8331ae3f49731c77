-- What the registry's notifications tell Berth. A repository's manifests (one row per
-- digest: its media type, sizes and platforms, read from the registry after a push) and its
-- tags (a name pointing at a digest, with who pushed it and its pulls); the pulls of the
-- repository as a whole; the ids of the events already taken, so that a batch the registry
-- sends again is not counted twice; and the last index each client pulled, so that an
-- index and the platform manifest fetched right after it count as one pull.
ALTER TABLE repositories ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE repositories ADD COLUMN last_pulled_at BIGINT;

CREATE TABLE manifests (
    id INTEGER PRIMARY KEY NOT NULL,
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    media_type TEXT NOT NULL,
    -- the manifest's own bytes
    manifest_size BIGINT NOT NULL,
    -- the bytes a pull downloads besides the manifest: config and layers (for an index, those
    -- of every platform's image); NULL until read from the registry
    size BIGINT,
    -- a JSON array of {"os", "architecture", "variant", "digest", "size"}; NULL until read
    platforms TEXT,
    -- when the registry was read for the size and platforms; NULL while it is due
    read_at BIGINT,
    pushed_at BIGINT NOT NULL,
    last_pulled_at BIGINT
);
CREATE UNIQUE INDEX manifests_digest ON manifests (repository_id, digest);

CREATE TABLE tags (
    id INTEGER PRIMARY KEY NOT NULL,
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    digest TEXT NOT NULL,
    pushed_at BIGINT NOT NULL,
    -- the registry's actor: the username (or organization) of the token that pushed
    pushed_by TEXT,
    last_pulled_at BIGINT,
    pull_count BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX tags_name ON tags (repository_id, name);
CREATE INDEX tags_digest ON tags (repository_id, digest);
CREATE INDEX tags_pushed ON tags (repository_id, pushed_at);

CREATE TABLE registry_events_seen (
    event_id TEXT PRIMARY KEY NOT NULL,
    seen_at BIGINT NOT NULL
);
CREATE INDEX registry_events_seen_at ON registry_events_seen (seen_at);

CREATE TABLE recent_index_pulls (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    -- SHA-256 of the client's address and user agent
    client TEXT NOT NULL,
    digest TEXT NOT NULL,
    pulled_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, client)
);
CREATE INDEX recent_index_pulls_at ON recent_index_pulls (pulled_at);
