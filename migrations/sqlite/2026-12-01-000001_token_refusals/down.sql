ALTER TABLE access_tokens DROP COLUMN last_refused_ua;
ALTER TABLE access_tokens DROP COLUMN last_refused_ip;
ALTER TABLE access_tokens DROP COLUMN last_refused_at;
