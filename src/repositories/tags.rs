//! A repository's images as the registry reports them: manifests (one per digest: media
//! type, sizes, platforms) and tags (a name pointing at a digest, who pushed it and when,
//! its pulls), and the repository's own pull count. Filled from the registry's
//! notifications (`registry_events`) and by `berth registry sync`; read by the pages and
//! the JSON API. Deleting a manifest in the registry deletes every tag on its digest
//! (distribution 2.8 deletes by digest), so `others_on_digest` tells what else would go.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::clock::Timestamp;
use crate::db::Conn;
use crate::db::schema::{manifests, recent_index_pulls, repositories, tags};

/// One platform an image runs on: of an image manifest itself (its config's os and
/// architecture), or one entry of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The platform's image manifest (for an image manifest, its own digest).
    pub digest: String,
    /// Its config and layers, in bytes.
    pub size: i64,
}

/// What reading a manifest from the registry gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    /// Config and layers (of every platform, for an index), in bytes.
    pub size: i64,
    pub platforms: Vec<Platform>,
}

/// A tag and the manifest it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub digest: String,
    /// Empty when the manifest is not recorded (a tag synced before its manifest was read).
    pub media_type: String,
    /// The manifest's own bytes.
    pub manifest_size: i64,
    /// Config and layers, in bytes; None until the registry was read.
    pub size: Option<i64>,
    /// Empty until the registry was read.
    pub platforms: Vec<Platform>,
    pub pushed_at: Timestamp,
    pub pushed_by: Option<String>,
    /// The last pull naming this tag.
    pub last_pulled_at: Option<Timestamp>,
    /// The last pull of its digest, by tag or by digest.
    pub digest_last_pulled_at: Option<Timestamp>,
    pub pull_count: i64,
}

/// How a tag list is ordered (the Hub API's `ordering`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ordering {
    /// Most recently pushed first, the Hub's default.
    #[default]
    NewestFirst,
    OldestFirst,
    NameAscending,
    NameDescending,
}

impl Ordering {
    /// Docker Hub's `ordering` values, read as `repositories::Order::from_hub` reads them:
    /// `last_updated` is the latest first and `-name` is A to Z.
    pub fn parse(value: &str) -> Option<Ordering> {
        match value {
            "last_updated" => Some(Ordering::NewestFirst),
            "-last_updated" => Some(Ordering::OldestFirst),
            "-name" => Some(Ordering::NameAscending),
            "name" => Some(Ordering::NameDescending),
            _ => None,
        }
    }
}

type TagRow = (String, String, Timestamp, Option<String>, Option<Timestamp>, i64, Option<String>, Option<i64>, Option<i64>, Option<String>, Option<Timestamp>);

fn tag_of(row: TagRow) -> Tag {
    let (name, digest, pushed_at, pushed_by, last_pulled_at, pull_count, media_type, manifest_size, size, platforms, digest_last_pulled_at) = row;
    Tag {
        name,
        digest,
        media_type: media_type.unwrap_or_default(),
        manifest_size: manifest_size.unwrap_or(0),
        size,
        platforms: platforms.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default(),
        pushed_at,
        pushed_by,
        last_pulled_at,
        digest_last_pulled_at,
        pull_count,
    }
}

macro_rules! tag_query {
    () => {
        tags::table.left_join(manifests::table.on(manifests::repository_id.eq(tags::repository_id).and(manifests::digest.eq(tags::digest)))).select((
            tags::name,
            tags::digest,
            tags::pushed_at,
            tags::pushed_by,
            tags::last_pulled_at,
            tags::pull_count,
            manifests::media_type.nullable(),
            manifests::manifest_size.nullable(),
            manifests::size.nullable(),
            manifests::platforms.nullable(),
            manifests::last_pulled_at.nullable(),
        ))
    };
}

