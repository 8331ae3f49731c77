//! /repositories: the repositories of the user's own namespace (name, visibility, created,
//! last push) with a public/private switch, *Create repository* and *Delete repository*,
//! and under them the repositories shared with the user (their organizations' and those
//! they collaborate on) with their namespace. /repository/{namespace}/{path}: one
//! repository — for its own user the collaborators it is shared with, for an
//! organization's the teams and what each may do there.

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::Error;
use crate::app::AppState;
use crate::http::ClientInfo;
use crate::orgs;
use crate::owners::{self, Kind, Owner, Permission, Role};
use crate::registry_events::delete;
use crate::repositories::{self as repos, Repository, Sight, sharing};
use crate::web::chrome::Chrome;
use crate::web::csrf::CsrfForm;
use crate::web::error::PageError;
use crate::web::extract::SignedIn;
use crate::web::fmt::{When, when};
use crate::web::middleware::html;
use crate::web::pages::FieldErrors;
use crate::web::pages::{field_status, permission_label, refused_form};
use crate::web::redirect;
use crate::webhooks;

pub struct RepoRow {
    pub name: String,
    pub public: bool,
    pub created: When,
    pub last_push: Option<When>,
}

impl RepoRow {
    pub fn new(r: Repository, now: i64) -> RepoRow {
        RepoRow { public: r.is_public, created: when(r.created_at, now), last_push: r.last_push_at.map(|t| when(t, now)), name: r.name }
    }
}

/// A repository shared with the user, with what they may do there.
pub struct SharedRow {
    pub repo: RepoRow,
    pub namespace: String,
    pub access: String,
}

#[derive(Template)]
#[template(path = "settings/repositories.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<RepoRow>,
    shared: Vec<SharedRow>,
    /// Why an organization's private repositories are missing from `shared`: it requires
    /// two-factor authentication, which the user has not turned on.
    held_back: Vec<String>,
    namespace: String,
    registry_host: String,
    path: String,
    errors: FieldErrors,
}

/// The user's own namespace, where these pages work.
async fn home(app: &AppState, who: &SignedIn) -> Result<Owner, PageError> {
    let uid = who.user.id;
    Ok(app.db(move |c| owners::of_user(c, uid)).await?)
}

/// What `uid` may do on a repository shared with them, in words: an organization's owners
/// and editors everything, a team member what their teams hold, a collaborator what they
/// were given.
fn shared_access(c: &mut crate::db::Conn, uid: i32, repo: &Repository, role: Option<Role>) -> Result<String, Error> {
    if let Some(role) = role.filter(|r| r.manages_repositories()) {
        return Ok(format!("{} (as {})", permission_label(Permission::Admin), role.title().to_lowercase()));
    }
    let ties = repos::facts(c, &repo.name, None, Some(uid))?.ties;
    Ok(match role {
        Some(_) => format!("{} (through a team)", permission_label(ties.teams)),
        None => format!("{} (as a collaborator)", permission_label(ties.collaborator)),
    })
}

async fn render(app: &AppState, who: &SignedIn, path: String, errors: FieldErrors) -> Result<String, PageError> {
    let (uid, now) = (who.user.id, app.now());
    let (home, list, shared, held_back) = app
        .db(move |c| {
            let home = owners::of_user(c, uid)?;
            let list = repos::list(c, home.id)?;
            let mut shared = Vec::new();
            for (repo, role) in repos::shared_with(c, uid)? {
                let access = shared_access(c, uid, &repo, role)?;
                shared.push((repo, access));
            }
            let held_back = owners::held_back_in(c, uid)?.into_iter().map(|(_, name)| owners::two_factor_required_message(&name)).collect();
            Ok((home, list, shared, held_back))
        })
        .await?;
    let shared = shared.into_iter().map(|(r, access)| SharedRow { namespace: r.name.split('/').next().unwrap_or("").to_string(), access, repo: RepoRow::new(r, now) }).collect();
    let rows = list.into_iter().map(|r| RepoRow::new(r, now)).collect();
    Ok(ListPage {
        chrome: Chrome::signed_in("Repositories", "repositories", who)?,
        rows,
        shared,
        held_back,
        namespace: home.name,
        registry_host: app.settings.registry_host.clone(),
        path,
        errors,
    }
    .render()?)
}

