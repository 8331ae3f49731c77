use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sqlite::SqliteConnection;
use diesel_migrations::MigrationHarness;

use super::*;
use crate::accounts::{self, NewAccount, Plan};

const T0: Timestamp = 1_800_000_000;

fn database() -> (tempfile::TempDir, crate::db::DbPool) {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::db::open(dir.path().join("t.db").to_str().unwrap()).unwrap();
    (dir, pool)
}

fn account(conn: &mut crate::db::Conn, name: &str) -> User {
    let new = NewAccount {
        username: name.into(),
        email: format!("{name}@example.com"),
        email_normalized: format!("{name}@example.com"),
        password_hash: "x".into(),
        plan: Plan::Personal,
        operator: false,
    };
    accounts::create(conn, new, T0).unwrap()
}

fn reload(conn: &mut crate::db::Conn, user: &User) -> User {
    accounts::find_by_id(conn, user.id).unwrap().unwrap()
}

/// Adds an authenticator app as the pages do; returns its base32 secret and what confirming gave.
fn add_app(conn: &mut crate::db::Conn, keys: &Keys, user: &User, label: &str, now: Timestamp) -> (String, totp::Confirmed) {
    let user = reload(conn, user);
    begin_enrolment(conn, keys, &user, label, now).unwrap();
    let secret = pending_enrolment(conn, keys, &user).unwrap().expect("pending").secret_base32;
    let confirmed = confirm_enrolment(conn, keys, &user, &code_at(&secret, now), now).unwrap().expect("a valid code confirms");
    (secret, confirmed)
}

#[test]
fn codes_are_normalised_one_way() {
    assert_eq!(normalize_code("  123 456\n"), "123456");
    assert_eq!(normalize_code("ABCD-efgh-2345"), "abcdefgh2345");
    assert_eq!(normalize_code(&"7".repeat(1000)).len(), MAX_CODE_CHARS);
    assert_eq!(normalize_code(&normalize_code(" Ab-c d ")), normalize_code(" Ab-c d "));
}

