//! Repositories as Berth records them: created at the first authorized push (or ahead of
//! it from the pages), private unless `BERTH_DEFAULT_VISIBILITY=public`. A repository
//! belongs to an owner (`owners`): its name is the owner's name, a slash, and its path.

pub mod readme;
pub mod sharing;
pub mod tags;

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::clock::Timestamp;
use crate::db::schema::{collaborators, org_members, owners, repositories, team_members, team_permissions, users};
use crate::owners::{Kind, Namespace, Owner, OwnerId, Permission, Role, Ties};
use crate::registry::grants::RepoFacts;

/// The facts the grant needs about `name` (grammar already checked): its namespace's owner,
/// when it may be used, the repository's record, and `caller`'s ties to it (role, teams'
/// permission, collaboration, the two-factor rule). `home` is the caller's own namespace
/// (its name and owner), when known: a request for it (nearly every push and pull) then
/// reads the repository alone, as the caller's own namespace gives them admin. Any other
/// namespace is one indexed read of the owner, the repository and the caller's membership,
/// then only the ties that can matter: the teams' permission on an existing repository for
/// a member, the collaboration on an existing personal one, the second factors where an
/// organization requires them — a member's `/token` in an organization costs one short read
/// more than in their own namespace, whatever the number of teams and repositories.
///
/// Every statement runs on the backend's own connection, not through the `MultiConnection`:
/// only there does diesel key its prepared-statement cache by the statement's type, so each
/// is rendered and prepared once per connection (through the `MultiConnection` its whole
/// text is rendered at every request to find it in the cache). The strings bound are owned:
/// a statement cached by its type holds no borrowed data.
pub fn facts(conn: &mut Conn, name: &str, home: Option<(&str, Namespace)>, caller: Option<i32>) -> Result<RepoFacts, Error> {
    let namespace = name.split('/').next().unwrap_or("");
    let name = name.to_string();
    if let Some((_, owner)) = home.filter(|(home_name, _)| *home_name == namespace) {
        let repo: Option<(i32, bool, Option<Timestamp>)> = crate::db::per_backend!(conn, |c| repositories::table
            .filter(repositories::name.eq(name))
            .select((repositories::id, repositories::is_public, repositories::last_push_at))
            .first(c)
            .optional())?;
        let (repository_id, public, last_push_at) = (repo.map(|r| r.0), repo.map(|r| r.1), repo.and_then(|r| r.2));
        return Ok(RepoFacts { owner: Some(owner), repository_id, public, last_push_at, ties: Ties::default() });
    }
    // no user has id 0: an anonymous caller is nobody's member or collaborator
    let caller_id = caller.unwrap_or(0);
    type Row = (i32, String, Option<i32>, Option<bool>, Option<i32>, Option<bool>, Option<Timestamp>, Option<String>, bool, String);
    let namespace = namespace.to_string();
    let found: Option<Row> = crate::db::per_backend!(conn, |c| owners::table
        .left_join(users::table)
        .left_join(repositories::table.on(repositories::owner_id.eq(owners::id).and(repositories::name.eq(name))))
        .left_join(org_members::table.on(org_members::owner_id.eq(owners::id).and(org_members::user_id.eq(caller_id))))
        .filter(owners::name.eq(namespace))
        .select((
            owners::id,
            owners::kind,
            owners::user_id,
            users::is_disabled.nullable(),
            repositories::id.nullable(),
            repositories::is_public.nullable(),
            repositories::last_push_at.nullable(),
            org_members::role.nullable(),
            owners::require_two_factor,
            owners::plan,
        ))
        .first(c)
        .optional())?;
    let Some((id, kind, user_id, disabled, repository_id, public, last_push_at, role, required, plan)) = found else {
        return Ok(RepoFacts { owner: None, public: None, repository_id: None, last_push_at: None, ties: Ties::default() });
    };
    // a disabled user's namespace is closed to everyone, its public repositories included
    let owner = (disabled != Some(true)).then(|| Namespace::from_columns(id, &kind, user_id));
    let role: Option<Role> = role.and_then(|r| r.parse().ok());
    let mut ties = Ties { role, ..Ties::default() };
    match (owner.as_ref().map(|o| o.kind), repository_id) {
        (Some(Kind::Organization), Some(repository)) if role.is_some() => {
            let held: Vec<String> = crate::db::per_backend!(conn, |c| team_permissions::table
                .inner_join(team_members::table.on(team_members::team_id.eq(team_permissions::team_id)))
                .filter(team_permissions::repository_id.eq(repository))
                .filter(team_members::user_id.eq(caller_id))
                .select(team_permissions::permission)
                .load(c))?;
            ties.teams = held.iter().filter_map(|p| Permission::parse(p)).max().unwrap_or_default();
        }
        (Some(Kind::User), Some(repository)) if caller.is_some() => {
            let given: Option<String> = crate::db::per_backend!(conn, |c| collaborators::table
                .filter(collaborators::repository_id.eq(repository))
                .filter(collaborators::user_id.eq(caller_id))
                .select(collaborators::permission)
                .first(c)
                .optional())?;
            ties.collaborator = given.and_then(|p| Permission::parse(&p)).unwrap_or_default();
        }
        _ => {}
    }
    if role.is_some() && required && plan == crate::owners::Plan::Business.as_str() {
        let factors: i64 = crate::db::per_backend!(conn, |c| users::table.find(caller_id).select(users::second_factor_count).first(c))?;
        ties.two_factor_missing = factors == 0;
    }
    Ok(RepoFacts { owner, public, repository_id, last_push_at, ties })
}

