//! The `/token` grant decision, for a credential already checked: per requested resource,
//! requested ∩ what the grant table (`grants`) allows the caller with its permission in the
//! namespace (`owners::permission`); the registry catalog for operators only; and which
//! pushes are due to be noted on their repository. `endpoint` parses the request, checks the
//! credential, asks here and renders the answer.

use crate::db::Conn;

use super::grants::{self, Credential, Requested};
use super::jwt::Access;
use crate::Error;
use crate::app::AppState;
use crate::clock::Timestamp;
use crate::owners::{self, Namespace, OwnerId};
use crate::signin::DueWrites;
use crate::tokens::Scope;

/// A push granted on a repository, to be noted there: (its owner, its name).
pub type PushNote = (OwnerId, String);

/// The caller's own namespace (its name and owner) when the credential already told it (a
/// token brings its owner): requests there need no owner lookup.
pub type Home<'a> = Option<(&'a str, Namespace)>;

/// The grants of a credential already checked (a password, or anonymous), read and noted
/// on the blocking pool.
pub async fn grant(app: &AppState, credential: Credential, scopes: Vec<Requested>) -> Result<(Credential, Vec<Access>), Error> {
    if scopes.is_empty() {
        return Ok((credential, Vec::new()));
    }
    let (now, public_default) = (app.now(), app.settings.default_public);
    app.db(move |c| {
        let (access, pushes) = decide(c, &credential, None, scopes, now)?;
        record_pushes(c, &pushes, public_default, now)?;
        Ok((credential, access))
    })
    .await
}

/// The access list: per requested resource, requested ∩ allowed; and the push grants due
/// to be noted on their repository (a new one, or the last noted a minute ago). Reads only,
/// so it may run on a read-only connection; one read per repository asked for.
pub fn decide(c: &mut Conn, credential: &Credential, home: Home<'_>, scopes: Vec<Requested>, now: Timestamp) -> Result<(Vec<Access>, Vec<PushNote>), Error> {
    let mut access = Vec::with_capacity(scopes.len());
    let mut pushes = Vec::new();
    for r in scopes {
        // Only what names a real resource is answered, granted or not: an unknown type, a
        // name outside the grammar or an unknown registry resource is left out, so Berth
        // never signs attacker-chosen text.
        let actions = match r.kind.as_str() {
            "repository" if grants::valid_repository_name(&r.name) => {
                let facts = crate::repositories::facts(c, &r.name, home, credential.user_id())?;
                let permission = match facts.owner {
                    Some(owner) => owners::permission_on(credential.user_id(), &owner, namespace_of(&r.name), facts.public.is_some(), &facts.ties)?,
                    None => owners::Permission::None,
                };
                let actions = grants::intersect(&r.actions, grants::allowed(credential, permission, &r.name, facts));
                // a push is noted on the repository of the namespace it was granted in; a
                // `*` (as `skopeo delete` sends) is not a push
                let pushed = actions.iter().any(|a| a == grants::PUSH) && r.actions.iter().any(|a| a == grants::PUSH);
                if let (true, Some(owner)) = (pushed, facts.owner)
                    && crate::repositories::push_needs_recording(&facts, now)
                {
                    pushes.push((owner.id, r.name.clone()));
                }
                actions
            }
            "registry" if r.name == "catalog" && r.actions.iter().any(|a| a == "*") => catalog(credential),
            _ => continue,
        };
        access.push(Access { kind: r.kind, name: r.name, actions });
    }
    Ok((access, pushes))
}

/// The namespace of a repository name: its first component.
fn namespace_of(name: &str) -> &str {
    name.split('/').next().unwrap_or(name)
}

/// The registry catalog lists every repository: for operators only, through a credential
/// of full scope (their password, or a "Read, Write, Delete" token), and granted with the
/// literal `*`.
fn catalog(credential: &Credential) -> Vec<String> {
    match credential {
        Credential::User { operator: true, scope: Scope::Admin, .. } => vec!["*".to_string()],
        _ => Vec::new(),
    }
}