#[test]
fn two_factors_either_verifies_and_removing_one_keeps_the_other() {
    let (_dir, pool) = database();
    let keys = Keys::derive(&[7u8; 64]);
    let mut conn = pool.get().unwrap();
    let c = &mut *conn;
    let alice = account(c, "alice");
    assert!(!alice.has_second_factor());
    assert!(begin(c, &alice).unwrap().is_empty(), "no 2FA, nothing to ask");

    let (phone, first) = add_app(c, &keys, &alice, "Phone", T0);
    let codes = first.recovery_codes.expect("the first factor brings recovery codes");
    assert_eq!(codes.len(), recovery::COUNT);
    let before = reload(c, &alice).security_stamp;
    let (tablet, second) = add_app(c, &keys, &alice, " Tablet ", T0 + 30);
    assert_ne!(reload(c, &alice).security_stamp, before, "adding a factor ends waiting sign-ins too");
    assert!(second.recovery_codes.is_none(), "a further factor keeps the account's codes");
    assert_eq!(recovery::remaining(c, alice.id).unwrap(), 10);
    let alice = reload(c, &alice);
    assert_eq!(alice.second_factor_count, 2);
    let factors = list(c, alice.id).unwrap();
    assert_eq!(factors.iter().map(|f| f.label.as_str()).collect::<Vec<_>>(), ["Phone", "Tablet"]);
    assert_eq!(begin(c, &alice).unwrap(), [totp::begin()], "one question for two apps");

    // either app's code passes, each once
    assert_eq!(verify_second_factor(c, &keys, &alice, &code_at(&phone, T0 + 60), T0 + 60).unwrap(), Some(SecondFactor::Totp));
    assert_eq!(verify_second_factor(c, &keys, &alice, &code_at(&phone, T0 + 60), T0 + 60).unwrap(), None, "replayed");
    assert_eq!(verify_second_factor(c, &keys, &alice, &code_at(&tablet, T0 + 90), T0 + 90).unwrap(), Some(SecondFactor::Totp));
    let used: Vec<Option<Timestamp>> = list(c, alice.id).unwrap().iter().map(|f| f.last_used_at).collect();
    assert_eq!(used, [Some(T0 + 60), Some(T0 + 90)]);

    // removing the phone keeps 2FA on with the tablet and the recovery codes
    let stamp = alice.security_stamp.clone();
    assert_eq!(remove(c, alice.id, factors[0].id).unwrap(), Removed::Kept { remaining: 1 });
    let alice = reload(c, &alice);
    assert!(alice.has_second_factor());
    assert_ne!(alice.security_stamp, stamp, "a factor change ends waiting sign-ins");
    assert_eq!(verify_second_factor(c, &keys, &alice, &code_at(&phone, T0 + 120), T0 + 120).unwrap(), None, "the removed app");
    assert_eq!(verify_second_factor(c, &keys, &alice, &code_at(&tablet, T0 + 120), T0 + 120).unwrap(), Some(SecondFactor::Totp));
    assert_eq!(verify_second_factor(c, &keys, &alice, &codes[0], T0 + 120).unwrap(), Some(SecondFactor::RecoveryCode));
    assert!(matches!(remove(c, alice.id, factors[0].id), Err(Error::NotFound)), "gone already");

    // someone else's factor is not alice's to remove
    let bob = account(c, "bobby");
    let (_, _) = add_app(c, &keys, &bob, "", T0);
    let bobs = list(c, bob.id).unwrap();
    assert_eq!(bobs[0].label, DEFAULT_LABEL);
    assert!(matches!(remove(c, alice.id, bobs[0].id), Err(Error::NotFound)));
    assert!(!bobs[0].verify(c, &keys, &alice, &code_at(&tablet, T0 + 150), T0 + 150).unwrap(), "a factor answers only for its owner");

    // removing the last one turns 2FA off and deletes the recovery codes
    assert_eq!(remove(c, alice.id, factors[1].id).unwrap(), Removed::Last);
    let alice = reload(c, &alice);
    assert!(!alice.has_second_factor());
    assert_eq!(recovery::remaining(c, alice.id).unwrap(), 0);
    assert!(!any(c, alice.id).unwrap());
    assert_eq!(verify_second_factor(c, &keys, &alice, &codes[1], T0 + 180).unwrap(), None);
    assert!(reload(c, &bob).has_second_factor(), "bob's 2FA is his own");
}

#[test]
fn a_restarted_enrolment_replaces_the_pending_secret_and_disabling_forgets_it() {
    let (_dir, pool) = database();
    let keys = Keys::derive(&[7u8; 64]);
    let mut conn = pool.get().unwrap();
    let c = &mut *conn;
    let alice = account(c, "alice");
    begin_enrolment(c, &keys, &alice, "Phone", T0).unwrap();
    let first = pending_enrolment(c, &keys, &alice).unwrap().unwrap().secret_base32;
    begin_enrolment(c, &keys, &alice, "Phone", T0 + 5).unwrap();
    let second = pending_enrolment(c, &keys, &alice).unwrap().unwrap().secret_base32;
    assert_ne!(first, second);
    assert!(confirm_enrolment(c, &keys, &alice, &code_at(&first, T0 + 10), T0 + 10).unwrap().is_none(), "the replaced secret");
    assert!(!reload(c, &alice).has_second_factor(), "pending is not on");
    assert!(list(c, alice.id).unwrap().is_empty(), "pending is not listed");
    disable(c, alice.id).unwrap();
    assert!(pending_enrolment(c, &keys, &alice).unwrap().is_none());
    assert!(!any(c, alice.id).unwrap());
}