/// One page of a repository's tags in `ordering`, only those whose name contains
/// `name_contains` when given. Returns (page, total).
pub fn page(conn: &mut Conn, repository_id: i32, ordering: Ordering, name_contains: Option<&str>, page: i64, per_page: i64) -> Result<(Vec<Tag>, i64), Error> {
    let filtered = || {
        let q = tags::table.filter(tags::repository_id.eq(repository_id)).into_boxed::<crate::db::Backend>();
        match name_contains.filter(|n| !n.is_empty()) {
            Some(part) => q.filter(tags::name.like(format!("%{}%", escape_like(part))).escape('\\')),
            None => q,
        }
    };
    let total: i64 = filtered().count().get_result(conn)?;
    let mut q = tag_query!().filter(tags::repository_id.eq(repository_id)).into_boxed::<crate::db::Backend>();
    if let Some(part) = name_contains.filter(|n| !n.is_empty()) {
        q = q.filter(tags::name.like(format!("%{}%", escape_like(part))).escape('\\'));
    }
    q = match ordering {
        // ties broken by name in the order's own direction: the index on (repository,
        // pushed_at, name) then serves the page without sorting the whole list
        Ordering::NewestFirst => q.order((tags::pushed_at.desc(), tags::name.desc())),
        Ordering::OldestFirst => q.order((tags::pushed_at.asc(), tags::name.asc())),
        Ordering::NameAscending => q.order(tags::name.asc()),
        Ordering::NameDescending => q.order(tags::name.desc()),
    };
    let rows: Vec<TagRow> = q.offset((page.max(1) - 1).saturating_mul(per_page)).limit(per_page).load(conn)?;
    Ok((rows.into_iter().map(tag_of).collect(), total))
}

/// `%`, `_` and the escape itself stand for themselves in a name filter.
fn escape_like(part: &str) -> String {
    part.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// One tag of a repository.
pub fn find(conn: &mut Conn, repository_id: i32, name: &str) -> Result<Option<Tag>, Error> {
    let row: Option<TagRow> = tag_query!().filter(tags::repository_id.eq(repository_id)).filter(tags::name.eq(name)).first(conn).optional()?;
    Ok(row.map(tag_of))
}

/// The tags of a repository on `digest` other than `except`, by name: what a delete of the
/// digest takes with it.
pub fn others_on_digest(conn: &mut Conn, repository_id: i32, digest: &str, except: &str) -> Result<Vec<String>, Error> {
    Ok(tags::table
        .filter(tags::repository_id.eq(repository_id))
        .filter(tags::digest.eq(digest))
        .filter(tags::name.ne(except))
        .order(tags::name.asc())
        .select(tags::name)
        .load(conn)?)
}

/// Every tag of a repository with its digest, by name.
pub fn all(conn: &mut Conn, repository_id: i32) -> Result<Vec<(String, String)>, Error> {
    Ok(tags::table.filter(tags::repository_id.eq(repository_id)).order(tags::name.asc()).select((tags::name, tags::digest)).load(conn)?)
}

/// A repository's pulls and when it last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub pull_count: i64,
    pub last_pulled_at: Option<Timestamp>,
    /// The newest tag's push, else the last push Berth noted.
    pub last_updated: Option<Timestamp>,
    pub tag_count: i64,
}

pub fn stats(conn: &mut Conn, repository_id: i32) -> Result<Stats, Error> {
    let (pull_count, last_pulled_at, last_push_at): (i64, Option<Timestamp>, Option<Timestamp>) = repositories::table
        .filter(repositories::id.eq(repository_id))
        .select((repositories::pull_count, repositories::last_pulled_at, repositories::last_push_at))
        .first(conn)
        .optional()?
        .ok_or(Error::NotFound)?;
    let newest: Option<Timestamp> = tags::table.filter(tags::repository_id.eq(repository_id)).select(diesel::dsl::max(tags::pushed_at)).first(conn)?;
    let tag_count: i64 = tags::table.filter(tags::repository_id.eq(repository_id)).count().get_result(conn)?;
    Ok(Stats { pull_count, last_pulled_at, last_updated: newest.or(last_push_at), tag_count })
}

/// The id of the repository called `name`, when Berth records it.
pub fn repository_id(conn: &mut Conn, name: &str) -> Result<Option<i32>, Error> {
    Ok(repositories::table.filter(repositories::name.eq(name)).select(repositories::id).first(conn).optional()?)
}

/// A manifest pushed to a repository, as the registry reports it.
#[derive(Debug, Clone, Copy)]
pub struct Pushed<'a> {
    pub digest: &'a str,
    pub media_type: &'a str,
    /// The manifest's own bytes.
    pub manifest_size: i64,
    /// The tag the push named (none for a push by digest, such as an index's platforms).
    pub tag: Option<&'a str>,
    pub pushed_by: Option<&'a str>,
}

/// What recording a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// The manifest still waits to be read from the registry.
    pub unread: bool,
    /// The tag the push named now points at its digest: it was new, or its last push was
    /// not newer than this one (a push reported late leaves a newer one standing).
    pub tag_moved: bool,
}

