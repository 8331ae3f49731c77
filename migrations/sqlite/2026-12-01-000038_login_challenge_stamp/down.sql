ALTER TABLE login_challenges DROP COLUMN security_stamp;
