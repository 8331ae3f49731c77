DROP TRIGGER team_members_counted ON team_members;
DROP FUNCTION team_members_count();
ALTER TABLE teams DROP COLUMN member_count;
