-- Webhooks: URLs a repository's owner wants told about every push. Each has its own secret,
-- sealed under a key derived from the master key (HMAC signatures need it back), shown once.
CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY NOT NULL,
    -- deleting the repository deletes its webhooks and their deliveries
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    url TEXT NOT NULL,
    secret_sealed BLOB NOT NULL,
    created_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhooks_repository ON webhooks (repository_id, id);

-- One POST of one push to one webhook, and what came of it: the delivery log. A delivery is
-- due at `next_attempt_at` while `status` is 'pending'; an instance sending it holds it until
-- `claimed_until`, so two instances never send it at once.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY NOT NULL,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    payload TEXT NOT NULL,
    -- 'pending', 'delivered' or 'failed' (no attempt left)
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    claimed_until BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    last_attempt_at BIGINT,
    -- the HTTP status of the last attempt, or NULL when none came back
    response_code INTEGER,
    -- why the last attempt failed, in words (no secret in it)
    error TEXT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);
