DROP TABLE recent_index_pulls;
DROP TABLE registry_events_seen;
DROP TABLE tags;
DROP TABLE manifests;
ALTER TABLE repositories DROP COLUMN last_pulled_at;
ALTER TABLE repositories DROP COLUMN pull_count;
