//! The database: SQLite through diesel with an r2d2 pool. Everything SQLite-specific
//! (pragmas, immediate transactions, the online backup, reading an error) stays in this
//! module.

pub mod schema;

use diesel::Connection;
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel::sqlite::SqliteConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::Error;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

pub type DbPool = Pool<ConnectionManager<SqliteConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// Reads go through a memory map of up to 256 MiB of the database: a page already in the
/// OS cache costs no system call, and the connections share those pages instead of each
/// keeping a copy in its own page cache. On a million tokens this halved a token check
/// (criterion: 13.7 µs to 7.6 µs; BENCHMARKS.md). Writes still go through `write()`.
pub const MMAP_SIZE: i64 = 256 * 1024 * 1024;

/// The pools every part of Berth shares: read-write connections for the blocking pool,
/// and one read-only connection per worker for short reads on the async workers.
#[derive(Clone)]
pub struct Database {
    pub pool: DbPool,
    pub readers: DbPool,
}

impl Database {
    /// Runs a short read-only domain function right here on the async worker, with no
    /// trip to the blocking pool: only for indexed lookups of a few rows on a hot path
    /// (`/token`). The reads share one read transaction: one snapshot, one lock taken and
    /// released.
    pub fn read<T>(&self, f: impl FnOnce(&mut SqliteConnection) -> Result<T, Error>) -> Result<T, Error> {
        let mut conn = self.readers.get()?;
        diesel::Connection::transaction(&mut *conn, f)
    }

    /// Runs a domain function on a pooled connection, off the async workers.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut SqliteConnection) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await?
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        classify(e)
    }
}

impl From<diesel::r2d2::PoolError> for Error {
    fn from(e: diesel::r2d2::PoolError) -> Self {
        tracing::warn!(error = %e, "database pool");
        Error::Unavailable
    }
}

impl From<actix_web::error::BlockingError> for Error {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Error::Internal(Box::new(e))
    }
}

/// The one function that reads a database error. What a caller can answer — a unique value
/// someone holds already, the database unable to write just now — becomes its kind of the
/// domain error; anything else is internal, its cause kept. SQLite gives diesel neither a
/// constraint name nor a kind for BUSY, FULL or IOERR (all `Unknown`), so the message is
/// read here and nowhere else.
pub fn classify(e: diesel::result::Error) -> Error {
    use diesel::result::{DatabaseErrorKind, Error as E};
    match &e {
        E::NotFound => Error::NotFound,
        E::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => Error::Taken(unique_field(info.constraint_name().unwrap_or(info.message()))),
        E::DatabaseError(_, info) if unavailable(info.message()) => {
            tracing::warn!(error = %info.message(), "database unavailable");
            Error::Unavailable
        }
        _ => Error::Internal(Box::new(e)),
    }
}

/// The form field behind a unique constraint: SQLite names the column ("UNIQUE constraint
/// failed: users.email_normalized").
fn unique_field(constraint: &str) -> &'static str {
    let column = constraint.rsplit(['.', ' ']).next().unwrap_or("");
    match column {
        "email" | "email_normalized" => "email",
        "username" => "username",
        "path" | "name" => "name",
        _ => "value",
    }
}

/// SQLite's result codes SQLITE_FULL, SQLITE_BUSY (past the busy timeout) and SQLITE_IOERR,
/// by their messages.
fn unavailable(message: &str) -> bool {
    message.contains("database or disk is full") || message.contains("database is locked") || message.contains("disk I/O error")
}

/// Per-connection settings. WAL is a property of the database file and is set once in
/// `open` (setting it here raced: "database is locked").
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA mmap_size = {MMAP_SIZE};"
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The database file holds password and token hashes: owner-only (0600), whatever the
/// umask. SQLite gives the files it keeps beside it (`-wal`, `-shm`, `-journal`) the mode
/// of the database file, so creating that one 0600 before SQLite opens it covers them
/// all; files a looser umask left behind are tightened. (`:memory:` and `file:` URIs are
/// SQLite's to create.)
fn restrict_file_modes(database_url: &str) -> Result<(), String> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    if database_url.is_empty() || database_url == ":memory:" || database_url.starts_with("file:") {
        return Ok(());
    }
    std::fs::OpenOptions::new().write(true).create(true).truncate(false).mode(0o600).open(database_url).map_err(|e| format!("opening {database_url}: {e}"))?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = format!("{database_url}{suffix}");
        let Ok(meta) = std::fs::metadata(&path) else { continue };
        if meta.permissions().mode() & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(|e| format!("making {path} owner-only: {e}"))?;
        }
    }
    Ok(())
}

