-- The JSON API's `login_2fa_token`: single use, bound to one user, valid 5 minutes. Only its
-- SHA-256 is stored.
CREATE TABLE login_challenges (
    token_hash TEXT PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_challenges_expiry ON login_challenges (expires_at);
