//! What a registry token may do: the scope grammar of the token protocol, Docker's
//! repository-name grammar, and the grant table: requested ∩ what the credential's scope
//! allows ∩ what the caller's permission in the namespace allows (`owners::permission`),
//! with a public repository's pull for anyone. Pure functions; `authorization` applies
//! them to a request.

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

/// Who is asking. The password (only while 2FA is off) counts as a "Read, Write, Delete"
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Anonymous,
    User { user_id: i32, username: String, scope: Scope, operator: bool },
}

impl Credential {
    /// The user the credential speaks for, whose permission in a namespace counts.
    pub fn user_id(&self) -> Option<i32> {
        match self {
            Credential::User { user_id, .. } => Some(*user_id),
            Credential::Anonymous => None,
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
        Credential::Anonymous => 0,
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
    let mut reach = reach_of_permission(permission).min(reach_of_credential(credential));
    if facts.public == Some(true) {
        reach = reach.max(1);
    }
    &ACTIONS[..reach]
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
