//! What a registry token may do: the scope grammar of the token protocol, Docker's
//! repository-name grammar, and the grant table: requested ∩ what the credential's scope
//! allows ∩ what the caller's permission in the namespace allows (`owners::permission`),
//! with a public repository's pull for anyone; for an organization access token, requested
//! ∩ what its resources give on a repository its organization has. Pure functions;
//! `authorization` applies them to a request.

use crate::org_tokens::resources::Resources;
use crate::owners::{Kind, Namespace, OwnerId, Permission, Ties};
use crate::tokens::Scope;

pub const PULL: &str = "pull";
pub const PUSH: &str = "push";
pub const DELETE: &str = "delete";

/// One `type:name:actions` request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requested {
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// Parses a scope, splitting at the last colon for the actions (names may hold a colon).
/// Returns None for anything malformed; unknown types are kept and later granted nothing.
pub fn parse_scope(s: &str) -> Option<Requested> {
    let (head, actions) = s.rsplit_once(':')?;
    let (kind, name) = head.split_once(':')?;
    if kind.is_empty() || name.is_empty() || s.len() > 512 {
        return None;
    }
    let actions: Vec<String> = actions.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect();
    Some(Requested { kind: kind.to_string(), name: name.to_string(), actions })
}

/// Docker's grammar: lowercase components of `[a-z0-9]+(?:[._-][a-z0-9]+)*` joined by `/`,
/// at most 255 characters.
pub fn valid_repository_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(|component| {
        let b = component.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_lowercase() | b[0].is_ascii_digit()
            && b[b.len() - 1].is_ascii_lowercase() | b[b.len() - 1].is_ascii_digit()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
            && !b.windows(2).any(|w| b"._-".contains(&w[0]) && b"._-".contains(&w[1]))
    })
}

/// The registry's own, wider grammar: components of `[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*`
/// joined by `/`, at most 255 characters. A name of this grammar that `valid_repository_name`
/// refuses (`a__b`, `a--b`) is one the registry serves and Berth never records.
pub fn registry_repository_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 255 {
        return false;
    }
    name.split('/').all(|component| {
        let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        let separator = |run: &str| matches!(run, "." | "_" | "__") || (!run.is_empty() && run.bytes().all(|b| b == b'-'));
        let mut rest = component;
        loop {
            let word = rest.find(|c: char| !alnum(c)).unwrap_or(rest.len());
            if word == 0 {
                return false;
            }
            rest = &rest[word..];
            if rest.is_empty() {
                return true;
            }
            let run = rest.find(alnum).unwrap_or(rest.len());
            if !separator(&rest[..run]) {
                return false;
            }
            rest = &rest[run..];
        }
    })
}

/// Who is asking. The password (only while 2FA is off) counts as a "Read, Write, Delete"
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    User {
        user_id: i32,
        username: String,
        scope: Scope,
        operator: bool,
    },
    /// An organization access token: no user, no permission anywhere; what its resources
    /// name in its own organization, and public pulls with `*/*/public`.
    OrgToken {
        token_id: i32,
        org: OwnerId,
        org_name: String,
        resources: Resources,
    },
}

impl Credential {
    /// The user the credential speaks for, whose permission in a namespace counts.
    pub fn user_id(&self) -> Option<i32> {
        match self {
            Credential::User { user_id, .. } => Some(*user_id),
            Credential::Anonymous | Credential::OrgToken { .. } => None,
        }
    }

    /// The JWT's subject: the username, the organization's name, or nobody.
    pub fn subject(&self) -> &str {
        match self {
            Credential::User { username, .. } => username,
            Credential::OrgToken { org_name, .. } => org_name,
            Credential::Anonymous => "",
        }
    }
}

/// What Berth knows of a repository's namespace and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoFacts {
    /// The namespace's owner, when it may be used (a user's own only while the user is
    /// enabled).
    pub owner: Option<Namespace>,
    /// `Some(is_public)` once the repository is recorded.
    pub public: Option<bool>,
    /// The record's id, once recorded: teams' and collaborators' permissions name it.
    pub repository_id: Option<i32>,
    /// The caller's ties to it (role, teams, collaboration), read with it.
    pub ties: Ties,
    /// When a push was last granted (noted at most once a minute).
    pub last_push_at: Option<crate::clock::Timestamp>,
}