/// A push grant's time is noted at most this often per repository: every `docker push`
/// asks for a token (often several), and a write per request would serialise them all.
pub const PUSH_NOTED_EVERY: Timestamp = 60;

/// Whether a push grant at `now` must be written: the repository is new, or its last
/// noted push is a minute old.
pub fn push_needs_recording(facts: &RepoFacts, now: Timestamp) -> bool {
    facts.public.is_none() || facts.last_push_at.is_none_or(|t| now - t >= PUSH_NOTED_EVERY)
}

/// Records a push grant: creates the repository the first time, notes the push time.
/// The upsert re-checks the minute itself, so of concurrent requests that all saw the note
/// due only one writes it (the others' conflicting insert updates nothing).
pub fn record_push(conn: &mut Conn, owner: OwnerId, name: &str, public_by_default: bool, now: Timestamp) -> Result<(), Error> {
    crate::db::upsert::repository_push(conn, owner.0, name, public_by_default, now, PUSH_NOTED_EVERY)?;
    Ok(())
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = repositories)]
pub struct Repository {
    pub id: i32,
    pub owner_id: i32,
    pub name: String,
    pub is_public: bool,
    pub created_at: Timestamp,
    pub last_push_at: Option<Timestamp>,
}

/// Every repository of `owner`, by name.
pub fn list(conn: &mut Conn, owner: OwnerId) -> Result<Vec<Repository>, Error> {
    Ok(repositories::table.filter(repositories::owner_id.eq(owner.0)).order(repositories::name.asc()).select(Repository::as_select()).load(conn)?)
}

/// Every repository's full name, by name (what `berth registry sync` compares the
/// registry's catalog with).
pub fn all_names(conn: &mut Conn) -> Result<Vec<String>, Error> {
    Ok(repositories::table.order(repositories::name.asc()).select(repositories::name).load(conn)?)
}

/// Whether `owner` has a repository called `name`.
pub fn owns(conn: &mut Conn, owner: OwnerId, name: &str) -> Result<bool, Error> {
    let found = repositories::table.filter(repositories::owner_id.eq(owner.0)).filter(repositories::name.eq(name)).select(repositories::id).first::<i32>(conn).optional()?;
    Ok(found.is_some())
}

/// What a viewer may see of a namespace's repositories: all of them, the public ones, or
/// the public ones and those shared with the viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sight {
    All,
    PublicOnly,
    /// Public, and private ones where this user holds a permission (a team's or a
    /// collaborator's).
    PublicAndSharedWith(i32),
}

/// What `viewer` (a user's id; `None` anonymous) sees of `owner`'s repositories, with
/// `private_allowed` false when the credential itself reaches public repositories only (a
/// "Public Repo Read-only" token). The same rule as `owners::permission_on`: the user of a
/// user's own namespace, an organization's owners and editors see everything; an
/// organization's members and a repository's collaborators the private repositories they
/// may pull. A member of an organization requiring two-factor authentication who has none
/// sees its public repositories only.
pub fn sight(conn: &mut Conn, viewer: Option<i32>, owner: &Owner, private_allowed: bool) -> Result<Sight, Error> {
    let Some(viewer) = viewer.filter(|_| private_allowed) else { return Ok(Sight::PublicOnly) };
    match owner.kind {
        Kind::User if owner.user_id == Some(viewer) => Ok(Sight::All),
        Kind::User => Ok(Sight::PublicAndSharedWith(viewer)),
        Kind::Organization => match crate::owners::standing(conn, viewer, owner.id)? {
            Some(s) if s.two_factor_missing => Ok(Sight::PublicOnly),
            Some(s) if s.role.manages_repositories() => Ok(Sight::All),
            Some(_) => Ok(Sight::PublicAndSharedWith(viewer)),
            None => Ok(Sight::PublicOnly),
        },
    }
}

