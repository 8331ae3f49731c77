-- A team's number of members, kept by the database itself: the organization's overview
-- lists every team with it, and counting the memberships at every view costs as much as an
-- organization has of them. The triggers fire for every insert and delete, those of a
-- cascade (a deleted account, a removed member) included, so the count cannot drift.
ALTER TABLE teams ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;
UPDATE teams SET member_count = (SELECT count(*) FROM team_members WHERE team_members.team_id = teams.id);
CREATE TRIGGER team_members_counted_in AFTER INSERT ON team_members
BEGIN
    UPDATE teams SET member_count = member_count + 1 WHERE id = NEW.team_id;
END;
CREATE TRIGGER team_members_counted_out AFTER DELETE ON team_members
BEGIN
    UPDATE teams SET member_count = member_count - 1 WHERE id = OLD.team_id;
END;
