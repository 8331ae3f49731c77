-- What the organization's overview shows of a large organization, kept by the database
-- itself instead of counted at every view: its number of members and of repositories (on
-- the owner), each member's number of teams there, and the member's username beside the
-- membership, so that a page of members in username order is a range of one index. The
-- triggers fire for every insert and delete, those of a cascade (a deleted account, a
-- removed member, a deleted team or repository) included, so no count can drift. A
-- username never changes, so its copy cannot go stale.
ALTER TABLE owners ADD COLUMN member_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE owners ADD COLUMN repository_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE org_members ADD COLUMN username TEXT NOT NULL DEFAULT '';
ALTER TABLE org_members ADD COLUMN team_count BIGINT NOT NULL DEFAULT 0;
UPDATE org_members SET
    username = (SELECT username FROM users WHERE users.id = org_members.user_id),
    team_count = (SELECT count(*) FROM team_members JOIN teams ON teams.id = team_members.team_id
                  WHERE team_members.user_id = org_members.user_id AND teams.owner_id = org_members.owner_id);
UPDATE owners SET
    member_count = (SELECT count(*) FROM org_members WHERE org_members.owner_id = owners.id),
    repository_count = (SELECT count(*) FROM repositories WHERE repositories.owner_id = owners.id);
-- the overview's page of members, by username
CREATE INDEX org_members_username ON org_members (owner_id, username);

CREATE TRIGGER org_members_counted_in AFTER INSERT ON org_members
BEGIN
    UPDATE org_members SET username = (SELECT username FROM users WHERE id = NEW.user_id)
        WHERE owner_id = NEW.owner_id AND user_id = NEW.user_id;
    UPDATE owners SET member_count = member_count + 1 WHERE id = NEW.owner_id;
END;
CREATE TRIGGER org_members_counted_out AFTER DELETE ON org_members
BEGIN
    UPDATE owners SET member_count = member_count - 1 WHERE id = OLD.owner_id;
END;
CREATE TRIGGER repositories_counted_in AFTER INSERT ON repositories
BEGIN
    UPDATE owners SET repository_count = repository_count + 1 WHERE id = NEW.owner_id;
END;
CREATE TRIGGER repositories_counted_out AFTER DELETE ON repositories
BEGIN
    UPDATE owners SET repository_count = repository_count - 1 WHERE id = OLD.owner_id;
END;
-- A membership of a team counts for its member in the team's organization. When the team
-- itself is deleted its row is gone before the cascade deletes its memberships (the
-- owner read there finds nothing), so the team's delete takes its members' counts down first.
CREATE TRIGGER team_members_counted_for_member_in AFTER INSERT ON team_members
BEGIN
    UPDATE org_members SET team_count = team_count + 1
        WHERE user_id = NEW.user_id AND owner_id = (SELECT owner_id FROM teams WHERE id = NEW.team_id);
END;
CREATE TRIGGER team_members_counted_for_member_out AFTER DELETE ON team_members
BEGIN
    UPDATE org_members SET team_count = team_count - 1
        WHERE user_id = OLD.user_id AND owner_id = (SELECT owner_id FROM teams WHERE id = OLD.team_id);
END;
CREATE TRIGGER teams_uncounted_for_members BEFORE DELETE ON teams
BEGIN
    UPDATE org_members SET team_count = team_count - 1
        WHERE owner_id = OLD.owner_id AND user_id IN (SELECT user_id FROM team_members WHERE team_id = OLD.id);
END;
