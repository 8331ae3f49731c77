-- Back to the three columns: the oldest confirmed TOTP factor of each account becomes its
-- active secret (or, without one, its pending enrolment); further factors are lost.
ALTER TABLE users ADD COLUMN totp_secret_enc BLOB;
ALTER TABLE users ADD COLUMN totp_enabled BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

UPDATE users SET
    totp_secret_enc = (SELECT f.secret_enc FROM second_factors f WHERE f.user_id = users.id AND f.kind = 'totp' ORDER BY f.confirmed_at IS NULL, f.id LIMIT 1),
    totp_last_step = (SELECT f.last_step FROM second_factors f WHERE f.user_id = users.id AND f.kind = 'totp' ORDER BY f.confirmed_at IS NULL, f.id LIMIT 1),
    totp_enabled = EXISTS (SELECT 1 FROM second_factors f WHERE f.user_id = users.id AND f.kind = 'totp' AND f.confirmed_at IS NOT NULL);

ALTER TABLE users DROP COLUMN second_factor_count;
DROP TABLE second_factors;
