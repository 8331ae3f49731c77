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
    }
}
