//! The database a test server runs on. `BERTH_TEST_BACKEND=postgres` runs the suite on
//! PostgreSQL: every test server gets a new, empty database of its own on the server
//! `BERTH_TEST_POSTGRES_URL` names (a superuser URL of a throwaway server; scripts/test.sh
//! starts one and runs the suite once per backend). Otherwise a SQLite file in the
//! server's data folder, as Berth's default is. Tests of what only PostgreSQL does use the
//! server in either run.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use diesel::{Connection, RunQueryDsl};

/// The test PostgreSQL server. A test that needs it fails without it: it never skips.
pub fn postgres_server() -> String {
    std::env::var("BERTH_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .expect("BERTH_TEST_POSTGRES_URL is unset: scripts/test.sh starts a PostgreSQL server (scripts/postgres.sh) and sets it")
}

/// Whether this run is against PostgreSQL.
pub fn on_postgres() -> bool {
    match std::env::var("BERTH_TEST_BACKEND").as_deref() {
        Ok("postgres") => true,
        Ok("sqlite") | Ok("") | Err(_) => false,
        Ok(other) => panic!("BERTH_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

/// A new database for one test server: on PostgreSQL a new database (its name recorded
/// for the secrets audit, which searches a dump of each), else `berth.db` in `data_dir`.
pub fn fresh(data_dir: &Path) -> String {
    if on_postgres() { fresh_postgres() } else { data_dir.join("berth.db").to_string_lossy().into_owned() }
}

/// A new, empty PostgreSQL database on the test server, in either run.
pub fn fresh_postgres() -> String {
    let server = postgres_server();
    static MADE: AtomicU32 = AtomicU32::new(0);
    let name = format!("berth_{}_{}_{}", binary_tag(), std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
    let mut admin = diesel::PgConnection::establish(&server).unwrap_or_else(|e| panic!("the test PostgreSQL server (BERTH_TEST_POSTGRES_URL): {e}"));
    diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut admin).unwrap_or_else(|e| panic!("creating database {name}: {e}"));
    crate::audit::postgres_database(&name);
    with_database(&server, &name)
}

/// `server`'s URL naming the database `name` instead of its own.
pub fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("BERTH_TEST_POSTGRES_URL is a postgres:// URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// The test binary's name, letters only (a database name is an identifier).
fn binary_tag() -> String {
    let exe = std::env::current_exe().ok().and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned())).unwrap_or_default();
    exe.split('-').next().unwrap_or("").chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
}

/// From now on, counts every row write of a token's last use and of a repository's push
/// note (an UPDATE or INSERT that really changed a row), with triggers on the two tables:
/// 24 writes of one value leave the same row as one, so no domain function can tell them
/// apart. Raw SQL, in each backend's dialect.
pub fn count_writes(conn: &mut berth::db::Conn) {
    let triggers = match conn {
        berth::db::Conn::Postgres(_) => {
            "CREATE TABLE test_writes (what TEXT NOT NULL);
             CREATE FUNCTION test_note() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN INSERT INTO test_writes VALUES (TG_ARGV[0]); RETURN NULL; END $$;
             CREATE TRIGGER test_last_use_written AFTER UPDATE OF last_used_at ON access_tokens
               FOR EACH ROW EXECUTE FUNCTION test_note('last use');
             CREATE TRIGGER test_push_noted AFTER UPDATE OF last_push_at ON repositories
               FOR EACH ROW EXECUTE FUNCTION test_note('push note');
             CREATE TRIGGER test_repository_created AFTER INSERT ON repositories
               FOR EACH ROW EXECUTE FUNCTION test_note('push note');"
        }
        berth::db::Conn::Sqlite(_) => {
            "CREATE TABLE test_writes (what TEXT NOT NULL);
             CREATE TRIGGER test_last_use_written AFTER UPDATE OF last_used_at ON access_tokens
               BEGIN INSERT INTO test_writes VALUES ('last use'); END;
             CREATE TRIGGER test_push_noted AFTER UPDATE OF last_push_at ON repositories
               BEGIN INSERT INTO test_writes VALUES ('push note'); END;
             CREATE TRIGGER test_repository_created AFTER INSERT ON repositories
               BEGIN INSERT INTO test_writes VALUES ('push note'); END;"
        }
    };
    diesel::connection::SimpleConnection::batch_execute(conn, triggers).unwrap();
}

/// (last-use writes, push-note writes) counted since `count_writes`.
pub fn writes(conn: &mut berth::db::Conn) -> (i64, i64) {
    #[derive(diesel::QueryableByName)]
    struct Writes {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        last_use: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        push_note: i64,
    }
    let w: Writes = diesel::sql_query("SELECT count(*) FILTER (WHERE what = 'last use') AS last_use, count(*) FILTER (WHERE what = 'push note') AS push_note FROM test_writes")
        .get_result(conn)
        .unwrap();
    (w.last_use, w.push_note)
}
