-- A team's number of members, kept by the database itself: the organization's overview
-- lists every team with it, and counting the memberships at every view costs as much as an
-- organization has of them. The trigger fires for every insert and delete, those of a
-- cascade (a deleted account, a removed member) included, so the count cannot drift; the
-- update takes the team's row lock, so concurrent changes count one after the other.
ALTER TABLE teams ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;
UPDATE teams SET member_count = (SELECT count(*) FROM team_members WHERE team_members.team_id = teams.id);
CREATE FUNCTION team_members_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE teams SET member_count = member_count + 1 WHERE id = NEW.team_id;
    ELSE
        UPDATE teams SET member_count = member_count - 1 WHERE id = OLD.team_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER team_members_counted AFTER INSERT OR DELETE ON team_members FOR EACH ROW EXECUTE FUNCTION team_members_count();