/// Opens the database: owner-only, WAL on, migrations applied, then the pool.
pub fn open(database_url: &str) -> Result<DbPool, String> {
    restrict_file_modes(database_url)?;
    {
        let mut conn = SqliteConnection::establish(database_url).map_err(|e| format!("opening {database_url}: {e}"))?;
        conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;").map_err(|e| format!("setting up {database_url}: {e}"))?;
        conn.run_pending_migrations(MIGRATIONS).map_err(|e| format!("migrating {database_url}: {e}"))?;
    }
    Pool::builder()
        .max_size(16)
        // r2d2 would run `SELECT 1` at every checkout (parsed anew each time); a local
        // SQLite file does not drop connections the way a network database does
        .test_on_check_out(false)
        .connection_customizer(Box::new(Pragmas))
        .build(ConnectionManager::<SqliteConnection>::new(database_url))
        .map_err(|e| format!("connection pool for {database_url}: {e}"))
}

/// Settings of the read-only connections.
#[derive(Debug)]
struct ReadOnly;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for ReadOnly {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(&format!("PRAGMA busy_timeout = 1000; PRAGMA query_only = ON; PRAGMA mmap_size = {MMAP_SIZE};")).map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Read-only connections for short indexed reads done on the async workers themselves
/// (the registry's `/token`, on the path of every pull): `size` is the number of workers,
/// and a worker holds one only between two awaits, so taking one never waits.
/// `query_only` turns a write through them into an error, never a lock held by an event
/// loop; in WAL mode readers do not wait for writers.
pub fn open_readers(database_url: &str, size: u32) -> Result<DbPool, String> {
    Pool::builder()
        .max_size(size.max(1))
        .test_on_check_out(false)
        .connection_timeout(std::time::Duration::from_secs(5))
        .connection_customizer(Box::new(ReadOnly))
        .build(ConnectionManager::<SqliteConnection>::new(database_url))
        .map_err(|e| format!("read-only connections for {database_url}: {e}"))
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a
/// read-then-write (count then insert, check then update) cannot interleave with another.
/// Inside an outer transaction it becomes a savepoint of that one.
pub fn write_tx<T, E, F>(conn: &mut SqliteConnection, f: F) -> Result<T, E>
where
    F: FnOnce(&mut SqliteConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let nested = matches!(AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth(), Ok(Some(_)));
    if nested { conn.transaction(f) } else { conn.immediate_transaction(f) }
}

/// A consistent copy of the live database in `target` (which must not exist), taken while
/// Berth runs: `VACUUM INTO` reads one snapshot, so writers are not stopped and the copy
/// holds everything committed before it began. The copy is as secret as the database:
/// the file is created owner-only (0600) first, and `VACUUM INTO` fills the empty file.
pub fn backup(conn: &mut SqliteConnection, target: &std::path::Path) -> Result<(), String> {
    use diesel::RunQueryDsl;
    use std::os::unix::fs::OpenOptionsExt;
    let path = target.to_str().ok_or("the backup path is not UTF-8")?;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(target) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(format!("{} exists already; choose a new file", target.display())),
        Err(e) => return Err(format!("creating {path}: {e}")),
    }
    if let Err(e) = diesel::sql_query("VACUUM INTO ?").bind::<diesel::sql_types::Text, _>(path).execute(conn) {
        let _ = std::fs::remove_file(target); // the empty file this call made
        return Err(format!("backing up to {path}: {e}"));
    }
    Ok(())
}

/// `PRAGMA integrity_check` of a database file: "ok" when sound.
pub fn integrity_check(conn: &mut SqliteConnection) -> Result<String, String> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let rows: Vec<Row> = diesel::sql_query("PRAGMA integrity_check").load(conn).map_err(|e| e.to_string())?;
    Ok(rows.into_iter().map(|r| r.integrity_check).collect::<Vec<_>>().join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::RunQueryDsl;
    use diesel::sql_types::{BigInt, Text};

    #[derive(diesel::QueryableByName)]
    struct Num {
        #[diesel(sql_type = BigInt)]
        v: i64,
    }
    #[derive(diesel::QueryableByName)]
    struct Word {
        #[diesel(sql_type = Text)]
        v: String,
    }

    #[test]
    fn pooled_connections_have_wal_foreign_keys_secure_delete_and_a_busy_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open(dir.path().join("t.db").to_str().unwrap()).unwrap();
        let mut c = pool.get().unwrap();
        let word = |c: &mut SqliteConnection, q: &str| diesel::sql_query(q).get_result::<Word>(c).unwrap().v;
        let num = |c: &mut SqliteConnection, q: &str| diesel::sql_query(q).get_result::<Num>(c).unwrap().v;
        assert_eq!(word(&mut c, "SELECT journal_mode AS v FROM pragma_journal_mode"), "wal");
        assert_eq!(num(&mut c, "SELECT foreign_keys AS v FROM pragma_foreign_keys"), 1);
        assert_eq!(num(&mut c, "SELECT secure_delete AS v FROM pragma_secure_delete"), 1);
        assert_eq!(num(&mut c, "SELECT timeout AS v FROM pragma_busy_timeout"), 5000);
        #[derive(diesel::QueryableByName)]
        struct Mmap {
            #[diesel(sql_type = BigInt)]
            mmap_size: i64,
        }
        assert_eq!(diesel::sql_query("PRAGMA mmap_size").get_result::<Mmap>(&mut c).unwrap().mmap_size, MMAP_SIZE);
        // migrations ran
        assert_eq!(num(&mut c, "SELECT count(*) AS v FROM users"), 0);
    }

