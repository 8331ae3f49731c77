//! Development datasets (`berth dev seed`, hidden from `--help`): many users and tokens,
//! written in large batched transactions, for benchmarks and load runs. One argon2 hash,
//! computed once, serves every user.

use std::io::Write;

use crate::db::Conn;
use diesel::prelude::*;

use crate::Error;
use crate::accounts::Plan;
use crate::clock::Timestamp;
use crate::db::schema::{access_tokens, owners, users};
use crate::tokens::{PlainToken, Scope};

/// Rows per INSERT statement (15 columns × 1,000 stays under SQLite's 32,766 variables).
const BATCH: usize = 1000;

/// What to seed.
pub struct SeedSpec<'a> {
    /// Usernames are `{prefix}0`, `{prefix}1`, …
    pub prefix: &'a str,
    pub users: usize,
    pub tokens_per_user: usize,
    pub plan: Plan,
    /// One precomputed hash for every user.
    pub password_hash: &'a str,
}

pub struct SeedSummary {
    pub users: usize,
    pub tokens: usize,
}

/// Creates the users of `spec`, each with `tokens_per_user` active read-write-delete
/// tokens. When `tokens_out` is given, every token's owner and plaintext go there, one
/// `username token` pair a line, for a load generator.
pub fn seed(conn: &mut Conn, spec: &SeedSpec, now: Timestamp, tokens_out: Option<&mut dyn Write>) -> Result<SeedSummary, Error> {
    let SeedSpec { prefix, users: users_wanted, .. } = *spec;
    let names: Vec<String> = (0..users_wanted).map(|i| format!("{prefix}{i}")).collect();
    let made = crate::db::bulk_load(conn, |conn| insert_all(conn, &names, spec, now, tokens_out))?;
    Ok(SeedSummary { users: users_wanted, tokens: made })
}

fn insert_all(conn: &mut Conn, names: &[String], spec: &SeedSpec, now: Timestamp, mut tokens_out: Option<&mut dyn Write>) -> Result<usize, Error> {
    let SeedSpec { tokens_per_user, plan, password_hash, .. } = *spec;
    {
        for chunk in names.chunks(BATCH) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|n| {
                    let email = format!("{n}@seed.invalid");
                    (
                        users::username.eq(n.clone()),
                        users::email.eq(email.clone()),
                        users::email_normalized.eq(email),
                        users::password_hash.eq(password_hash),
                        users::security_stamp.eq(crate::keys::random_token(16)),
                        users::created_at.eq(now),
                    )
                })
                .collect();
            crate::db::per_backend!(conn, |c| diesel::insert_into(users::table).values(rows).execute(c))?;
            // each user's own namespace, holding the plan (as `accounts::create` makes it)
            let made: Vec<(i32, String)> = users::table.filter(users::username.eq_any(chunk)).select((users::id, users::username)).load(conn)?;
            let homes: Vec<_> = made
                .into_iter()
                .map(|(id, name)| (owners::kind.eq("user"), owners::name.eq(name), owners::user_id.eq(Some(id)), owners::plan.eq(plan.as_str()), owners::created_at.eq(now)))
                .collect();
            crate::db::per_backend!(conn, |c| diesel::insert_into(owners::table).values(homes).execute(c))?;
        }
    }
    let mut made = 0usize;
    for chunk in names.chunks(BATCH) {
        let ids: Vec<(i32, String)> = owners::table.filter(owners::name.eq_any(chunk)).select((owners::id, owners::name)).load(conn)?;
        crate::db::write_tx(conn, |conn| {
            let mut rows = Vec::with_capacity(BATCH);
            for (id, name) in &ids {
                for _ in 0..tokens_per_user {
                    let plain = PlainToken::generate();
                    if let Some(out) = tokens_out.as_deref_mut() {
                        writeln!(out, "{name} {}", plain.expose()).map_err(Error::internal)?;
                    }
                    rows.push((
                        access_tokens::uuid.eq(uuid::Uuid::new_v4().to_string()),
                        access_tokens::owner_id.eq(*id),
                        access_tokens::description.eq("seeded"),
                        access_tokens::scope.eq(Scope::Admin.as_str()),
                        access_tokens::token_hash.eq(plain.hash().0.to_vec()),
                        access_tokens::hint.eq(plain.hint().to_string()),
                        access_tokens::created_at.eq(now),
                    ));
                    if rows.len() == BATCH {
                        made += crate::db::per_backend!(conn, |c| diesel::insert_into(access_tokens::table).values(std::mem::take(&mut rows)).execute(c))?;
                    }
                }
            }
            if !rows.is_empty() {
                made += crate::db::per_backend!(conn, |c| diesel::insert_into(access_tokens::table).values(rows).execute(c))?;
            }
            let chunk_ids: Vec<i32> = ids.iter().map(|(id, _)| *id).collect();
            diesel::update(owners::table.filter(owners::id.eq_any(chunk_ids))).set(owners::token_count.eq(owners::token_count + tokens_per_user as i64)).execute(conn)?;
            Ok::<_, Error>(())
        })?;
    }
    Ok(made)
}

