//! What only PostgreSQL has: migrations under an advisory lock, read-only sessions, the
//! messages of a database that is going away, and its consistency check.

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// The advisory lock key instances take while migrating ("berth" in ASCII): when several
/// start at once, one migrates and the others wait, then find nothing left to do.
const MIGRATION_LOCK: i64 = 0x0062_6572_7468;

pub const BACKUP_HINT: &str = "this Berth runs on PostgreSQL: back it up with PostgreSQL's own tools, e.g. \
     `pg_dump --format=custom --file=berth.dump \"$BERTH_DATABASE_URL\"` (restore with pg_restore into an empty database), \
     and keep the master key (BERTH_MASTER_KEY_FILE) with it: the dump's 2FA secrets and signing keys open only with that key";

/// Applies the migrations, one instance at a time.
pub(super) fn prepare(url: &str) -> Result<(), String> {
    let shown = super::shown(url);
    let mut conn = PgConnection::establish(url).map_err(|e| format!("connecting to {shown}: {}", super::without_url(url, e)))?;
    // a session lock, held across the migrations' own transactions, released when the
    // connection closes even if this process dies
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK)
        .execute(&mut conn)
        .map_err(|e| format!("locking {shown} to migrate: {e}"))?;
    let migrated = conn.run_pending_migrations(MIGRATIONS).map(|_| ()).map_err(|e| format!("migrating {shown}: {e}"));
    let _ = diesel::sql_query("SELECT pg_advisory_unlock($1)").bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK).execute(&mut conn);
    migrated
}

/// Whether the database at `url` is one Berth has migrated (false when it cannot be reached).
pub fn holds_berth(url: &str) -> bool {
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let Ok(mut conn) = PgConnection::establish(url) else { return false };
    diesel::sql_query("SELECT to_regclass('__diesel_schema_migrations') IS NOT NULL AS found").get_result::<Found>(&mut conn).is_ok_and(|f| f.found)
}

/// Per-connection settings: a statement or a lock wait that hangs answers "unavailable"
/// after a while instead of holding a pool connection forever.
pub(super) fn configure(conn: &mut PgConnection, read_only: bool) -> diesel::QueryResult<()> {
    let mode = if read_only { "SET default_transaction_read_only = on;" } else { "" };
    conn.batch_execute(&format!("SET statement_timeout = '30s'; SET lock_timeout = '10s'; SET idle_in_transaction_session_timeout = '60s'; {mode}"))
}

/// A throwaway dataset: its commit need not wait for the disk.
pub(super) fn before_bulk_load(conn: &mut PgConnection) -> diesel::QueryResult<()> {
    conn.batch_execute("SET LOCAL synchronous_commit = off;")
}

/// The planner's statistics of the new rows: without them a million-row table is planned
/// as if it were empty until autovacuum gets to it.
pub(super) fn after_bulk_load(conn: &mut PgConnection) -> diesel::QueryResult<()> {
    conn.batch_execute("ANALYZE;")
}

/// Messages of a server that is shutting down, starting, full or gone (diesel reports
/// these as `Unknown`): the request may succeed a moment later, or on another instance.
pub(super) fn unavailable(message: &str) -> bool {
    [
        "terminating connection",
        "the database system is shutting down",
        "the database system is starting up",
        "the database system is in recovery mode",
        "server closed the connection unexpectedly",
        "No space left on device",
        "could not extend file",
        "canceling statement due to lock timeout",
        "canceling statement due to statement timeout",
        "deadlock detected",
        "too many connections",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// "invalid byte sequence for encoding "UTF8": 0x00": a NUL in a text parameter.
pub(super) fn nul_in_text(message: &str) -> bool {
    message.starts_with("invalid byte sequence for encoding") && message.ends_with("0x00")
}

/// PostgreSQL keeps its pages checksummed and its constraints enforced itself; what Berth
/// checks is that its schema is complete (every migration applied) and every table
/// readable end to end.
pub(super) fn integrity_check(conn: &mut PgConnection) -> Result<String, String> {
    let pending = conn.pending_migrations(MIGRATIONS).map_err(|e| e.to_string())?;
    if !pending.is_empty() {
        return Err(format!("{} migration(s) not applied", pending.len()));
    }
    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = diesel::sql_types::Text)]
        tablename: String,
    }
    let tables: Vec<Table> =
        diesel::sql_query("SELECT tablename::text AS tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename").load(conn).map_err(|e| e.to_string())?;
    for t in &tables {
        conn.batch_execute(&format!("SELECT count(*) FROM \"{}\"", t.tablename.replace('"', "\"\""))).map_err(|e| format!("reading {}: {e}", t.tablename))?;
    }
    Ok("ok".into())
}
