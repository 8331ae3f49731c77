-- A `login_2fa_token` is bound to the user's security stamp when the password was checked:
-- completing it after a password change, a 2FA change or disabling is refused. Rows from
-- before this column (stamp '') match no user and so can no longer be completed.
ALTER TABLE login_challenges ADD COLUMN security_stamp TEXT NOT NULL DEFAULT '';
