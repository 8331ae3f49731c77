DROP TABLE reserved_names;
DROP TABLE org_events;
DROP TABLE invitations;
DROP TABLE collaborators;
DROP TABLE team_permissions;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE org_members;
ALTER TABLE owners DROP COLUMN require_two_factor;
