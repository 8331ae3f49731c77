//! What an organization access token reaches, in Docker Hub's terms: resources of type
//! `TYPE_REPO`, each a path — one repository of the organization (`acme/app`), all of them
//! (`acme/*`) or every public repository, anyone's (`*/*/public`) — with image scopes
//! (`scope-image-pull`; `scope-image-push` includes pull, `scope-image-delete` push). The
//! shape of a request's resources is checked here, without the database; that each named
//! repository exists is checked where the token is made. Pure functions, which the
//! registry's grant table reads.

use serde::{Deserialize, Serialize};

use crate::Error;

/// The resource type of repositories, the only one offered.
pub const REPO_TYPE: &str = "TYPE_REPO";
/// Docker Hub's organization-level resource type, not offered yet.
pub const ORG_TYPE: &str = "TYPE_ORG";
/// The path of every public repository, whoever owns it.
pub const PUBLIC_PATH: &str = "*/*/public";
/// Repository resources one token may hold (`*/*/public` not counted).
pub const MAX_RESOURCES: usize = 50;

/// What a token may do with the images of a repository, the narrowest first: each includes
/// the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ImageScope {
    Pull,
    Push,
    Delete,
}

impl ImageScope {
    pub const ALL: [ImageScope; 3] = [ImageScope::Pull, ImageScope::Push, ImageScope::Delete];

    pub fn as_str(self) -> &'static str {
        match self {
            ImageScope::Pull => "scope-image-pull",
            ImageScope::Push => "scope-image-push",
            ImageScope::Delete => "scope-image-delete",
        }
    }

    pub fn parse(s: &str) -> Option<ImageScope> {
        ImageScope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The name the pages show.
    pub fn label(self) -> &'static str {
        match self {
            ImageScope::Pull => "Image Pull",
            ImageScope::Push => "Image Pull & Push",
            ImageScope::Delete => "Image Pull, Push & Delete",
        }
    }

    /// Every scope this one includes, itself last: what the JSON API answers.
    pub fn implied(self) -> &'static [ImageScope] {
        &ImageScope::ALL[..=self as usize]
    }

    /// How far along the registry's pull, push, delete this scope reaches (1 to 3).
    pub fn reach(self) -> usize {
        self as usize + 1
    }
}

/// One resource: a path and the widest scope asked for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// `acme/app`, `acme/*`, or `*/*/public`.
    pub path: String,
    #[serde(with = "scope_name")]
    pub scope: ImageScope,
}

impl Resource {
    /// The organization's every repository (`acme/*`).
    pub fn is_whole_organization(&self) -> bool {
        self.path.ends_with("/*") && self.path != PUBLIC_PATH
    }

    pub fn is_public(&self) -> bool {
        self.path == PUBLIC_PATH
    }

    /// Whether this resource names repository `name` of the token's organization (a name
    /// whose namespace is the organization's, checked by the caller).
    fn covers(&self, name: &str) -> bool {
        match self.path.strip_suffix("/*") {
            Some(namespace) if !self.is_public() => name.strip_prefix(namespace).is_some_and(|rest| rest.starts_with('/')),
            _ => self.path == name,
        }
    }
}

mod scope_name {
    use super::ImageScope;
    pub fn serialize<S: serde::Serializer>(scope: &ImageScope, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(scope.as_str())
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ImageScope, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        ImageScope::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown scope {name:?}")))
    }
}

/// A token's resources, in the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources(pub Vec<Resource>);

/// A resource as a client sends it (the JSON API's body; the pages build the same).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requested {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    pub scopes: Vec<String>,
}

fn refuse(why: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::invalid_field("resources", why)
}