/// A manifest pushed to a repository at `at`: the manifest is recorded (once per digest),
/// the tag the push named moved to it unless a newer push moved it since, the
/// repository's last push noted unless a newer one is.
pub fn record_push(conn: &mut Conn, repository_id: i32, pushed: Pushed<'_>, at: Timestamp) -> Result<Recorded, Error> {
    let Pushed { digest, media_type, manifest_size, tag, pushed_by } = pushed;
    crate::db::upsert::manifest_if_new(conn, repository_id, digest, media_type, manifest_size, at)?;
    let mut tag_moved = false;
    if let Some(tag) = tag {
        tag_moved = crate::db::upsert::tag_push(conn, repository_id, tag, digest, pushed_by, at)?;
        diesel::update(repositories::table.filter(repositories::id.eq(repository_id)))
            .filter(repositories::last_push_at.is_null().or(repositories::last_push_at.lt(Some(at))))
            .set(repositories::last_push_at.eq(Some(at)))
            .execute(conn)?;
    }
    let read_at: Option<Timestamp> =
        manifests::table.filter(manifests::repository_id.eq(repository_id)).filter(manifests::digest.eq(digest)).select(manifests::read_at).first(conn)?;
    Ok(Recorded { unread: read_at.is_none(), tag_moved })
}

/// Records the manifest `digest` of a repository (found by a sync) unless it is recorded.
pub fn record_manifest(conn: &mut Conn, repository_id: i32, digest: &str, media_type: &str, manifest_size: i64, now: Timestamp) -> Result<(), Error> {
    crate::db::upsert::manifest_if_new(conn, repository_id, digest, media_type, manifest_size, now)?;
    Ok(())
}