/// The previous schema held TOTP in three columns of `users`; the migration to rows must
/// carry an active secret (with its replay state), a pending one, and leave others alone.
#[test]
fn the_migration_moves_totp_secrets_from_the_old_columns_into_rows() {
    const THIS: &str = "2026-12-02-000010_second_factors";
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("old.db").display().to_string();
    let mut conn = crate::db::Conn::Sqlite(SqliteConnection::establish(&url).unwrap());
    conn.batch_execute("PRAGMA foreign_keys = ON;").unwrap();
    for m in conn.pending_migrations(crate::db::SQLITE_MIGRATIONS).unwrap() {
        if m.name().to_string().as_str() >= THIS {
            break;
        }
        conn.run_migration(&m).unwrap();
    }
    let keys = Keys::derive(&[9u8; 64]);
    let (on, pending) = (b"0123456789abcdefghij".to_vec(), b"jihgfedcba9876543210".to_vec());
    let last_step = T0 / 30 - 1;
    let insert = "INSERT INTO users (id, username, email, email_normalized, password_hash, security_stamp, created_at, totp_secret_enc, totp_enabled, totp_last_step) VALUES (?, ?, ?, ?, 'x', 'stamp', 5, ?, ?, ?)";
    for (id, name, secret, enabled, step) in
        [(1, "alice", Some(keys.seal_totp(1, &on)), true, Some(last_step)), (2, "bobby", Some(keys.seal_totp(2, &pending)), false, None), (3, "carol", None, false, None)]
    {
        use diesel::sql_types::{BigInt, Binary, Bool, Integer, Nullable, Text};
        diesel::sql_query(insert)
            .bind::<Integer, _>(id)
            .bind::<Text, _>(name)
            .bind::<Text, _>(format!("{name}@example.com"))
            .bind::<Text, _>(format!("{name}@example.com"))
            .bind::<Nullable<Binary>, _>(secret)
            .bind::<Bool, _>(enabled)
            .bind::<Nullable<BigInt>, _>(step)
            .execute(&mut conn)
            .unwrap();
    }
    diesel::sql_query("INSERT INTO activity (user_id, kind, created_at) VALUES (1, '2fa_enabled', 77)").execute(&mut conn).unwrap();
    let code_hash = keys.recovery_code_mac(1, "abcdefgh2345");
    diesel::sql_query("INSERT INTO recovery_codes (user_id, code_hash) VALUES (1, ?)").bind::<diesel::sql_types::Text, _>(&code_hash).execute(&mut conn).unwrap();

    let next = conn.pending_migrations(crate::db::SQLITE_MIGRATIONS).unwrap().into_iter().next().unwrap();
    assert_eq!(next.name().to_string(), THIS);
    conn.run_migration(&next).unwrap();
    // and whatever comes after it
    conn.run_pending_migrations(crate::db::SQLITE_MIGRATIONS).unwrap();
    let c = &mut conn;

    let alice = accounts::find_by_id(c, 1).unwrap().unwrap();
    assert!(alice.has_second_factor());
    let factors = list(c, 1).unwrap();
    assert_eq!(factors.len(), 1);
    assert_eq!((factors[0].kind(), factors[0].label.as_str(), factors[0].last_step, factors[0].created_at), (Some(Kind::Totp), DEFAULT_LABEL, Some(last_step), 77));
    assert_eq!(factors[0].last_used_at, Some(last_step * 30));
    let base32 = totp_rs::Secret::from(on).to_base32();
    assert_eq!(verify_second_factor(c, &keys, &alice, &code_at(&base32, last_step * 30), T0).unwrap(), None, "a code used before the upgrade stays used");
    assert_eq!(verify_second_factor(c, &keys, &alice, &code_at(&base32, T0), T0).unwrap(), Some(SecondFactor::Totp), "the same app's codes still verify");
    assert_eq!(verify_second_factor(c, &keys, &alice, "ABCD-EFGH-2345", T0).unwrap(), Some(SecondFactor::RecoveryCode), "recovery codes stay the account's");

    let bobby = accounts::find_by_id(c, 2).unwrap().unwrap();
    assert!(!bobby.has_second_factor(), "a pending enrolment is not on");
    let enrolment = pending_enrolment(c, &keys, &bobby).unwrap().expect("still pending");
    assert_eq!(enrolment.secret_base32, totp_rs::Secret::from(pending).to_base32());
    assert!(confirm_enrolment(c, &keys, &bobby, &code_at(&enrolment.secret_base32, T0), T0).unwrap().is_some(), "and it can be completed");

    let carol = accounts::find_by_id(c, 3).unwrap().unwrap();
    assert!(!carol.has_second_factor() && !any(c, 3).unwrap());
}
