-- Second factors are rows: an account may hold several (two authenticator apps, later a
-- security key), each with its own label, secret, replay state and dates. The three TOTP
-- columns of `users` move here and are dropped.
CREATE TABLE second_factors (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'totp' (RFC 6238). No CHECK: a new kind must not need the table rebuilt, and a kind
    -- Berth does not know is never verified.
    kind TEXT NOT NULL,
    -- the name the owner gave it ("Authenticator app", "Work phone")
    label TEXT NOT NULL,
    -- AEAD-sealed under a key derived from the master secret, bound to user_id; for TOTP the
    -- shared secret (pending ones too)
    secret_enc BLOB NOT NULL,
    -- replay state: for TOTP the last accepted time step, advanced by compare-and-swap so a
    -- code works once (a counter-based kind keeps its counter here)
    last_step BIGINT,
    created_at BIGINT NOT NULL,
    -- NULL while enrolment is pending: such a row verifies only its own enrolment and does
    -- not count as a second factor
    confirmed_at BIGINT,
    last_used_at BIGINT
);
CREATE INDEX second_factors_user ON second_factors (user_id, id);
-- at most one enrolment pending per account: starting again replaces it
CREATE UNIQUE INDEX second_factors_one_pending ON second_factors (user_id) WHERE confirmed_at IS NULL;

-- Confirmed factors held, kept in step by every confirmation and removal (in the same
-- transaction): the user row loaded on every sign-in and `/token` says whether 2FA is on
-- without a second query.
ALTER TABLE users ADD COLUMN second_factor_count BIGINT NOT NULL DEFAULT 0;

-- An active TOTP secret becomes a confirmed factor with its last accepted step, so the
-- codes of the same authenticator keep working and a code used before the upgrade stays
-- used. Added: when the activity log recorded 2FA being turned on, else now. Last used:
-- the start of the last accepted step.
INSERT INTO second_factors (user_id, kind, label, secret_enc, last_step, created_at, confirmed_at, last_used_at)
SELECT id, 'totp', 'Authenticator app', totp_secret_enc, totp_last_step,
       COALESCE((SELECT max(a.created_at) FROM activity a WHERE a.user_id = users.id AND a.kind = '2fa_enabled'), CAST(strftime('%s', 'now') AS INTEGER)),
       COALESCE((SELECT max(a.created_at) FROM activity a WHERE a.user_id = users.id AND a.kind = '2fa_enabled'), CAST(strftime('%s', 'now') AS INTEGER)),
       totp_last_step * 30
FROM users
WHERE totp_enabled = 1 AND totp_secret_enc IS NOT NULL;

-- A pending enrolment (secret stored, 2FA not yet on) stays pending: the page that shows
-- its secret can still be completed within its session's window.
INSERT INTO second_factors (user_id, kind, label, secret_enc, last_step, created_at, confirmed_at, last_used_at)
SELECT id, 'totp', 'Authenticator app', totp_secret_enc, totp_last_step, CAST(strftime('%s', 'now') AS INTEGER), NULL, NULL
FROM users
WHERE totp_enabled = 0 AND totp_secret_enc IS NOT NULL;

UPDATE users SET second_factor_count = (SELECT count(*) FROM second_factors f WHERE f.user_id = users.id AND f.confirmed_at IS NOT NULL);

ALTER TABLE users DROP COLUMN totp_secret_enc;
ALTER TABLE users DROP COLUMN totp_enabled;
ALTER TABLE users DROP COLUMN totp_last_step;