/// The order of a repository listing: by name unless asked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Name,
    NameDescending,
    /// The latest push first; never-pushed ones last.
    LatestPushFirst,
    /// The oldest push first; never-pushed ones last.
    OldestPushFirst,
}

impl Order {
    /// Docker Hub's `ordering` values, which read the other way round from the usual `-`
    /// rule: `last_updated` is the latest first and `-name` is A to Z (Docker's Hub CLI sorts
    /// "ascending" with `-name` and `last_updated`). Anything else is `None`.
    pub fn from_hub(raw: &str) -> Option<Order> {
        match raw {
            "-name" => Some(Order::Name),
            "name" => Some(Order::NameDescending),
            "last_updated" => Some(Order::LatestPushFirst),
            "-last_updated" => Some(Order::OldestPushFirst),
            _ => None,
        }
    }
}

type RepositoryQuery = diesel::dsl::IntoBoxed<'static, repositories::table, crate::db::Backend>;

/// `query` in `order`, by name after the push time.
fn ordered(query: RepositoryQuery, order: Order) -> RepositoryQuery {
    match order {
        Order::Name => query.order(repositories::name.asc()),
        Order::NameDescending => query.order(repositories::name.desc()),
        Order::LatestPushFirst => query.order((repositories::last_push_at.is_null().asc(), repositories::last_push_at.desc(), repositories::name.asc())),
        Order::OldestPushFirst => query.order((repositories::last_push_at.is_null().asc(), repositories::last_push_at.asc(), repositories::name.asc())),
    }
}

/// One page of `owner`'s repositories as `sight` lets them be seen, in `order`. Returns
/// (page, total).
pub fn visible(conn: &mut Conn, owner: OwnerId, sight: Sight, order: Order, page: i64, per_page: i64) -> Result<(Vec<Repository>, i64), Error> {
    let query = || {
        let q = repositories::table.filter(repositories::owner_id.eq(owner.0)).into_boxed();
        match sight {
            Sight::All => q,
            Sight::PublicOnly => q.filter(repositories::is_public.eq(true)),
            Sight::PublicAndSharedWith(user) => {
                let through_teams = team_permissions::table
                    .inner_join(team_members::table.on(team_members::team_id.eq(team_permissions::team_id)))
                    .filter(team_members::user_id.eq(user))
                    .select(team_permissions::repository_id);
                let as_collaborator = collaborators::table.filter(collaborators::user_id.eq(user)).select(collaborators::repository_id);
                q.filter(repositories::is_public.eq(true).or(repositories::id.eq_any(through_teams)).or(repositories::id.eq_any(as_collaborator)))
            }
        }
    };
    // all of them are counted by the database as they come and go
    let total: i64 = match sight {
        Sight::All => owners::table.find(owner.0).select(owners::repository_count).first(conn)?,
        _ => query().count().get_result(conn)?,
    };
    let rows = ordered(query(), order).offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).select(Repository::as_select()).load(conn)?;
    Ok((rows, total))
}

/// One page of `owner`'s repositories named in `names`, and with `public_too` its public
/// ones as well (what an organization access token may pull there, which no `Sight`
/// says), in `order`. Returns (page, total).
pub fn visible_among(conn: &mut Conn, owner: OwnerId, names: &[String], public_too: bool, order: Order, page: i64, per_page: i64) -> Result<(Vec<Repository>, i64), Error> {
    let visible = || {
        let named = repositories::name.eq_any(names.to_vec());
        let q = repositories::table.filter(repositories::owner_id.eq(owner.0)).into_boxed();
        if public_too { q.filter(named.or(repositories::is_public.eq(true))) } else { q.filter(named) }
    };
    let total: i64 = visible().count().get_result(conn)?;
    let rows = ordered(visible(), order).offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).select(Repository::as_select()).load(conn)?;
    Ok((rows, total))
}

