-- A tag list in push order pages through this index alone: the name breaks ties (a burst of
-- pushes lands in one second) in the direction of the order, so no list is sorted whole.
DROP INDEX tags_pushed;
CREATE INDEX tags_pushed ON tags (repository_id, pushed_at, name);