/// Every action, the narrowest first: each permission and scope allows a prefix of it.
static ACTIONS: [&str; 3] = [PULL, PUSH, DELETE];

/// How far along `ACTIONS` a permission in the namespace reaches.
fn reach_of_permission(permission: Permission) -> usize {
    match permission {
        Permission::None => 0,
        Permission::Read => 1,
        Permission::Write => 2,
        Permission::Admin => 3,
    }
}

/// How far along `ACTIONS` a credential's scope reaches where the caller has permission.
fn reach_of_credential(credential: &Credential) -> usize {
    match credential {
        // an organization access token holds no permission: `reach_of_org_token` decides
        Credential::Anonymous | Credential::OrgToken { .. } => 0,
        Credential::User { scope, .. } => match scope {
            Scope::Admin => 3,
            Scope::Write => 2,
            Scope::Read => 1,
            // the public pull below is all it takes
            Scope::PublicRead => 0,
        },
    }
}

/// The actions `credential` may take on repository `name` (already grammar-checked), for a
/// caller holding `permission` in its namespace: what both the permission and the
/// credential's scope reach, and pull of a public repository for anyone. A name of one
/// component, or a namespace without a usable owner, gets nothing.
pub fn allowed(credential: &Credential, permission: Permission, name: &str, facts: RepoFacts) -> &'static [&'static str] {
    if !name.contains('/') || facts.owner.is_none() {
        return &[];
    }
    if let Credential::OrgToken { org, resources, .. } = credential {
        return &ACTIONS[..reach_of_org_token(*org, resources, name, facts)];
    }
    let mut reach = reach_of_permission(permission).min(reach_of_credential(credential));
    if facts.public == Some(true) {
        reach = reach.max(1);
    }
    &ACTIONS[..reach]
}

/// How far along `ACTIONS` an organization access token of `org` reaches on repository
/// `name`: what its resources give there, on a repository of its own organization that
/// exists (a push never creates one); and pull of a public repository, anyone's, with
/// `*/*/public`. Nothing else, not even another namespace's public pull without it.
fn reach_of_org_token(org: OwnerId, resources: &Resources, name: &str, facts: RepoFacts) -> usize {
    let mut reach = 0;
    let recorded_here = facts.owner.is_some_and(|o| o.id == org) && facts.repository_id.is_some();
    if recorded_here && let Some(scope) = resources.scope_in_organization(name) {
        reach = scope.reach();
    }
    if facts.public == Some(true) && resources.pulls_public() {
        reach = reach.max(1);
    }
    reach
}

/// Whether `credential`'s scope reaches private repositories at all (a "Public Repo
/// Read-only" token does not): listings then show the private repositories the caller may
/// pull (`repositories::sight`), so a listing never shows what `/token` would refuse.
pub fn reaches_private_repositories(credential: &Credential) -> bool {
    let somewhere = Namespace { id: OwnerId(0), kind: Kind::User, user_id: None };
    let private = RepoFacts { owner: Some(somewhere), public: Some(false), repository_id: Some(0), last_push_at: None, ties: Ties::default() };
    allowed(credential, Permission::Admin, "namespace/repository", private).contains(&PULL)
}

