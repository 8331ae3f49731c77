-- The last refused use of a deactivated or expired token, so its owner's activity log
-- records refusals as sparingly as last use: once a minute, or at once on a new IP or client.
ALTER TABLE access_tokens ADD COLUMN last_refused_at BIGINT;
ALTER TABLE access_tokens ADD COLUMN last_refused_ip TEXT;
ALTER TABLE access_tokens ADD COLUMN last_refused_ua TEXT;