    /// `.cargo/config.toml` builds SQLite with these: without QPSG every `.first()` query
    /// was compiled anew at each use (a third of /token's CPU time, BENCHMARKS.md).
    #[test]
    fn sqlite_is_built_to_keep_prepared_statements() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open(dir.path().join("t.db").to_str().unwrap()).unwrap();
        let options: Vec<String> =
            diesel::sql_query("SELECT compile_options AS v FROM pragma_compile_options").load::<Word>(&mut pool.get().unwrap()).unwrap().into_iter().map(|w| w.v).collect();
        for wanted in ["ENABLE_QPSG", "DEFAULT_MEMSTATUS=0"] {
            assert!(options.iter().any(|o| o == wanted), "SQLite lacks {wanted}: {options:?}");
        }
    }

    /// The database, its `-wal` and `-shm` and a backup hold password and token hashes:
    /// owner-only under the common umask 022, and a file a looser umask left is tightened.
    #[test]
    fn the_database_its_wal_and_shm_and_backups_are_owner_only_under_umask_022() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| format!("{:o}", std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777);
        // SAFETY: umask only sets the process's file creation mask; 022 is the usual default
        unsafe { libc::umask(0o022) };
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let pool = open(db.to_str().unwrap()).unwrap();
        let mut c = pool.get().unwrap();
        diesel::sql_query("CREATE TABLE t (x)").execute(&mut c).unwrap();
        for side in ["t.db", "t.db-wal", "t.db-shm"] {
            assert_eq!(mode(&dir.path().join(side)), "600", "{side}");
        }
        let copy = dir.path().join("copy.db");
        backup(&mut c, &copy).unwrap();
        assert_eq!(mode(&copy), "600", "the backup");
        assert!(backup(&mut c, &copy).unwrap_err().contains("exists already"));
        drop((c, pool));
        let loose = dir.path().join("loose.db");
        std::fs::write(&loose, b"").unwrap();
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
        open(loose.to_str().unwrap()).unwrap();
        assert_eq!(mode(&loose), "600", "an existing database is tightened");
    }

    #[test]
    fn database_errors_are_classified_in_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let pool = open(dir.path().join("t.db").to_str().unwrap()).unwrap();
        let mut c = pool.get().unwrap();
        diesel::sql_query("CREATE TABLE t (email_normalized TEXT UNIQUE)").execute(&mut c).unwrap();
        diesel::sql_query("INSERT INTO t VALUES ('a')").execute(&mut c).unwrap();
        let again = diesel::sql_query("INSERT INTO t VALUES ('a')").execute(&mut c).unwrap_err();
        assert!(matches!(classify(again), Error::Taken("email")));
        assert!(matches!(classify(diesel::result::Error::NotFound), Error::NotFound));
        let other = diesel::sql_query("SELECT nonsense FROM nowhere").execute(&mut c).unwrap_err();
        let e = classify(other);
        assert!(matches!(e, Error::Internal(_)));
        assert!(e.chain().contains("nowhere"), "the cause is kept: {}", e.chain());
    }

    #[test]
    fn read_only_connections_refuse_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("t.db").display().to_string();
        open(&url).unwrap();
        let readers = open_readers(&url, 1).unwrap();
        let mut c = readers.get().unwrap();
        assert_eq!(diesel::sql_query("SELECT count(*) AS v FROM users").get_result::<Num>(&mut c).unwrap().v, 0);
        let err = diesel::sql_query("DELETE FROM users").execute(&mut c).unwrap_err();
        assert!(err.to_string().contains("readonly"), "{err}");
    }
}