impl Resources {
    /// Checks the resources asked for a token of organization `org`: at least one, at most
    /// `MAX_RESOURCES` repositories plus `*/*/public`; each of type `TYPE_REPO`, a path of
    /// the organization (`org/…` in Docker's grammar, or `org/*`) or `*/*/public`, listed
    /// once, with known scopes (the widest counts); `*/*/public` only pulls. The repositories
    /// named must also exist, which `manage::create` checks.
    pub fn parse(org: &str, requested: &[Requested]) -> Result<Resources, Error> {
        if requested.is_empty() {
            return Err(refuse("Add at least one resource: a repository of the organization and what the token may do there."));
        }
        let mut out: Vec<Resource> = Vec::with_capacity(requested.len());
        for r in requested {
            match r.kind.as_str() {
                REPO_TYPE => {}
                ORG_TYPE => return Err(refuse("Organization-level scopes (TYPE_ORG) are not offered yet: use TYPE_REPO resources.")),
                other => return Err(refuse(format!("Unknown resource type {other:?}: use TYPE_REPO."))),
            }
            let path = r.path.trim().to_ascii_lowercase();
            let mut scopes = Vec::with_capacity(r.scopes.len());
            for s in &r.scopes {
                scopes.push(
                    ImageScope::parse(s.trim())
                        .ok_or_else(|| refuse(format!("Unknown scope {s:?} on {path}: use scope-image-pull, scope-image-push or scope-image-delete.", path = shown(&path))))?,
                );
            }
            let Some(scope) = scopes.into_iter().max() else {
                return Err(refuse(format!("Give {} at least one scope, such as scope-image-pull.", shown(&path))));
            };
            if path == PUBLIC_PATH {
                if scope != ImageScope::Pull {
                    return Err(refuse("Public repositories (*/*/public) can only be pulled: use scope-image-pull."));
                }
            } else if !in_organization(org, &path) {
                return Err(refuse(format!("{} is not a repository of {org}: name its repositories as {org}/NAME, or {org}/* for all of them.", shown(&path))));
            }
            if out.iter().any(|o| o.path == path) {
                return Err(refuse(format!("{} is listed twice: list each path once, with every scope it needs.", shown(&path))));
            }
            out.push(Resource { path, scope });
        }
        if out.iter().filter(|r| !r.is_public()).count() > MAX_RESOURCES {
            return Err(refuse(format!("A token may name at most {MAX_RESOURCES} repositories; {org}/* names them all.")));
        }
        Ok(Resources(out))
    }

    /// The repositories named one by one (neither `org/*` nor `*/*/public`).
    pub fn named_repositories(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter(|r| !r.is_public() && !r.is_whole_organization()).map(|r| r.path.as_str())
    }

    /// The widest scope the resources give on repository `name` of the token's own
    /// organization (a name in its namespace, recorded there).
    pub fn scope_in_organization(&self, name: &str) -> Option<ImageScope> {
        self.0.iter().filter(|r| r.covers(name)).map(|r| r.scope).max()
    }

    /// Whether every repository of the organization is covered (by `org/*`).
    pub fn covers_whole_organization(&self) -> bool {
        self.0.iter().any(Resource::is_whole_organization)
    }

    /// Whether the token pulls every public repository (`*/*/public`).
    pub fn pulls_public(&self) -> bool {
        self.0.iter().any(Resource::is_public)
    }

    /// As stored: a JSON array of `{"path", "scope"}`.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).expect("resources serialize")
    }

    /// From what `to_stored` wrote. A row that does not read (it never should) reaches
    /// nothing: a fault must never widen a token.
    pub fn from_stored(stored: &str) -> Resources {
        match serde_json::from_str(stored) {
            Ok(list) => Resources(list),
            Err(e) => {
                tracing::error!(error = %e, "unreadable resources of an organization access token");
                Resources::default()
            }
        }
    }

    /// Each resource as the pages list it: "acme/app: Image Pull".
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(|r| format!("{}: {}", if r.is_public() { "public repositories" } else { r.path.as_str() }, r.scope.label())).collect()
    }

    /// All of them in one line: "acme/app: Image Pull · acme/*: Image Pull & Push".
    pub fn summary(&self) -> String {
        self.lines().join(" · ")
    }
}

/// A path as refusals quote it: at most 100 characters of what was sent.
fn shown(path: &str) -> String {
    let cut: String = path.chars().take(100).collect();
    if cut.len() < path.len() { format!("{cut}…") } else { cut }
}