pub async fn page(app: web::Data<AppState>, who: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(html(render(&app, &who, String::new(), FieldErrors::default()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateForm {
    path: String,
    visibility: String,
}

/// The visibility a create form chose.
pub fn parse_public(visibility: &str) -> Result<bool, Error> {
    match visibility {
        "public" => Ok(true),
        "private" => Ok(false),
        _ => Err(Error::invalid("Visibility is public or private.")),
    }
}

pub async fn create(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<CreateForm>) -> Result<HttpResponse, PageError> {
    let public = parse_public(&form.visibility)?;
    let (home, path, now) = (home(&app, &who).await?, form.path.clone(), app.now());
    match app.db(move |c| repos::create(c, &home, &path, public, now)).await {
        Ok(name) => {
            who.session.flash("success", format!("{name} was created."))?;
            Ok(redirect("/repositories"))
        }
        Err(Error::Invalid { field: Some("path"), why }) => {
            let mut errors = FieldErrors::default();
            errors.add("path", why);
            let body = render(&app, &who, form.path.chars().take(255).collect(), errors).await?;
            Ok(HttpResponse::UnprocessableEntity().content_type("text/html; charset=utf-8").body(body))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisibilityForm {
    name: String,
    public: String,
    /// "yes" from the confirmation page: making a repository public asks first.
    confirm: Option<String>,
}

/// "Make repository public?": its form posts to `action`, Cancel leads to `cancel`.
#[derive(Template)]
#[template(path = "settings/repository_public.html")]
pub struct PublicPage {
    pub chrome: Chrome,
    pub name: String,
    pub action: String,
    pub cancel: String,
}

pub async fn visibility(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<VisibilityForm>) -> Result<HttpResponse, PageError> {
    let public = match form.public.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(PageError::from(Error::invalid("Visibility is public or private."))),
    };
    let (home, name) = (home(&app, &who).await?.id, form.name.clone());
    if public && form.confirm.as_deref() != Some("yes") {
        let lookup = name.clone();
        if !app.db(move |c| repos::owns(c, home, &lookup)).await? {
            return Err(PageError::not_found());
        }
        let page = PublicPage {
            chrome: Chrome::signed_in("Make repository public", "repositories", &who)?,
            name,
            action: "/repositories/visibility".into(),
            cancel: "/repositories".into(),
        };
        return Ok(html(page.render()?));
    }
    let (uid, now) = (who.user.id, app.now());
    if !app.db(move |c| repos::change_visibility(c, uid, &name, public, &info.client, now)).await? {
        return Err(PageError::not_found());
    }
    who.session.flash("success", format!("{} is now {}.", form.name, if public { "public: anyone may pull it" } else { "private" }))?;
    Ok(redirect("/repositories"))
}

/// "Delete repository?": what goes (every tag, Berth's and those only the registry lists),
/// its form posting to `action`, Cancel leading to `cancel`; shown again after a delete
/// the registry refused part way, with what went and what stayed.
#[derive(Template)]
#[template(path = "settings/repository_delete.html")]
pub struct DeletePage {
    pub chrome: Chrome,
    pub name: String,
    pub action: String,
    pub cancel: String,
    /// The registry's tag list was read: the delete can go ahead.
    pub readable: bool,
    /// The tags that go (or, after a refusal, those left).
    pub tags: Vec<String>,
    /// The tags a refused delete took before the refusal.
    pub deleted: Vec<String>,
    pub problem: Option<String>,
}

impl DeletePage {
    /// The page of `name`, nothing listed yet.
    fn new(who: &SignedIn, name: String, routes: DeleteRoutes) -> Result<DeletePage, PageError> {
        Ok(DeletePage {
            chrome: Chrome::signed_in("Delete repository", routes.nav, who)?,
            name,
            action: routes.action,
            cancel: routes.cancel,
            readable: true,
            tags: Vec::new(),
            deleted: Vec::new(),
            problem: None,
        })
    }
}

/// Where a repository's delete pages lead: the form's action, Cancel, the menu item.
pub struct DeleteRoutes {
    pub action: String,
    pub cancel: String,
    pub nav: &'static str,
}

/// The confirmation of deleting `name` (the caller's right checked already): what goes,
/// or why nothing can go now.
pub async fn delete_confirmation(app: &AppState, who: &SignedIn, name: String, routes: DeleteRoutes) -> Result<HttpResponse, PageError> {
    let (readable, tags, problem) = match delete::contents(app, &name).await {
        Ok(held) => (true, held.tags(), None),
        Err(e @ Error::Registry(_)) => (false, Vec::new(), Some(e.to_string())),
        Err(e) => return Err(e.into()),
    };
    let page = DeletePage { readable, tags, problem, ..DeletePage::new(who, name, routes)? };
    Ok(html(page.render()?))
}

/// Deletes `name` for real (the caller's right checked already) and says what went: on
/// success in a flash at `done`, on a refusal part way on the confirmation page again,
/// with what went, what stayed and why, at the refusal's status.
/// With `forget_only` (the confirmation's labelled choice when the registry cannot be
/// read) Berth forgets the repository and deletes nothing in the registry.
pub async fn delete_for_real(app: &AppState, who: &SignedIn, actor: &orgs::Actor, form: DeleteForm, routes: DeleteRoutes, done: &str) -> Result<HttpResponse, PageError> {
    let name = form.name;
    if form.forget_only.as_deref() == Some("yes") {
        delete::forget_only(app, &name, actor).await?;
        who.session.flash("info", format!("Berth forgot {name}. Nothing was deleted in the registry: its images stay there until deleted by other means."))?;
        return Ok(redirect(done));
    }
    let (deleted, left, readable) = match delete::delete_repository(app, &name, actor).await {
        Ok(outcome) => (outcome.deleted, outcome.left, true),
        // the registry's tag list could not be read: nothing was tried
        Err(e @ Error::Registry(_)) => (Vec::new(), Some((Vec::new(), e)), false),
        Err(e) => return Err(e.into()),
    };
    let Some((left, why)) = left else {
        let went = if deleted.is_empty() { "It held no tags.".to_string() } else { format!("Deleted in the registry: {}.", deleted.join(", ")) };
        who.session.flash("success", format!("{name} was deleted. {went} Disk space returns at the registry's next `registry garbage-collect`."))?;
        return Ok(redirect(done));
    };
    let status = crate::http::status_of(&why);
    let stayed = if deleted.is_empty() { "Nothing was deleted".to_string() } else { "The tags below stay, and so does the repository".to_string() };
    let page = DeletePage { readable, tags: left, deleted, problem: Some(format!("{why} {stayed}.")), ..DeletePage::new(who, name, routes)? };
    Ok(HttpResponse::build(status).content_type("text/html; charset=utf-8").body(page.render()?))
}

#[derive(Deserialize)]
pub struct NameQuery {
    name: String,
}

fn own_routes() -> DeleteRoutes {
    DeleteRoutes { action: "/repositories/delete".into(), cancel: "/repositories".into(), nav: "repositories" }
}

pub async fn delete_form(app: web::Data<AppState>, who: SignedIn, q: web::Query<NameQuery>) -> Result<HttpResponse, PageError> {
    let home = home(&app, &who).await?.id;
    let name = q.into_inner().name;
    let lookup = name.clone();
    if !app.db(move |c| repos::owns(c, home, &lookup)).await? {
        return Err(PageError::not_found());
    }
    delete_confirmation(&app, &who, name, own_routes()).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteForm {
    pub name: String,
    /// "yes": forget the record only, deleting nothing in the registry.
    pub forget_only: Option<String>,
}

pub async fn delete(app: web::Data<AppState>, who: SignedIn, info: ClientInfo, CsrfForm(form): CsrfForm<DeleteForm>) -> Result<HttpResponse, PageError> {
    let (home, lookup) = (home(&app, &who).await?.id, form.name.clone());
    if !app.db(move |c| repos::owns(c, home, &lookup)).await? {
        return Err(PageError::not_found());
    }
    let actor = orgs::Actor::user(&who.user, &info.client);
    delete_for_real(&app, &who, &actor, form, own_routes(), "/repositories").await
}

// ---- deleting a tag ----------------------------------------------------------------

/// "Delete tag?": the image's digest and every tag on it, which go together.
#[derive(Template)]
#[template(path = "settings/repository_tag_delete.html")]
struct TagDeletePage {
    chrome: Chrome,
    repository: String,
    tag: String,
    digest: String,
    tags: Vec<String>,
    cancel: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagQuery {
    repository: String,
    tag: String,
}

/// A tag of a repository the caller may delete images of, with every tag on its digest.
fn tag_to_delete(c: &mut crate::db::Conn, uid: i32, repository: &str, tag: &str) -> Result<(String, Vec<String>), Error> {
    let repo = repos::deletable_by(c, uid, repository)?;
    let found = repos::tags::find(c, repo.id, tag)?.ok_or(Error::NotFound)?;
    let mut on = repos::tags::others_on_digest(c, repo.id, &found.digest, tag)?;
    on.push(found.name);
    on.sort();
    Ok((found.digest, on))
}

pub async fn tag_delete_form(app: web::Data<AppState>, who: SignedIn, q: web::Query<TagQuery>) -> Result<HttpResponse, PageError> {
    let TagQuery { repository, tag } = q.into_inner();
    let (uid, name, wanted) = (who.user.id, repository.clone(), tag.clone());
    let (digest, tags) = app.db(move |c| tag_to_delete(c, uid, &name, &wanted)).await?;
    let page =
        TagDeletePage { chrome: Chrome::signed_in("Delete tag", "repositories", &who)?, cancel: format!("{}#tags", repository_url(&repository)), repository, tag, digest, tags };
    Ok(html(page.render()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagDeleteForm {
    repository: String,
    tag: String,
    /// The digest the confirmation showed: a tag moved since is not deleted unseen.
    digest: String,
}

pub async fn tag_delete(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<TagDeleteForm>) -> Result<HttpResponse, PageError> {
    let (uid, name, wanted) = (who.user.id, form.repository.clone(), form.tag.clone());
    let (digest, _) = app.db(move |c| tag_to_delete(c, uid, &name, &wanted)).await?;
    if digest != form.digest {
        return Err(Error::invalid(format!("{} is on another image since the confirmation was shown. Nothing was deleted: look at the repository again.", form.tag)).into());
    }
    let gone = delete::delete_digest(&app, &form.repository, &digest).await?;
    let went = if gone.is_empty() { form.tag.clone() } else { gone.join(", ") };
    who.session.flash(
        "success",
        format!("Deleted {}@{digest} in the registry; with it went {went}. Disk space returns at the registry's next `registry garbage-collect`.", form.repository),
    )?;
    Ok(redirect(&format!("{}#tags", repository_url(&form.repository))))
}

// ---- one repository ----------------------------------------------------------------

pub struct Collaborator {
    pub username: String,
    pub value: &'static str,
    pub label: &'static str,
}

pub struct TeamGrant {
    pub team: String,
    pub label: &'static str,
}

#[derive(Template)]
#[template(path = "settings/repository.html")]
struct RepositoryPage {
    chrome: Chrome,
    repo: RepoRow,
    namespace: String,
    /// The viewer's own repository: they manage its collaborators.
    owned: bool,
    /// An organization's repository: its teams are listed.
    of_org: bool,
    /// The viewer owns or edits the organization.
    manages: bool,
    access: String,
    collaborators: Vec<Collaborator>,
    teams: Vec<TeamGrant>,
    registry_host: String,
    /// The viewer manages the repository's webhooks (`repositories::managed_by`).
    hooks_managed: bool,
    /// The viewer may delete its images (admin on it, as `/token` grants delete).
    deletes: bool,
    tags: Vec<TagRow>,
    tag_total: i64,
    pull_count: i64,
    description: String,
    /// The README as `repositories::readme::render` made it: the only HTML marked safe.
    readme_html: String,
    /// The README's Markdown, for the edit form of those who manage the repository.
    full_description: String,
    hooks: Vec<HookRow>,
    deliveries: Vec<DeliveryRow>,
    typed: Typed,
    errors: FieldErrors,
}

/// What the forms of the page were last sent with, shown again beside a refusal.
#[derive(Default)]
pub struct Typed {
    pub username: String,
    pub hook_name: String,
    pub hook_url: String,
}

pub struct HookRow {
    pub id: i32,
    pub name: String,
    pub url: String,
    pub created: When,
    pub created_by: Option<String>,
}

pub struct DeliveryRow {
    pub webhook: String,
    pub status: String,
    pub attempts: i32,
    pub created: When,
    pub last_attempt: Option<When>,
    pub next_attempt: Option<When>,
    pub response_code: Option<i32>,
    pub error: Option<String>,
}

/// Deliveries the repository's page lists.
const DELIVERIES_SHOWN: i64 = 20;
/// Tags the repository's page lists, the newest first (the Hub API pages all of them).
const TAGS_SHOWN: i64 = 25;

pub struct TagRow {
    pub name: String,
    pub digest: String,
    /// `sha256:` and the first 12 hex digits, as Docker Hub shows a digest.
    pub short_digest: String,
    pub size: String,
    pub platforms: String,
    pub pushed: When,
    pub pushed_by: Option<String>,
    pub pulled: Option<When>,
}

fn tag_row(t: repos::tags::Tag, now: i64) -> TagRow {
    let short_digest = t.digest.char_indices().nth(19).map(|(i, _)| t.digest[..i].to_string()).unwrap_or_else(|| t.digest.clone());
    let platforms = t
        .platforms
        .iter()
        .map(|p| match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        })
        .collect::<Vec<_>>()
        .join(", ");
    TagRow {
        short_digest,
        size: t.size.map(crate::web::fmt::bytes).unwrap_or_else(|| "—".into()),
        platforms: if platforms.is_empty() { "—".into() } else { platforms },
        pushed: when(t.pushed_at, now),
        pulled: t.last_pulled_at.or(t.digest_last_pulled_at).map(|p| when(p, now)),
        pushed_by: t.pushed_by,
        digest: t.digest,
        name: t.name,
    }
}

/// What the viewer finds at a repository's page: nothing (`NotFound`) unless it is theirs,
/// shared with them, or one of their organization's they may see.
struct Seen {
    owner: Owner,
    repo: Repository,
    access: String,
    manages: bool,
    deletes: bool,
    collaborators: Vec<(String, Permission)>,
    teams: Vec<(orgs::teams::Team, Permission)>,
    hooks: Option<(Vec<webhooks::Listed>, Vec<webhooks::delivery::Logged>)>,
    tags: (Vec<repos::tags::Tag>, i64),
    stats: repos::tags::Stats,
    description: String,
    full_description: String,
}

fn seen(c: &mut crate::db::Conn, uid: i32, namespace: &str, full: &str) -> Result<Seen, Error> {
    let owner = owners::find_by_name(c, namespace)?.ok_or(Error::NotFound)?;
    let repo = repos::find(c, owner.id, full)?.ok_or(Error::NotFound)?;
    let (mut collaborators, mut teams, mut manages, mut deletes) = (Vec::new(), Vec::new(), false, false);
    let ties = repos::facts(c, full, None, Some(uid))?.ties;
    let access = match owner.kind {
        Kind::User if owner.user_id == Some(uid) => {
            collaborators = sharing::list(c, repo.id)?;
            deletes = true;
            format!("{} (your repository)", permission_label(Permission::Admin))
        }
        Kind::User => match ties.collaborator {
            Permission::None => return Err(Error::NotFound),
            given => format!("{} (as a collaborator)", permission_label(given)),
        },
        Kind::Organization => {
            let role = ties.role.ok_or(Error::NotFound)?;
            let through_teams = ties.teams;
            let visible = match repos::sight(c, Some(uid), &owner, true)? {
                Sight::All => true,
                Sight::PublicOnly => repo.is_public,
                Sight::PublicAndSharedWith(_) => repo.is_public || through_teams > Permission::None,
            };
            if !visible {
                return Err(Error::NotFound);
            }
            manages = role.manages_repositories();
            deletes = (manages || through_teams == Permission::Admin) && !ties.two_factor_missing;
            teams = orgs::teams::on_repository(c, repo.id)?;
            match role {
                r if r.manages_repositories() => format!("{} (as {})", permission_label(Permission::Admin), r.title().to_lowercase()),
                _ if through_teams > Permission::None => format!("{} (through a team)", permission_label(through_teams)),
                _ => "Pull only (a public repository)".to_string(),
            }
        }
    };
    let hooks = if owner.user_id == Some(uid) || manages { Some((webhooks::list(c, repo.id)?, webhooks::delivery::log(c, repo.id, DELIVERIES_SHOWN)?)) } else { None };
    let tags = repos::tags::page(c, repo.id, repos::tags::Ordering::NewestFirst, None, 1, TAGS_SHOWN)?;
    let stats = repos::tags::stats(c, repo.id)?;
    let (description, full_description) = repos::descriptions(c, repo.id)?;
    Ok(Seen { owner, repo, access, manages, deletes, collaborators, teams, hooks, tags, stats, description, full_description })
}

pub async fn repository_page(app: &AppState, who: &SignedIn, namespace: String, path: String, typed: Typed, errors: FieldErrors) -> Result<String, PageError> {
    let (uid, now, full) = (who.user.id, app.now(), format!("{namespace}/{path}"));
    let found = app.db(move |c| seen(c, uid, &namespace, &full)).await?;
    let (hooks_managed, (hooks, deliveries)) = match found.hooks {
        Some(h) => (true, h),
        None => (false, Default::default()),
    };
    let readme_html = repos::readme::render(&found.full_description);
    Ok(RepositoryPage {
        hooks_managed,
        deletes: found.deletes,
        tags: found.tags.0.into_iter().map(|t| tag_row(t, now)).collect(),
        tag_total: found.tags.1,
        pull_count: found.stats.pull_count,
        description: found.description,
        readme_html,
        full_description: if hooks_managed { found.full_description } else { String::new() },
        hooks: hooks.into_iter().map(|l| HookRow { id: l.hook.id, name: l.hook.name, url: l.hook.url, created: when(l.hook.created_at, now), created_by: l.created_by }).collect(),
        deliveries: deliveries
            .into_iter()
            .map(|d| DeliveryRow {
                webhook: d.webhook,
                next_attempt: (d.status == webhooks::delivery::PENDING).then(|| when(d.next_attempt_at, now)),
                status: d.status,
                attempts: d.attempts,
                created: when(d.created_at, now),
                last_attempt: d.last_attempt_at.map(|t| when(t, now)),
                response_code: d.response_code,
                error: d.error,
            })
            .collect(),
        chrome: Chrome::signed_in(&found.repo.name, "repositories", who)?,
        owned: found.owner.user_id == Some(uid),
        of_org: found.owner.kind == Kind::Organization,
        manages: found.manages,
        access: found.access,
        collaborators: found.collaborators.into_iter().map(|(username, p)| Collaborator { username, value: p.as_str(), label: permission_label(p) }).collect(),
        teams: found.teams.into_iter().map(|(t, p)| TeamGrant { team: t.name, label: permission_label(p) }).collect(),
        registry_host: app.settings.registry_host.clone(),
        namespace: found.owner.name,
        repo: RepoRow::new(found.repo, now),
        typed,
        errors,
    }
    .render()?)
}

pub async fn show(app: web::Data<AppState>, who: SignedIn, path: web::Path<(String, String)>) -> Result<HttpResponse, PageError> {
    let (namespace, path) = path.into_inner();
    Ok(html(repository_page(&app, &who, namespace, path, Typed::default(), FieldErrors::default()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollaboratorForm {
    name: String,
    username: String,
    /// Absent on the remove form.
    permission: Option<String>,
}

/// The page of the repository `name` (`namespace/path`).
pub fn repository_url(name: &str) -> String {
    format!("/repository/{name}")
}

pub async fn add_collaborator(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<CollaboratorForm>) -> Result<HttpResponse, PageError> {
    let home = home(&app, &who).await?;
    let permission = form.permission.as_deref().and_then(Permission::parse).filter(|p| *p <= Permission::Write);
    let added = match permission {
        None => Err(Error::invalid_field("permission", "Choose read-only or read & write.")),
        Some(p) => {
            let (name, username, now) = (form.name.clone(), form.username.clone(), app.now());
            let typed = crate::accounts::normalize_username(&username).unwrap_or_default();
            app.db(move |c| sharing::add(c, &home, &name, &typed, p, now)).await
        }
    };
    match added {
        Ok(()) => {
            who.session.flash("success", format!("{} may now use {}.", form.username.trim().to_lowercase(), form.name))?;
            Ok(redirect(&format!("{}#collaborators", repository_url(&form.name))))
        }
        Err(e @ Error::Invalid { field: Some(_), .. }) => {
            let status = field_status(&e);
            let mut errors = FieldErrors::default();
            errors.add(if e.field() == Some("permission") { "permission" } else { "username" }, e);
            let (namespace, path) = form.name.split_once('/').ok_or(Error::NotFound)?;
            let body =
                repository_page(&app, &who, namespace.to_string(), path.to_string(), Typed { username: form.username.chars().take(100).collect(), ..Typed::default() }, errors)
                    .await?;
            Ok(refused_form(status, body))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn remove_collaborator(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<CollaboratorForm>) -> Result<HttpResponse, PageError> {
    let home = home(&app, &who).await?;
    let (name, username) = (form.name.clone(), form.username.trim().to_lowercase());
    app.db(move |c| sharing::remove(c, &home, &name, &username)).await?;
    who.session.flash("success", format!("{} no longer has access to {}.", form.username.trim().to_lowercase(), form.name))?;
    Ok(redirect(&format!("{}#collaborators", repository_url(&form.name))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DescribeForm {
    repository: String,
    description: String,
    full_description: String,
}

/// The short description and README of a repository, by those who manage it.
pub async fn describe(app: web::Data<AppState>, who: SignedIn, CsrfForm(form): CsrfForm<DescribeForm>) -> Result<HttpResponse, PageError> {
    let (uid, name) = (who.user.id, form.repository.clone());
    let (description, full) = (form.description.clone(), form.full_description.clone());
    let saved = app
        .db(move |c| {
            let repo = repos::managed_by(c, uid, &name)?;
            repos::describe(c, repo.id, Some(&description), Some(&full))
        })
        .await;
    match saved {
        Ok(()) => {
            who.session.flash("success", format!("Saved the description of {}.", form.repository))?;
            Ok(redirect(&format!("{}#readme", repository_url(&form.repository))))
        }
        Err(e @ Error::Invalid { field: Some(_), .. }) => {
            let mut errors = FieldErrors::default();
            errors.refuse(e);
            let (namespace, path) = form.repository.split_once('/').ok_or(Error::NotFound)?;
            let body = repository_page(&app, &who, namespace.to_string(), path.to_string(), Typed::default(), errors).await?;
            Ok(refused_form(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, body))
        }
        Err(e) => Err(e.into()),
    }
}