/// The repositories shared with `user` outside their own namespace, by name: every
/// repository of the organizations where they own or edit, the ones their teams hold a
/// permission on, and those they collaborate on (the `/repositories` page lists them under
/// the user's own). An organization that holds them back until they turn on two-factor
/// authentication shows its public repositories only, as its overview does.
pub fn shared_with(conn: &mut Conn, user: i32) -> Result<Vec<(Repository, Option<Role>)>, Error> {
    let managed: Vec<(i32, String)> = org_members::table
        .filter(org_members::user_id.eq(user))
        .filter(org_members::role.eq_any([Role::Owner.as_str(), Role::Editor.as_str()]))
        .select((org_members::owner_id, org_members::role))
        .load(conn)?;
    let managed_ids: Vec<i32> = managed.iter().map(|m| m.0).collect();
    let through_teams = team_permissions::table
        .inner_join(team_members::table.on(team_members::team_id.eq(team_permissions::team_id)))
        .filter(team_members::user_id.eq(user))
        .select(team_permissions::repository_id);
    let as_collaborator = collaborators::table.filter(collaborators::user_id.eq(user)).select(collaborators::repository_id);
    let member_of = org_members::table.filter(org_members::user_id.eq(user)).select(org_members::owner_id);
    let rows: Vec<Repository> = repositories::table
        .filter(
            repositories::owner_id
                .eq_any(managed_ids.clone())
                .or(repositories::id.eq_any(through_teams).and(repositories::owner_id.eq_any(member_of)))
                .or(repositories::id.eq_any(as_collaborator)),
        )
        .order(repositories::name.asc())
        .select(Repository::as_select())
        .load(conn)?;
    let roles: Vec<(i32, String)> = org_members::table.filter(org_members::user_id.eq(user)).select((org_members::owner_id, org_members::role)).load(conn)?;
    let held_back: Vec<OwnerId> = crate::owners::held_back_in(conn, user)?.into_iter().map(|(id, _)| id).collect();
    Ok(rows
        .into_iter()
        .filter(|r| r.is_public || !held_back.contains(&OwnerId(r.owner_id)))
        .map(|r| {
            let role = roles.iter().find(|(o, _)| *o == r.owner_id).and_then(|(_, role)| role.parse().ok());
            (r, role)
        })
        .collect())
}

/// One repository of `owner` by its full name.
pub fn find(conn: &mut Conn, owner: OwnerId, name: &str) -> Result<Option<Repository>, Error> {
    if name.contains('\0') {
        return Ok(None);
    }
    Ok(repositories::table.filter(repositories::owner_id.eq(owner.0)).filter(repositories::name.eq(name)).select(Repository::as_select()).first(conn).optional()?)
}

/// Creates `{owner}/{path}` ahead of the first push and returns its name. A name outside
/// the grammar, or one that exists, is refused beside the `path` field.
pub fn create(conn: &mut Conn, owner: &Owner, path: &str, public: bool, now: Timestamp) -> Result<String, Error> {
    let path = path.trim().trim_start_matches('/');
    let name = format!("{}/{path}", owner.name);
    if path.is_empty() || !crate::registry::grants::valid_repository_name(&name) {
        return Err(Error::invalid_field("path", "Use lowercase letters, digits and single . _ - between them; / separates levels."));
    }
    let inserted = crate::db::upsert::repository_if_new(conn, owner.id.0, &name, public, now)?;
    if inserted { Ok(name) } else { Err(Error::invalid_field("path", "This repository exists already.")) }
}

/// Forgets one of the owner's repositories (the registry's garbage collection frees the data).
pub fn delete(conn: &mut Conn, owner: OwnerId, name: &str) -> Result<bool, Error> {
    let n = diesel::delete(repositories::table.filter(repositories::owner_id.eq(owner.0)).filter(repositories::name.eq(name))).execute(conn)?;
    Ok(n == 1)
}

/// The repository `name` (`namespace/path`) when `caller` manages it: the owner of a
/// personal repository, an owner or editor of an organization's. Whoever may not even see
/// it gets `NotFound`; a collaborator, or a member who sees it, `Denied`.
pub fn managed_by(conn: &mut Conn, caller: i32, name: &str) -> Result<Repository, Error> {
    let namespace = name.split('/').next().unwrap_or("");
    let owner = crate::owners::find_by_name(conn, namespace)?.ok_or(Error::NotFound)?;
    let repo = find(conn, owner.id, name)?.ok_or(Error::NotFound)?;
    let ties = facts(conn, name, None, Some(caller))?.ties;
    let manages = match owner.kind {
        Kind::User if owner.user_id == Some(caller) => true,
        Kind::User if ties.collaborator > Permission::None => false,
        Kind::Organization if ties.role.is_some() => ties.role.is_some_and(Role::manages_repositories),
        _ => return Err(Error::NotFound),
    };
    if !manages {
        return Err(Error::denied("Only the repository's owner (for an organization, its owners and editors) may change this."));
    }
    Ok(repo)
}

