-- What the organization's overview shows of a large organization, kept by the database
-- itself instead of counted at every view: its number of members and of repositories (on
-- the owner), each member's number of teams there, and the member's username beside the
-- membership, so that a page of members in username order is a range of one index. The
-- triggers fire for every insert and delete, those of a cascade (a deleted account, a
-- removed member, a deleted team or repository) included, so no count can drift; each
-- update takes the counted row's lock, so concurrent changes count one after the other. A
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

CREATE FUNCTION org_members_named() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.username := (SELECT username FROM users WHERE id = NEW.user_id);
    RETURN NEW;
END
$$;
CREATE TRIGGER org_members_named BEFORE INSERT ON org_members FOR EACH ROW EXECUTE FUNCTION org_members_named();

CREATE FUNCTION org_members_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE owners SET member_count = member_count + 1 WHERE id = NEW.owner_id;
    ELSE
        UPDATE owners SET member_count = member_count - 1 WHERE id = OLD.owner_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER org_members_counted AFTER INSERT OR DELETE ON org_members FOR EACH ROW EXECUTE FUNCTION org_members_count();

CREATE FUNCTION repositories_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE owners SET repository_count = repository_count + 1 WHERE id = NEW.owner_id;
    ELSE
        UPDATE owners SET repository_count = repository_count - 1 WHERE id = OLD.owner_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER repositories_counted AFTER INSERT OR DELETE ON repositories FOR EACH ROW EXECUTE FUNCTION repositories_count();

-- A membership of a team counts for its member in the team's organization. When the team
-- itself is deleted its row is gone before the cascade deletes its memberships (the
-- owner read there finds nothing), so the team's delete takes its members' counts down first.
CREATE FUNCTION team_members_count_for_member() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE org_members SET team_count = team_count + 1
            WHERE user_id = NEW.user_id AND owner_id = (SELECT owner_id FROM teams WHERE id = NEW.team_id);
    ELSE
        UPDATE org_members SET team_count = team_count - 1
            WHERE user_id = OLD.user_id AND owner_id = (SELECT owner_id FROM teams WHERE id = OLD.team_id);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER team_members_counted_for_member AFTER INSERT OR DELETE ON team_members FOR EACH ROW EXECUTE FUNCTION team_members_count_for_member();

CREATE FUNCTION teams_uncount_for_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE org_members SET team_count = team_count - 1
        WHERE owner_id = OLD.owner_id AND user_id IN (SELECT user_id FROM team_members WHERE team_id = OLD.id);
    RETURN OLD;
END
$$;
CREATE TRIGGER teams_uncounted_for_members BEFORE DELETE ON teams FOR EACH ROW EXECUTE FUNCTION teams_uncount_for_members();
