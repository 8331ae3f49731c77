DROP TRIGGER team_members_counted_out;
DROP TRIGGER team_members_counted_in;
ALTER TABLE teams DROP COLUMN member_count;