/// The repository `name` when `caller` may delete its images: whoever `/token` would grant
/// `delete` there (`owners::permission_on` gives admin: a personal repository's owner, an
/// organization's owners and editors, a member whose team holds admin). Whoever may not
/// even pull it gets `NotFound`; one who may, `Denied`.
pub fn deletable_by(conn: &mut Conn, caller: i32, name: &str) -> Result<Repository, Error> {
    let namespace = name.split('/').next().unwrap_or("");
    let facts = facts(conn, name, None, Some(caller))?;
    let (Some(owner), Some(_)) = (facts.owner.as_ref(), facts.repository_id) else { return Err(Error::NotFound) };
    let permission = crate::owners::permission_on(Some(caller), owner, namespace, true, &facts.ties)?;
    let repo = find(conn, owner.id, name)?.ok_or(Error::NotFound)?;
    match permission {
        Permission::Admin => Ok(repo),
        Permission::None if !repo.is_public => Err(Error::NotFound),
        _ => Err(Error::denied("Deleting images needs admin on the repository: its owner (for an organization, its owners, editors and teams with admin).")),
    }
}

/// Characters of a repository's short description (one line).
pub const DESCRIPTION_MAX: usize = 100;
/// Characters of its README (Markdown), Docker Hub's limit.
pub const FULL_DESCRIPTION_MAX: usize = 25_000;

/// A short description: one line of at most `DESCRIPTION_MAX` characters, no control or
/// bidi characters; trimmed.
pub fn check_description(text: &str) -> Result<String, Error> {
    let text = text.trim();
    if text.chars().count() > DESCRIPTION_MAX {
        return Err(Error::invalid_field("description", format!("The description can be at most {DESCRIPTION_MAX} characters.")));
    }
    if let Some(hidden) = crate::text::hidden_controls(text) {
        return Err(Error::invalid_field("description", format!("The description {}", hidden.why())));
    }
    Ok(text.to_string())
}

/// A README: Markdown of at most `FULL_DESCRIPTION_MAX` characters; its lines may break and
/// indent, but no other control character nor bidi control may hide text in it.
pub fn check_full_description(text: &str) -> Result<String, Error> {
    if text.chars().count() > FULL_DESCRIPTION_MAX {
        return Err(Error::invalid_field("full_description", format!("The README can be at most {FULL_DESCRIPTION_MAX} characters.")));
    }
    let plain: String = text.chars().filter(|c| !matches!(c, '\n' | '\r' | '\t')).collect();
    if let Some(hidden) = crate::text::hidden_controls(&plain) {
        return Err(Error::invalid_field("full_description", format!("The README {}", hidden.why())));
    }
    Ok(text.to_string())
}

/// A repository's short description and README.
pub fn descriptions(conn: &mut Conn, repository_id: i32) -> Result<(String, String), Error> {
    Ok(repositories::table.find(repository_id).select((repositories::description, repositories::full_description)).first(conn)?)
}

/// Sets what is given of a repository's short description and README, each checked first.
pub fn describe(conn: &mut Conn, repository_id: i32, description: Option<&str>, full_description: Option<&str>) -> Result<(), Error> {
    let description = description.map(check_description).transpose()?;
    let full_description = full_description.map(check_full_description).transpose()?;
    crate::db::write_tx(conn, |c| {
        if let Some(d) = &description {
            diesel::update(repositories::table.find(repository_id)).set(repositories::description.eq(d)).execute(c)?;
        }
        if let Some(f) = &full_description {
            diesel::update(repositories::table.find(repository_id)).set(repositories::full_description.eq(f)).execute(c)?;
        }
        Ok(())
    })
}

/// Makes one of `user`'s own repositories public or private, noted in their activity log
/// in the same transaction (an organization's are in its audit log:
/// `orgs::repositories::set_public`). `false` when the user has no such repository; a
/// visibility set already changes and notes nothing.
pub fn change_visibility(conn: &mut Conn, user_id: i32, name: &str, public: bool, client: &crate::activity::Client, now: Timestamp) -> Result<bool, Error> {
    crate::db::write_tx(conn, |c| {
        let home = crate::owners::of_user(c, user_id)?;
        let Some(was) = find(c, home.id, name)? else { return Ok(false) };
        if was.is_public != public {
            set_public(c, home.id, name, public)?;
            let detail = format!("{name} made {}", if public { "public" } else { "private" });
            crate::activity::record(c, user_id, crate::activity::Event::RepositoryVisibilityChanged, &detail, client, now)?;
        }
        Ok(true)
    })
}

pub fn set_public(conn: &mut Conn, owner: OwnerId, name: &str, public: bool) -> Result<bool, Error> {
    let n =
        diesel::update(repositories::table.filter(repositories::owner_id.eq(owner.0)).filter(repositories::name.eq(name))).set(repositories::is_public.eq(public)).execute(conn)?;
    Ok(n == 1)
}