/// requested ∩ allowed, in a stable order; a requested `*` means everything allowed,
/// answered explicitly.
pub fn intersect(requested: &[String], allowed: &[&'static str]) -> Vec<String> {
    let everything = requested.iter().any(|a| a == "*");
    allowed.iter().filter(|a| everything || requested.iter().any(|r| r == *a)).map(|a| a.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::org_tokens::resources::{ImageScope, Resource};
    use proptest::prelude::*;

    fn user(name: &str, scope: Scope) -> Credential {
        Credential::User { user_id: 1, username: name.into(), scope, operator: false }
    }
    const ALICE: Namespace = Namespace { id: OwnerId(1), kind: Kind::User, user_id: Some(1) };
    const OWN_PRIVATE: RepoFacts = RepoFacts {
        owner: Some(ALICE),
        public: Some(false),
        repository_id: Some(1),
        last_push_at: None,
        ties: Ties { role: None, teams: Permission::None, collaborator: Permission::None, two_factor_missing: false },
    };
    const PUBLIC: RepoFacts = RepoFacts {
        owner: Some(ALICE),
        public: Some(true),
        repository_id: Some(1),
        last_push_at: None,
        ties: Ties { role: None, teams: Permission::None, collaborator: Permission::None, two_factor_missing: false },
    };
    const NEW: RepoFacts = RepoFacts {
        owner: Some(ALICE),
        public: None,
        repository_id: None,
        last_push_at: None,
        ties: Ties { role: None, teams: Permission::None, collaborator: Permission::None, two_factor_missing: false },
    };
    /// The caller's own namespace: admin.
    const MINE: Permission = Permission::Admin;
    /// Someone else's namespace: nothing.
    const THEIRS: Permission = Permission::None;

    #[test]
    fn scopes_split_at_the_last_colon() {
        assert_eq!(parse_scope("repository:alice/app:pull,push").unwrap().actions, vec!["pull", "push"]);
        let r = parse_scope("repository:host:5000/alice/app:pull").unwrap();
        assert_eq!((r.kind.as_str(), r.name.as_str()), ("repository", "host:5000/alice/app"));
        assert_eq!(parse_scope("registry:catalog:*").unwrap().actions, vec!["*"]);
        for bad in ["", "repository", "repository:alice/app", ":x:pull", "repository::pull"] {
            assert!(parse_scope(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn repository_names_follow_dockers_grammar() {
        for ok in ["alice/app", "alice/app-1", "alice/a.b_c", "alice/team/app", "a1/b2"] {
            assert!(valid_repository_name(ok), "{ok}");
        }
        for bad in ["", "Alice/app", "alice/app-", "alice//app", "alice/-app", "alice/a..b", "alice/app:1", "alice/äpp", &"a/".repeat(200)] {
            assert!(!valid_repository_name(bad), "{bad}");
            assert!(!registry_repository_name(bad), "{bad}");
        }
        for ok in ["alice/app", "alice/team/app", "alice/a__b", "alice/a---b", "a1/b.c_d-e"] {
            assert!(registry_repository_name(ok), "{ok}");
        }
        for bad in ["alice/a___b", "alice/a._b", "alice/_a", "../../etc", "alice/a-"] {
            assert!(!registry_repository_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_grant_table_of_product_md() {
        // own repositories
        assert_eq!(allowed(&user("alice", Scope::Admin), MINE, "alice/app", OWN_PRIVATE), &[PULL, PUSH, DELETE]);
        assert_eq!(allowed(&user("alice", Scope::Write), MINE, "alice/app", OWN_PRIVATE), &[PULL, PUSH]);
        assert_eq!(allowed(&user("alice", Scope::Read), MINE, "alice/app", OWN_PRIVATE), &[PULL]);
        assert_eq!(allowed(&user("alice", Scope::PublicRead), MINE, "alice/app", OWN_PRIVATE), &[] as &[&str]);
        assert_eq!(allowed(&user("alice", Scope::PublicRead), MINE, "alice/app", PUBLIC), &[PULL]);
        assert_eq!(allowed(&user("alice", Scope::Admin), MINE, "alice/new", NEW), &[PULL, PUSH, DELETE], "push creates");
        // other users' repositories: pull of public ones only, whatever the scope
        for scope in Scope::ALL {
            assert_eq!(allowed(&user("bob", scope), THEIRS, "alice/app", PUBLIC), &[PULL]);
            assert_eq!(allowed(&user("bob", scope), THEIRS, "alice/app", OWN_PRIVATE), &[] as &[&str]);
        }
        assert_eq!(allowed(&Credential::Anonymous, THEIRS, "alice/app", PUBLIC), &[PULL]);
        assert_eq!(allowed(&Credential::Anonymous, THEIRS, "alice/app", OWN_PRIVATE), &[] as &[&str]);
        // one component or an unknown namespace: nothing
        assert_eq!(allowed(&user("alice", Scope::Admin), MINE, "alice", OWN_PRIVATE), &[] as &[&str]);
        assert_eq!(
            allowed(
                &user("ghost", Scope::Admin),
                MINE,
                "ghost/app",
                RepoFacts {
                    owner: None,
                    public: None,
                    repository_id: None,
                    last_push_at: None,
                    ties: Ties { role: None, teams: Permission::None, collaborator: Permission::None, two_factor_missing: false }
                }
            ),
            &[] as &[&str]
        );
    }

    /// The grant follows the permission the caller holds in the namespace, never the names:
    /// the credential's username being a prefix of the namespace (`al` and `alice`), or even
    /// equal to it, grants nothing without the permission; a narrower permission (an
    /// organization's read-only member, later) caps even a "Read, Write, Delete" token.
    #[test]
    fn the_grant_is_decided_by_the_permission_in_the_namespace_not_by_names() {
        for scope in Scope::ALL {
            assert_eq!(allowed(&user("al", scope), Permission::None, "alice/app", OWN_PRIVATE), &[] as &[&str], "{scope:?}");
            assert_eq!(allowed(&user("al", scope), Permission::None, "alice/new", NEW), &[] as &[&str], "no push creates in another namespace");
            assert_eq!(allowed(&user("alice", scope), Permission::None, "alice/app", OWN_PRIVATE), &[] as &[&str], "a matching name alone is nothing");
        }
        assert_eq!(allowed(&user("al", Scope::Admin), Permission::Read, "alice/app", OWN_PRIVATE), &[PULL]);
        assert_eq!(allowed(&user("al", Scope::Admin), Permission::Write, "alice/app", OWN_PRIVATE), &[PULL, PUSH]);
        assert_eq!(allowed(&user("al", Scope::Read), Permission::Write, "alice/app", OWN_PRIVATE), &[PULL], "the scope still caps");
        assert_eq!(allowed(&user("al", Scope::Admin), Permission::Admin, "alice/app", OWN_PRIVATE), &[PULL, PUSH, DELETE]);
        // the permission comes from the owner, never from the name: `al` in `alice`'s namespace
        let al = 2;
        assert_eq!(crate::owners::permission(Some(al), &ALICE), Permission::None);
        assert_eq!(crate::owners::permission(ALICE.user_id, &ALICE), Permission::Admin);
    }

    const ACME: Namespace = Namespace { id: OwnerId(7), kind: Kind::Organization, user_id: None };
    const GLOBEX: Namespace = Namespace { id: OwnerId(8), kind: Kind::Organization, user_id: None };

    fn oat(resources: &[(&str, ImageScope)]) -> Credential {
        let resources = Resources(resources.iter().map(|(path, scope)| Resource { path: path.to_string(), scope: *scope }).collect());
        Credential::OrgToken { token_id: 1, org: ACME.id, org_name: "acme".into(), resources }
    }

    /// Every resource × scope × repository combination an organization access token meets,
    /// against an oracle written out by hand: what the resource gives on a recorded
    /// repository of its own organization, public pull only through `*/*/public`, and
    /// nothing on a repository that does not exist or lies outside the organization — and
    /// the permission passed in (none: a token is nobody's) never matters.
    #[test]
    fn an_organization_tokens_grant_for_every_resource_scope_and_repository() {
        let facts = |owner: Namespace, public: Option<bool>| RepoFacts { owner: Some(owner), public, repository_id: public.map(|_| 1), last_push_at: None, ties: Ties::default() };
        // (repository, its facts, what it is)
        let repositories = [
            ("acme/app", facts(ACME, Some(false)), "the named private repository"),
            ("acme/app", facts(ACME, Some(true)), "the named repository, public"),
            ("acme/other", facts(ACME, Some(false)), "another private repository of acme"),
            ("acme/other", facts(ACME, Some(true)), "another public repository of acme"),
            ("acme/team/tool", facts(ACME, Some(false)), "a nested private repository of acme"),
            ("acme/new", facts(ACME, None), "a repository acme does not have"),
            ("globex/app", facts(GLOBEX, Some(false)), "another organization's private repository"),
            ("globex/app", facts(GLOBEX, Some(true)), "another organization's public repository"),
            ("alice/app", facts(ALICE, Some(true)), "a user's public repository"),
            ("alice/app", facts(ALICE, Some(false)), "a user's private repository"),
            ("globex/new", facts(GLOBEX, None), "a repository globex does not have"),
        ];
        const NOTHING: &[&str] = &[];
        const PULLS: &[&str] = &[PULL];
        for scope in ImageScope::ALL {
            let all: &[&str] = &ACTIONS[..scope.reach()];
            // (resources, what each repository above is granted, in order)
            type Case<'a> = (Vec<(&'a str, ImageScope)>, [&'a [&'a str]; 11]);
            let cases: [Case; 5] = [
                (vec![("acme/app", scope)], [all, all, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING]),
                (vec![("acme/*", scope)], [all, all, all, all, all, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING]),
                (vec![("*/*/public", ImageScope::Pull)], [NOTHING, PULLS, NOTHING, PULLS, NOTHING, NOTHING, NOTHING, PULLS, PULLS, NOTHING, NOTHING]),
                (vec![("acme/app", scope), ("*/*/public", ImageScope::Pull)], [all, all, NOTHING, PULLS, NOTHING, NOTHING, NOTHING, PULLS, PULLS, NOTHING, NOTHING]),
                (vec![("acme/*", ImageScope::Pull), ("acme/app", scope)], [all, all, PULLS, PULLS, PULLS, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING, NOTHING]),
            ];
            for (resources, expected) in cases {
                let token = oat(&resources);
                for ((name, facts, what), want) in repositories.iter().zip(expected) {
                    for permission in [Permission::None, Permission::Admin] {
                        assert_eq!(allowed(&token, permission, name, *facts), want, "{resources:?} on {what} ({name}), permission {permission:?}");
                    }
                }
            }
        }
        // the requested actions still cap it; a star is answered explicitly
        let token = oat(&[("acme/app", ImageScope::Push)]);
        let granted = allowed(&token, Permission::None, "acme/app", facts(ACME, Some(false)));
        assert_eq!(intersect(&["pull".into(), "push".into(), "delete".into()], granted), ["pull", "push"]);
        assert_eq!(intersect(&["*".into()], granted), ["pull", "push"]);
        assert_eq!(intersect(&["delete".into()], granted), Vec::<String>::new());
        // a one-component name or an unknown namespace: nothing
        assert_eq!(allowed(&oat(&[("acme/*", ImageScope::Delete)]), Permission::None, "acme", facts(ACME, Some(false))), NOTHING);
        let unknown = RepoFacts { owner: None, public: None, repository_id: None, last_push_at: None, ties: Ties::default() };
        assert_eq!(allowed(&oat(&[("*/*/public", ImageScope::Pull)]), Permission::None, "ghost/app", unknown), NOTHING);
        assert_eq!(oat(&[]).user_id(), None, "a token is nobody: no user's permission is read for it");
        assert_eq!(oat(&[]).subject(), "acme");
    }

    #[test]
    fn only_scopes_that_pull_private_repositories_see_them_listed() {
        for (scope, sees) in [(Scope::Admin, true), (Scope::Write, true), (Scope::Read, true), (Scope::PublicRead, false)] {
            assert_eq!(reaches_private_repositories(&user("alice", scope)), sees, "{scope:?}");
        }
        assert!(!reaches_private_repositories(&Credential::Anonymous));
    }

    #[test]
    fn a_star_is_answered_with_explicit_actions() {
        let req = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(intersect(&req(&["*"]), &[PULL, PUSH]), vec!["pull", "push"]);
        assert_eq!(intersect(&req(&["push", "pull"]), &[PULL]), vec!["pull"]);
        assert_eq!(intersect(&req(&["delete"]), &[PULL, PUSH]), Vec::<String>::new());
    }

    proptest! {
        #[test]
        fn scope_parsing_never_panics(s in "\\PC{0,80}") {
            let _ = parse_scope(&s);
            let _ = valid_repository_name(&s);
        }
    }
}
