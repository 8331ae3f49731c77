-- Organizations: owners of kind 'organization' (the owners table has them already), their
-- members with a role, teams with per-repository permissions, invitations, the
-- collaborators of a user's own repositories, the organization's audit log, and the names
-- no new account or organization may take.

-- The Business plan's setting: every member must use two-factor authentication to reach the
-- organization's repositories.
ALTER TABLE owners ADD COLUMN require_two_factor BOOLEAN NOT NULL DEFAULT 0;

-- Who belongs to an organization, and as what: an owner does everything, an editor manages
-- and pushes to every repository, a member has what their teams grant.
CREATE TABLE org_members (
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'member')),
    joined_at BIGINT NOT NULL,
    PRIMARY KEY (owner_id, user_id)
);
-- a user's organizations
CREATE INDEX org_members_user ON org_members (user_id);

-- Teams (Docker Hub's groups) of an organization; the name is unique in it.
CREATE TABLE teams (
    id INTEGER PRIMARY KEY NOT NULL,
    uuid TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX teams_owner_name ON teams (owner_id, name);
CREATE UNIQUE INDEX teams_uuid ON teams (uuid);

-- A team's members: members of its organization only (removing the member removes these).
CREATE TABLE team_members (
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);
-- the grant's read: the teams of one user
CREATE INDEX team_members_user ON team_members (user_id, team_id);

-- What a team may do in one of its organization's repositories.
CREATE TABLE team_permissions (
    team_id INTEGER NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('read', 'write', 'admin')),
    PRIMARY KEY (team_id, repository_id)
);
-- the grant's read: the teams with a permission on one repository
CREATE INDEX team_permissions_repository ON team_permissions (repository_id, team_id);

-- Users a user's own private repository is shared with.
CREATE TABLE collaborators (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    permission TEXT NOT NULL CHECK (permission IN ('read', 'write')),
    added_at BIGINT NOT NULL,
    PRIMARY KEY (repository_id, user_id)
);
CREATE INDEX collaborators_user ON collaborators (user_id);

-- An invitation to an organization, by username: accepted it makes a member with the role
-- (and the team); it expires. One open invitation per organization and invitee.
CREATE TABLE invitations (
    id INTEGER PRIMARY KEY NOT NULL,
    uuid TEXT NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    invitee_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- who invited, kept by name too: the inviter may leave or delete the account
    inviter_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    inviter_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'editor', 'member')),
    team_id INTEGER REFERENCES teams (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX invitations_uuid ON invitations (uuid);
CREATE UNIQUE INDEX invitations_owner_invitee ON invitations (owner_id, invitee_id);
CREATE INDEX invitations_invitee ON invitations (invitee_id);

-- An organization's audit log: what changed, by whom, from where. Actor and object are
-- kept by name, as they were then: both may be gone later.
CREATE TABLE org_events (
    id INTEGER PRIMARY KEY NOT NULL,
    owner_id INTEGER NOT NULL REFERENCES owners (id) ON DELETE CASCADE,
    -- Docker Hub's identifiers: team.create, member.removed, repo.change_privacy, ...
    action TEXT NOT NULL,
    -- what it was done to: a username, a team, a repository, a token's label
    name TEXT NOT NULL DEFAULT '',
    actor TEXT NOT NULL,
    -- a JSON object of details (a role, a permission, a visibility)
    data TEXT NOT NULL DEFAULT '{}',
    ip TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX org_events_owner_newest ON org_events (owner_id, id DESC);

-- Names of deleted accounts and organizations: nobody may take one again (a new `acme`
-- must never inherit the images under `acme/`) until an operator releases it.
CREATE TABLE reserved_names (
    name TEXT NOT NULL PRIMARY KEY,
    reserved_at BIGINT NOT NULL
);
