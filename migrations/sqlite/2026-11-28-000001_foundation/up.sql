-- Accounts, two-factor state, server-side sessions and the security activity log.
-- Times are Unix seconds (UTC) in BIGINT columns: portable to PostgreSQL and cheap to compare.

CREATE TABLE users (
    id INTEGER PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    email TEXT NOT NULL,
    -- lower-cased email: uniqueness is case-insensitive
    email_normalized TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    plan TEXT NOT NULL DEFAULT 'personal' CHECK (plan IN ('personal', 'pro', 'team', 'business')),
    is_operator BOOLEAN NOT NULL DEFAULT 0,
    is_disabled BOOLEAN NOT NULL DEFAULT 0,
    -- AEAD-encrypted TOTP secret: pending while totp_enabled = 0, active once it is 1
    totp_secret_enc BLOB,
    totp_enabled BOOLEAN NOT NULL DEFAULT 0,
    -- last accepted TOTP time step; advanced by compare-and-swap so a code works once
    totp_last_step BIGINT,
    -- changes on password change, 2FA change, disable: stateless credentials bound to it die
    security_stamp TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX users_username ON users (username);
CREATE UNIQUE INDEX users_email_normalized ON users (email_normalized);

CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- HMAC-SHA256 with a server key: the code itself is never stored
    code_hash TEXT NOT NULL,
    used_at BIGINT
);
CREATE UNIQUE INDEX recovery_codes_user_hash ON recovery_codes (user_id, code_hash);

CREATE TABLE sessions (
    -- SHA-256 of the session key from the cookie; the key itself is never stored
    id_hash TEXT PRIMARY KEY NOT NULL,
    -- a non-secret handle used to list and end a session from the sessions page
    public_id TEXT,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen);
CREATE INDEX sessions_public_id ON sessions (public_id);

CREATE TABLE activity (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    user_agent TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX activity_user_newest ON activity (user_id, id DESC);