/// `org/*`, or a path in `org`'s namespace (whether it names one of its repositories, in
/// Docker's grammar, is for `manage::create` to find).
fn in_organization(org: &str, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(org).and_then(|r| r.strip_prefix('/')) else { return false };
    rest == "*" || (!rest.is_empty() && !rest.contains('*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: &str, path: &str, scopes: &[&str]) -> Requested {
        Requested { kind: kind.into(), path: path.into(), scopes: scopes.iter().map(|s| s.to_string()).collect() }
    }

    fn repo(path: &str, scopes: &[&str]) -> Requested {
        req(REPO_TYPE, path, scopes)
    }

    fn refusal(r: &[Requested]) -> String {
        Resources::parse("acme", r).unwrap_err().to_string()
    }

    #[test]
    fn repositories_of_the_organization_all_of_them_and_public_ones_are_accepted() {
        let r = Resources::parse(
            "acme",
            &[repo("acme/app", &["scope-image-pull", "scope-image-push"]), repo(" ACME/* ", &["scope-image-pull"]), repo(PUBLIC_PATH, &["scope-image-pull"])],
        )
        .unwrap();
        assert_eq!(r.0[0], Resource { path: "acme/app".into(), scope: ImageScope::Push }, "the widest scope is kept");
        assert_eq!(r.0[1].path, "acme/*");
        assert!(r.covers_whole_organization() && r.pulls_public());
        assert_eq!(r.named_repositories().collect::<Vec<_>>(), ["acme/app"]);
        assert_eq!(Resources::from_stored(&r.to_stored()), r, "stored and read back alike");
        assert_eq!(r.summary(), "acme/app: Image Pull & Push · acme/*: Image Pull · public repositories: Image Pull");
    }

    #[test]
    fn paths_outside_the_organization_unknown_scopes_and_types_are_refused_with_reasons() {
        for (resources, says) in [
            (vec![], "at least one resource"),
            (vec![repo("bob/app", &["scope-image-pull"])], "bob/app is not a repository of acme"),
            (vec![repo("acmeco/app", &["scope-image-pull"])], "not a repository of acme"),
            (vec![repo("acme", &["scope-image-pull"])], "not a repository of acme"),
            (vec![repo("acme/", &["scope-image-pull"])], "not a repository of acme"),
            (vec![repo("*/*", &["scope-image-pull"])], "not a repository of acme"),
            (vec![repo("acme/*/x", &["scope-image-pull"])], "not a repository of acme"),
            (vec![repo("acme/app", &["scope-image-root"])], "Unknown scope \"scope-image-root\" on acme/app"),
            (vec![repo("acme/app", &["repo:admin"])], "Unknown scope"),
            (vec![repo("acme/app", &[])], "at least one scope"),
            (vec![req(ORG_TYPE, "acme", &["scope-image-pull"])], "TYPE_ORG"),
            (vec![req("TYPE_TEAM", "acme/app", &["scope-image-pull"])], "Unknown resource type"),
            (vec![repo(PUBLIC_PATH, &["scope-image-push"])], "can only be pulled"),
            (vec![repo("acme/app", &["scope-image-pull"]), repo("acme/app", &["scope-image-push"])], "listed twice"),
        ] {
            let said = refusal(&resources);
            assert!(said.contains(says), "{resources:?}: {said}");
        }
        let e = Resources::parse("acme", &[repo("bob/app", &["scope-image-pull"])]).unwrap_err();
        assert_eq!(e.field(), Some("resources"));
    }

    #[test]
    fn at_most_fifty_repositories_besides_the_public_ones() {
        let mut many: Vec<Requested> = (0..MAX_RESOURCES).map(|i| repo(&format!("acme/r{i}"), &["scope-image-pull"])).collect();
        many.push(repo(PUBLIC_PATH, &["scope-image-pull"]));
        assert!(Resources::parse("acme", &many).is_ok());
        many.push(repo("acme/one-more", &["scope-image-pull"]));
        assert!(refusal(&many).contains("at most 50 repositories"));
    }

    #[test]
    fn a_resource_covers_its_repository_or_the_whole_organization_never_a_neighbour() {
        let r = Resources(vec![Resource { path: "acme/app".into(), scope: ImageScope::Push }, Resource { path: "acme/*".into(), scope: ImageScope::Pull }]);
        assert_eq!(r.scope_in_organization("acme/app"), Some(ImageScope::Push), "the widest of the two");
        assert_eq!(r.scope_in_organization("acme/other"), Some(ImageScope::Pull));
        assert_eq!(r.scope_in_organization("acme/team/app"), Some(ImageScope::Pull), "acme/* names nested paths too");
        let one = Resources(vec![Resource { path: "acme/app".into(), scope: ImageScope::Delete }]);
        for neighbour in ["acme/app2", "acme/ap", "acme/app/sub", "acmeco/app", "acme/other"] {
            assert_eq!(one.scope_in_organization(neighbour), None, "{neighbour}");
        }
        let public = Resources(vec![Resource { path: PUBLIC_PATH.into(), scope: ImageScope::Pull }]);
        assert_eq!(public.scope_in_organization("acme/app"), None, "*/*/public is the public pull, not a repository");
        let prefix = Resources(vec![Resource { path: "acme/*".into(), scope: ImageScope::Pull }]);
        assert_eq!(prefix.scope_in_organization("acmeco/app"), None);
    }

    #[test]
    fn scopes_imply_the_narrower_ones() {
        assert_eq!(ImageScope::Delete.implied(), [ImageScope::Pull, ImageScope::Push, ImageScope::Delete]);
        assert_eq!(ImageScope::Pull.implied(), [ImageScope::Pull]);
        assert_eq!(ImageScope::ALL.map(ImageScope::reach), [1, 2, 3]);
        for s in ImageScope::ALL {
            assert_eq!(ImageScope::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn unreadable_stored_resources_reach_nothing() {
        assert_eq!(Resources::from_stored("not json"), Resources::default());
        assert_eq!(Resources::from_stored(r#"[{"path":"acme/app","scope":"scope-image-root"}]"#), Resources::default());
    }
}