/// The pushes a token's grants leave to note: written after the read, with the token's
/// last use when that is due too (`signin::token_step`), in one trip to the blocking pool.
pub struct PushNotes {
    pub pushes: Vec<PushNote>,
    pub public_default: bool,
    pub now: Timestamp,
}

impl DueWrites for PushNotes {
    fn is_due(&self) -> bool {
        !self.pushes.is_empty()
    }
    fn write(self, c: &mut Conn) -> Result<(), Error> {
        record_pushes(c, &self.pushes, self.public_default, self.now)
    }
}

/// Notes the due pushes on their repositories (creating a new one).
pub fn record_pushes(c: &mut Conn, pushes: &[PushNote], public_default: bool, now: Timestamp) -> Result<(), Error> {
    for (owner, name) in pushes {
        crate::repositories::record_push(c, *owner, name, public_default, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{self, NewAccount, Plan};

    fn account(c: &mut Conn, name: &str) -> (i32, Credential) {
        let new = NewAccount {
            username: name.into(),
            email: format!("{name}@example.com"),
            email_normalized: format!("{name}@example.com"),
            password_hash: "unused".into(),
            plan: Plan::Personal,
            operator: false,
        };
        let user = accounts::create(c, new, 0).unwrap();
        (user.id, Credential::User { user_id: user.id, username: name.into(), scope: Scope::Admin, operator: false })
    }

    fn ask(name: &str) -> Vec<Requested> {
        vec![grants::parse_scope(&format!("repository:{name}:pull,push,delete")).unwrap()]
    }

    /// A caller with no permission in a namespace gets nothing there, even when its
    /// username is a prefix of the namespace; the namespace's own user gets everything.
    /// The decision is by the owner resolved from the namespace, not by comparing names.
    #[test]
    fn a_caller_without_permission_in_a_namespace_gets_nothing_even_with_a_prefix_of_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(dir.path().join("t.db").to_str().unwrap()).unwrap();
        let c = &mut pool.get().unwrap();
        let (_, alic) = account(c, "alic");
        let (alice_id, alice) = account(c, "alice");
        let alice_home = owners::of_user(c, alice_id).unwrap();
        crate::repositories::record_push(c, alice_home.id, "alice/app", false, 0).unwrap();

        let (access, pushes) = decide(c, &alic, None, ask("alice/app"), 100).unwrap();
        assert_eq!(access[0].actions, Vec::<String>::new(), "alic has no permission in alice");
        assert!(pushes.is_empty());
        let (access, pushes) = decide(c, &alic, None, ask("alice/new"), 100).unwrap();
        assert_eq!(access[0].actions, Vec::<String>::new(), "nor may it create a repository there");
        assert!(pushes.is_empty());
        // a home of another name is no way in either
        let alic_home = owners::find_by_name(c, "alic").unwrap().unwrap();
        let (access, _) = decide(c, &alic, Some(("alic", alic_home.namespace())), ask("alice/app"), 100).unwrap();
        assert!(access[0].actions.is_empty());

        let (access, pushes) = decide(c, &alice, None, ask("alice/app"), 100).unwrap();
        assert_eq!(access[0].actions, ["pull", "push", "delete"]);
        assert_eq!(pushes, vec![(alice_home.id, "alice/app".to_string())]);
        let (access, _) = decide(c, &alice, Some(("alice", alice_home.namespace())), ask("alice/app"), 100).unwrap();
        assert_eq!(access[0].actions, ["pull", "push", "delete"], "through the home, the same");
    }

    #[test]
    fn the_catalog_is_for_operators_with_a_full_scope() {
        let op = |scope| Credential::User { user_id: 1, username: "root1".into(), scope, operator: true };
        assert_eq!(catalog(&op(Scope::Admin)), ["*"]);
        assert!(catalog(&op(Scope::Write)).is_empty());
        assert!(catalog(&Credential::User { user_id: 1, username: "user1".into(), scope: Scope::Admin, operator: false }).is_empty());
        assert!(catalog(&Credential::Anonymous).is_empty());
    }
}
