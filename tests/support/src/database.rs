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