/// An organization to seed: the benchmark's large (or small) organization.
pub struct OrgSpec<'a> {
    pub name: &'a str,
    /// Its first owner (an existing user).
    pub owner: &'a str,
    /// Existing users `{member_prefix}0…` made members (role member).
    pub member_prefix: &'a str,
    pub members: usize,
    pub teams: usize,
    pub repositories: usize,
}

/// Creates the organization of `spec`: repositories `{name}/repo-{i}`, teams `team-{t}`,
/// every member in every team, and team `t` holding read on every repository `i` with
/// `i % teams == t` — so each member reaches every repository through one of their teams,
/// as a member of a large organization does. Returns the rows written.
pub fn seed_org(conn: &mut Conn, spec: &OrgSpec, now: Timestamp) -> Result<usize, Error> {
    use crate::db::schema::{org_members, repositories, team_members, team_permissions, teams};
    crate::db::bulk_load(conn, |conn| {
        let owner = crate::accounts::find_by_username(conn, spec.owner)?.ok_or(Error::NotFound)?;
        let org = crate::orgs::create(conn, spec.name, &owner, Plan::Business, &crate::orgs::Actor::cli(), now)?;
        let mut written = 1;
        let names: Vec<String> = (0..spec.members).map(|i| format!("{}{i}", spec.member_prefix)).collect();
        let mut member_ids = Vec::with_capacity(names.len());
        for chunk in names.chunks(BATCH) {
            let ids: Vec<i32> = users::table.filter(users::username.eq_any(chunk)).select(users::id).load(conn)?;
            let rows: Vec<_> = ids
                .iter()
                .filter(|id| **id != owner.id)
                .map(|id| (org_members::owner_id.eq(org.id.0), org_members::user_id.eq(*id), org_members::role.eq("member"), org_members::joined_at.eq(now)))
                .collect();
            written += crate::db::per_backend!(conn, |c| diesel::insert_into(org_members::table).values(rows).execute(c))?;
            member_ids.extend(ids.into_iter().filter(|id| *id != owner.id));
        }
        let repo_names: Vec<String> = (0..spec.repositories).map(|i| format!("{}/repo-{i}", org.name)).collect();
        for chunk in repo_names.chunks(BATCH) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|n| (repositories::owner_id.eq(org.id.0), repositories::name.eq(n.clone()), repositories::is_public.eq(false), repositories::created_at.eq(now)))
                .collect();
            written += crate::db::per_backend!(conn, |c| diesel::insert_into(repositories::table).values(rows).execute(c))?;
        }
        let team_rows: Vec<_> = (0..spec.teams)
            .map(|t| (teams::uuid.eq(uuid::Uuid::new_v4().to_string()), teams::owner_id.eq(org.id.0), teams::name.eq(format!("team-{t}")), teams::created_at.eq(now)))
            .collect();
        written += crate::db::per_backend!(conn, |c| diesel::insert_into(teams::table).values(team_rows).execute(c))?;
        let team_ids: Vec<(i32, String)> = teams::table.filter(teams::owner_id.eq(org.id.0)).select((teams::id, teams::name)).load(conn)?;
        let team_of = |i: usize| team_ids.iter().find(|(_, n)| *n == format!("team-{}", i % spec.teams)).map(|(id, _)| *id);
        let mut rows = Vec::new();
        for (team, _) in &team_ids {
            for m in &member_ids {
                rows.push((team_members::team_id.eq(*team), team_members::user_id.eq(*m)));
                if rows.len() == BATCH {
                    written += crate::db::per_backend!(conn, |c| diesel::insert_into(team_members::table).values(std::mem::take(&mut rows)).execute(c))?;
                }
            }
        }
        if !rows.is_empty() {
            written += crate::db::per_backend!(conn, |c| diesel::insert_into(team_members::table).values(rows).execute(c))?;
        }
        let repo_ids: Vec<(i32, String)> = repositories::table.filter(repositories::owner_id.eq(org.id.0)).select((repositories::id, repositories::name)).load(conn)?;
        let mut rows = Vec::new();
        for (repo, name) in &repo_ids {
            let i: usize = name.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let Some(team) = (spec.teams > 0).then(|| team_of(i)).flatten() else { continue };
            rows.push((team_permissions::team_id.eq(team), team_permissions::repository_id.eq(*repo), team_permissions::permission.eq("read")));
            if rows.len() == BATCH {
                written += crate::db::per_backend!(conn, |c| diesel::insert_into(team_permissions::table).values(std::mem::take(&mut rows)).execute(c))?;
            }
        }
        if !rows.is_empty() {
            written += crate::db::per_backend!(conn, |c| diesel::insert_into(team_permissions::table).values(rows).execute(c))?;
        }
        Ok(written)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_makes_working_users_and_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let pool = crate::db::open(dir.path().join("s.db").to_str().unwrap()).unwrap();
        let mut c = pool.get().unwrap();
        let mut out = Vec::new();
        let spec = SeedSpec { prefix: "seed", users: 3, tokens_per_user: 4, plan: Plan::Team, password_hash: "$argon2id$v=19$m=19456,t=2,p=1$x$y" };
        let s = seed(&mut c, &spec, 100, Some(&mut out)).unwrap();
        assert_eq!((s.users, s.tokens), (3, 12));
        let lines = String::from_utf8(out).unwrap();
        assert_eq!(lines.lines().count(), 12);
        let (user, token) = lines.lines().last().unwrap().split_once(' ').unwrap();
        let ok = crate::tokens::authenticate(&mut c, 200, user, token, "127.0.0.1", "bench").unwrap().unwrap();
        assert_eq!(ok.username, user);
        assert_eq!(crate::tokens::counts(&mut c, ok.user_id, 200).unwrap().active, 4);

        // an organization of the seeded users: each member reaches each repository once
        let org = OrgSpec { name: "bigorg", owner: "seed0", member_prefix: "seed", members: 3, teams: 2, repositories: 5 };
        seed_org(&mut c, &org, 100).unwrap();
        let acme = crate::orgs::find(&mut c, "bigorg").unwrap().unwrap();
        let member = crate::accounts::find_by_username(&mut c, "seed2").unwrap().unwrap();
        for i in 0..5 {
            let facts = crate::repositories::facts(&mut c, &format!("bigorg/repo-{i}"), None, Some(member.id)).unwrap();
            let p = crate::owners::permission_on(Some(member.id), &facts.owner.unwrap(), "bigorg", true, &facts.ties).unwrap();
            assert_eq!(p, crate::owners::Permission::Read, "repo-{i}");
        }
        let (members, total) = crate::orgs::members(&mut c, acme.id, None, None, 1, 10).unwrap();
        assert_eq!(total, 3);
        assert_eq!(members.iter().find(|m| m.username == "seed1").unwrap().teams, ["team-0", "team-1"]);
    }
}