/// What reading the recorded manifest `digest` from the registry gave; `media_type` and
/// `manifest_size` as it served them. A manifest forgotten meanwhile (deleted) stays
/// forgotten.
pub fn record_details(conn: &mut Conn, repository_id: i32, digest: &str, media_type: &str, manifest_size: i64, details: &Details, now: Timestamp) -> Result<(), Error> {
    let platforms = serde_json::to_string(&details.platforms).map_err(Error::internal)?;
    diesel::update(manifests::table.filter(manifests::repository_id.eq(repository_id)).filter(manifests::digest.eq(digest)))
        .set((
            manifests::media_type.eq(media_type),
            manifests::manifest_size.eq(manifest_size),
            manifests::size.eq(Some(details.size)),
            manifests::platforms.eq(Some(platforms)),
            manifests::read_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// The manifests of tagged images that wait to be read from the registry (their push event
/// came while the registry could not be read), as (repository, digest), oldest first.
pub fn unread(conn: &mut Conn, limit: i64) -> Result<Vec<(String, String)>, Error> {
    let tagged = tags::table.filter(tags::repository_id.eq(manifests::repository_id)).filter(tags::digest.eq(manifests::digest));
    Ok(manifests::table
        .inner_join(repositories::table)
        .filter(manifests::read_at.is_null())
        .filter(diesel::dsl::exists(tagged))
        .order(manifests::id.asc())
        .limit(limit)
        .select((repositories::name, manifests::digest))
        .load(conn)?)
}

/// Whether the manifest `digest` of a repository has been read from the registry.
pub fn is_read(conn: &mut Conn, repository_id: i32, digest: &str) -> Result<bool, Error> {
    let read_at: Option<Option<Timestamp>> =
        manifests::table.filter(manifests::repository_id.eq(repository_id)).filter(manifests::digest.eq(digest)).select(manifests::read_at).first(conn).optional()?;
    Ok(matches!(read_at, Some(Some(_))))
}

/// A pull of the manifest `digest` (by `tag` when the client named one) at `at`: the times
/// of the last pull unless a newer pull is recorded, and with `counted` one more pull of
/// the repository and of the tag.
pub fn record_pull(conn: &mut Conn, repository_id: i32, digest: &str, tag: Option<&str>, counted: bool, at: Timestamp) -> Result<(), Error> {
    use diesel::dsl::case_when;
    use diesel::sql_types::{BigInt, Nullable};
    let more = i64::from(counted);
    diesel::update(manifests::table.filter(manifests::repository_id.eq(repository_id)).filter(manifests::digest.eq(digest)))
        .filter(manifests::last_pulled_at.is_null().or(manifests::last_pulled_at.lt(Some(at))))
        .set(manifests::last_pulled_at.eq(Some(at)))
        .execute(conn)?;
    // the count goes up and the time takes the newer of the two, in one statement a row
    if let Some(tag) = tag {
        let newest = case_when::<_, _, Nullable<BigInt>>(tags::last_pulled_at.is_null().or(tags::last_pulled_at.lt(Some(at))), Some(at)).otherwise(tags::last_pulled_at);
        diesel::update(tags::table.filter(tags::repository_id.eq(repository_id)).filter(tags::name.eq(tag)))
            .set((tags::last_pulled_at.eq(newest), tags::pull_count.eq(tags::pull_count + more)))
            .execute(conn)?;
    }
    let newest =
        case_when::<_, _, Nullable<BigInt>>(repositories::last_pulled_at.is_null().or(repositories::last_pulled_at.lt(Some(at))), Some(at)).otherwise(repositories::last_pulled_at);
    diesel::update(repositories::table.filter(repositories::id.eq(repository_id)))
        .set((repositories::last_pulled_at.eq(newest), repositories::pull_count.eq(repositories::pull_count + more)))
        .execute(conn)?;
    Ok(())
}

/// Forgets the manifest `digest` of a repository and every tag on it, after the registry
/// deleted it. Returns the tags forgotten, by name.
pub fn forget_digest(conn: &mut Conn, repository_id: i32, digest: &str) -> Result<Vec<String>, Error> {
    let names: Vec<String> = tags::table.filter(tags::repository_id.eq(repository_id)).filter(tags::digest.eq(digest)).order(tags::name.asc()).select(tags::name).load(conn)?;
    diesel::delete(tags::table.filter(tags::repository_id.eq(repository_id)).filter(tags::digest.eq(digest))).execute(conn)?;
    diesel::delete(manifests::table.filter(manifests::repository_id.eq(repository_id)).filter(manifests::digest.eq(digest))).execute(conn)?;
    Ok(names)
}

/// Forgets one tag of a repository (its manifest stays, as in the registry). Returns
/// whether there was one.
pub fn forget_tag(conn: &mut Conn, repository_id: i32, name: &str) -> Result<bool, Error> {
    Ok(diesel::delete(tags::table.filter(tags::repository_id.eq(repository_id)).filter(tags::name.eq(name))).execute(conn)? == 1)
}

/// Forgets every tag and manifest of a repository (the registry deleted it, or holds
/// nothing of it). Returns the tags forgotten.
pub fn forget_all(conn: &mut Conn, repository_id: i32) -> Result<usize, Error> {
    let n = diesel::delete(tags::table.filter(tags::repository_id.eq(repository_id))).execute(conn)?;
    diesel::delete(manifests::table.filter(manifests::repository_id.eq(repository_id))).execute(conn)?;
    Ok(n)
}

/// When the manifest `digest` of a repository was last pulled, by tag or by digest (a
/// platform's image of an index is pulled by digest).
pub fn manifest_last_pulled(conn: &mut Conn, repository_id: i32, digest: &str) -> Result<Option<Timestamp>, Error> {
    let at: Option<Option<Timestamp>> =
        manifests::table.filter(manifests::repository_id.eq(repository_id)).filter(manifests::digest.eq(digest)).select(manifests::last_pulled_at).first(conn).optional()?;
    Ok(at.flatten())
}

/// The platform manifests of the index `digest`, when it has been read.
pub fn platforms_of(conn: &mut Conn, repository_id: i32, digest: &str) -> Result<Option<Vec<Platform>>, Error> {
    let json: Option<Option<String>> =
        manifests::table.filter(manifests::repository_id.eq(repository_id)).filter(manifests::digest.eq(digest)).select(manifests::platforms).first(conn).optional()?;
    Ok(json.flatten().and_then(|p| serde_json::from_str(&p).ok()))
}

/// The index `client` last pulled from a repository, when that pull was from `since` to
/// `until`.
pub fn recent_index_pull(conn: &mut Conn, repository_id: i32, client: &str, since: Timestamp, until: Timestamp) -> Result<Option<String>, Error> {
    Ok(recent_index_pulls::table
        .filter(recent_index_pulls::repository_id.eq(repository_id))
        .filter(recent_index_pulls::client.eq(client))
        .filter(recent_index_pulls::pulled_at.between(since, until))
        .select(recent_index_pulls::digest)
        .first(conn)
        .optional()?)
}

/// Forgets the index pulls older than `before`.
pub fn prune_index_pulls(conn: &mut Conn, before: Timestamp) -> Result<usize, Error> {
    Ok(diesel::delete(recent_index_pulls::table.filter(recent_index_pulls::pulled_at.lt(before))).execute(conn)?)
}
