//! What only SQLite has: the file and its modes, pragmas, the online backup, its messages.

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Reads go through a memory map of up to 256 MiB of the database: a page already in the
/// OS cache costs no system call, and the connections share those pages instead of each
/// keeping a copy in its own page cache. On a million tokens this halved a token check
/// (criterion: 13.7 µs to 7.6 µs; BENCHMARKS.md). Writes still go through `write()`.
pub const MMAP_SIZE: i64 = 256 * 1024 * 1024;

/// Creates the file owner-only, turns WAL on and applies the migrations. WAL is a property
/// of the database file and is set once here (setting it per connection raced: "database
/// is locked").
pub(super) fn prepare(path: &str) -> Result<(), String> {
    restrict_file_modes(path)?;
    let mut conn = SqliteConnection::establish(path).map_err(|e| format!("opening {path}: {e}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;").map_err(|e| format!("setting up {path}: {e}"))?;
    conn.run_pending_migrations(MIGRATIONS).map_err(|e| format!("migrating {path}: {e}"))?;
    Ok(())
}

/// Per-connection settings. Read-only connections (`query_only`) wait less for a lock:
/// they serve the async workers.
pub(super) fn configure(conn: &mut SqliteConnection, read_only: bool) -> diesel::QueryResult<()> {
    if read_only {
        conn.batch_execute(&format!("PRAGMA busy_timeout = 1000; PRAGMA query_only = ON; PRAGMA mmap_size = {MMAP_SIZE};"))
    } else {
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON; PRAGMA mmap_size = {MMAP_SIZE};"
        ))
    }
}

/// A million random hashes and uuids land all over their indexes: with SQLite's default
/// 2 MB page cache nearly every insert reads and writes pages through the kernel (the seed
/// spent most of its time in system calls); 512 MB keeps the indexes in memory. A
/// throwaway dataset needs no fsync, and one checkpoint at the end instead of one every
/// 4 MB of WAL (each copying and syncing pages the next batch rewrites).
pub(super) fn before_bulk_load(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute("PRAGMA cache_size = -524288; PRAGMA synchronous = OFF; PRAGMA wal_autocheckpoint = 0;")
}

pub(super) fn after_bulk_load(conn: &mut SqliteConnection) -> diesel::QueryResult<()> {
    conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA wal_autocheckpoint = 1000; PRAGMA synchronous = NORMAL;")
}

/// SQLite's result codes SQLITE_FULL, SQLITE_BUSY (past the busy timeout) and SQLITE_IOERR,
/// by their messages: SQLite gives diesel no kind for them (all `Unknown`).
pub(super) fn unavailable(message: &str) -> bool {
    message.contains("database or disk is full") || message.contains("database is locked") || message.contains("disk I/O error")
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

/// A consistent copy of the live database in `target` (which must not exist), taken while
/// Berth runs: `VACUUM INTO` reads one snapshot, so writers are not stopped and the copy
/// holds everything committed before it began. The copy is as secret as the database:
/// the file is created owner-only (0600) first, and `VACUUM INTO` fills the empty file.
pub(super) fn backup(conn: &mut SqliteConnection, target: &std::path::Path) -> Result<(), String> {
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

/// `PRAGMA integrity_check`: "ok" when sound.
pub(super) fn integrity_check(conn: &mut SqliteConnection) -> Result<String, String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        integrity_check: String,
    }
    let rows: Vec<Row> = diesel::sql_query("PRAGMA integrity_check").load(conn).map_err(|e| e.to_string())?;
    Ok(rows.into_iter().map(|r| r.integrity_check).collect::<Vec<_>>().join("; "))
}
