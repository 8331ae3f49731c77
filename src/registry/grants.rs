//! What a registry token may do: the scope grammar of the token protocol, Docker's
//! repository-name grammar, and grants = requested ∩ what the credential's scope allows ∩
//! what the user may do on that repository. Pure functions.

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
    User { username: String, scope: Scope, operator: bool },
}

/// What Berth knows of a repository's namespace and record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepoFacts {
    /// The namespace's owner, when it is an enabled user.
    pub owner_id: Option<i32>,
    /// `Some(is_public)` once the repository is recorded.
    pub public: Option<bool>,
    /// When a push was last granted (noted at most once a minute).
    pub last_push_at: Option<crate::clock::Timestamp>,
}

/// The actions `credential` may take on repository `name` (already grammar-checked).
pub fn allowed(credential: &Credential, name: &str, facts: RepoFacts) -> &'static [&'static str] {
    let Some((namespace, _)) = name.split_once('/') else { return &[] }; // one component: nothing
    if facts.owner_id.is_none() {
        return &[];
    }
    let public = facts.public == Some(true);
    match credential {
        Credential::User { username, scope, .. } if username == namespace => match scope {
            Scope::Admin => &[PULL, PUSH, DELETE],
            Scope::Write => &[PULL, PUSH],
            Scope::Read => &[PULL],
            Scope::PublicRead if public => &[PULL],
            Scope::PublicRead => &[],
        },
        _ if public => &[PULL],
        _ => &[],
    }
}

/// Whether `credential` may see the private repositories of `namespace` (the JSON API's
/// listing): exactly when `allowed` would let it pull a private repository there, so a
/// listing never shows what `/token` would refuse.
pub fn sees_private_repositories(credential: &Credential, namespace: &str) -> bool {
    let private = RepoFacts { owner_id: Some(0), public: Some(false), last_push_at: None };
    allowed(credential, &format!("{namespace}/_"), private).contains(&PULL)
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
        Credential::User { username: name.into(), scope, operator: false }
    }
    const OWN_PRIVATE: RepoFacts = RepoFacts { owner_id: Some(1), public: Some(false), last_push_at: None };
    const PUBLIC: RepoFacts = RepoFacts { owner_id: Some(1), public: Some(true), last_push_at: None };
    const NEW: RepoFacts = RepoFacts { owner_id: Some(1), public: None, last_push_at: None };

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
        assert_eq!(allowed(&user("alice", Scope::Admin), "alice/app", OWN_PRIVATE), &[PULL, PUSH, DELETE]);
        assert_eq!(allowed(&user("alice", Scope::Write), "alice/app", OWN_PRIVATE), &[PULL, PUSH]);
        assert_eq!(allowed(&user("alice", Scope::Read), "alice/app", OWN_PRIVATE), &[PULL]);
        assert_eq!(allowed(&user("alice", Scope::PublicRead), "alice/app", OWN_PRIVATE), &[] as &[&str]);
        assert_eq!(allowed(&user("alice", Scope::PublicRead), "alice/app", PUBLIC), &[PULL]);
        assert_eq!(allowed(&user("alice", Scope::Admin), "alice/new", NEW), &[PULL, PUSH, DELETE], "push creates");
        // other users' repositories: pull of public ones only, whatever the scope
        for scope in Scope::ALL {
            assert_eq!(allowed(&user("bob", scope), "alice/app", PUBLIC), &[PULL]);
            assert_eq!(allowed(&user("bob", scope), "alice/app", OWN_PRIVATE), &[] as &[&str]);
        }
        assert_eq!(allowed(&Credential::Anonymous, "alice/app", PUBLIC), &[PULL]);
        assert_eq!(allowed(&Credential::Anonymous, "alice/app", OWN_PRIVATE), &[] as &[&str]);
        // one component or an unknown namespace: nothing
        assert_eq!(allowed(&user("alice", Scope::Admin), "alice", OWN_PRIVATE), &[] as &[&str]);
        assert_eq!(allowed(&user("ghost", Scope::Admin), "ghost/app", RepoFacts { owner_id: None, public: None, last_push_at: None }), &[] as &[&str]);
    }

    #[test]
    fn only_scopes_that_pull_private_repositories_see_them_listed() {
        for (scope, sees) in [(Scope::Admin, true), (Scope::Write, true), (Scope::Read, true), (Scope::PublicRead, false)] {
            assert_eq!(sees_private_repositories(&user("alice", scope), "alice"), sees, "{scope:?}");
            assert!(!sees_private_repositories(&user("bobby", scope), "alice"), "another namespace, {scope:?}");
        }
        assert!(!sees_private_repositories(&Credential::Anonymous, "alice"));
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
