DROP INDEX tags_pushed;
CREATE INDEX tags_pushed ON tags (repository_id, pushed_at);
