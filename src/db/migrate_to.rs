//! `berth migrate-to`: a stopped SQLite Berth copied into an empty PostgreSQL database,
//! every table and every row as they are (ids, hashes and sealed secrets byte for byte), in
//! one PostgreSQL transaction; and the lock beside a SQLite database that tells a running
//! server from a stopped one.
//!
//! The copy reads the tables and columns from the two databases themselves, not from a list
//! kept here: a table a migration adds is copied without a change to this file, and a table
//! or column one backend has and the other lacks stops the copy before it starts.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use diesel_migrations::MigrationHarness;

use super::{Conn, Kind, shown};

/// Rows per INSERT: a million tokens take a thousand round trips, and no more than one
/// batch is held in memory at once.
pub const BATCH_ROWS: i64 = 1000;

/// Diesel's record of the applied migrations: each backend keeps its own, so it is not copied.
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

/// What was copied: each table with its rows, counted in the source and again in the
/// target after the commit (the two agree, or the copy reports an error).
#[derive(Debug, Clone)]
pub struct Report {
    /// In the order they were copied (a table after those its foreign keys name).
    pub tables: Vec<(String, i64)>,
    pub seconds: f64,
}

/// Copies the SQLite database `source` into the PostgreSQL database `target_url`, which
/// must hold no Berth rows: its migrations are applied first. Refuses, changing nothing,
/// while a server or another Berth command holds `source` (`DatabaseLock::shared`).
pub fn migrate_to(source: &Path, target_url: &str) -> Result<Report, String> {
    let started = std::time::Instant::now();
    if Kind::of(target_url) != Kind::Postgres {
        // the URL is not repeated: whatever it is, it may hold a password
        return Err("migrate-to copies into PostgreSQL: give a postgres:// or postgresql:// URL, or libpq's keyword form (host=… dbname=…)".into());
    }
    if !source.is_file() {
        return Err(format!("no SQLite database at {}: set BERTH_DATA (and BERTH_DATABASE_URL, if it is elsewhere) to those of the Berth to move", source.display()));
    }
    let _lock = DatabaseLock::exclusive(source)?;
    let mut sqlite = open_read_only(source)?;
    let shown_target = shown(target_url);
    refuse_foreign_tables(target_url, &table_names_sqlite(&mut sqlite)?)?;
    let pool = super::open(target_url)?;
    let mut conn = pool.get().map_err(|e| format!("connecting to {shown_target}: {e}"))?;
    let Conn::Postgres(pg) = &mut *conn else { return Err(format!("{shown_target} did not open as PostgreSQL")) };
    let tables = plan(&mut sqlite, pg)?;

    let counts = sqlite
        .transaction(|sqlite| {
            pg.transaction(|pg| {
                lock_and_check_empty(pg, &tables)?;
                // the rows are copied as they are: a trigger keeping a count (a team's
                // members) would count the copied rows again on top of the copied count
                set_triggers(pg, &tables, "DISABLE")?;
                let mut counts = Vec::new();
                for table in &tables {
                    let expected = count(sqlite, &table.name)?;
                    let copied = copy_table(sqlite, pg, table)?;
                    if copied != expected {
                        return Err(Failure(format!("table {}: {copied} rows copied of {expected}", table.name)));
                    }
                    counts.push((table.name.clone(), expected));
                }
                move_counters_past_copied_ids(pg, &tables)?;
                set_triggers(pg, &tables, "ENABLE")?;
                Ok(counts)
            })
        })
        .map_err(|Failure(why)| format!("nothing was copied into {shown_target}: {why}"))?;

    for (name, expected) in &counts {
        let found = count(pg, name).map_err(|Failure(why)| format!("counting the copied rows of {name}: {why}"))?;
        if found != *expected {
            return Err(format!("table {name} holds {found} rows in {shown_target} after the copy, the SQLite database {expected}"));
        }
    }
    // the planner's statistics of the new rows: without them a large table is planned as if
    // it were empty until autovacuum gets to it
    pg.batch_execute("ANALYZE").map_err(|e| format!("analyzing {shown_target}: {}", without_values(&e)))?;
    Ok(Report { tables: counts, seconds: started.elapsed().as_secs_f64() })
}

/// The lock file beside a SQLite database, `berth.db.lock` beside `berth.db`. Each server,
/// and each operator command that writes, holds it shared while it runs, so several may
/// still use one file at once; `migrate-to` takes it exclusively, so it never copies a
/// database something is writing, and nothing writes while it copies (a write after its
/// snapshot would be lost to the copy). The kernel releases a lock when its holder exits,
/// however it exits, so a crashed server leaves no lock behind. (A lock file of its own: SQLite's own locks are
/// `fcntl` locks on the database file, which NFS would mix up with `flock` on that file.)
pub struct DatabaseLock {
    _file: std::fs::File,
}

impl DatabaseLock {
    /// The lock a server or a command holds while it may write the SQLite database `database`.
    pub fn shared(database: &Path) -> Result<DatabaseLock, String> {
        DatabaseLock::take(database, libc::LOCK_SH, |lock| {
            format!("`berth migrate-to` is copying {} to PostgreSQL (it holds {lock}): wait until it is done, then use the database it names", database.display())
        })
    }

    fn exclusive(database: &Path) -> Result<DatabaseLock, String> {
        DatabaseLock::take(database, libc::LOCK_EX, |lock| {
            format!(
                "Berth is in use on {} (a server or a berth command holds {lock}): stop every Berth server on this database and let running commands finish first, so that nothing is written during or after the copy",
                database.display()
            )
        })
    }

    /// Takes the lock in `mode` without waiting; `held` says why not when another holds it.
    fn take(database: &Path, mode: libc::c_int, held: impl FnOnce(std::path::Display) -> String) -> Result<DatabaseLock, String> {
        let path = lock_file(database);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("opening the lock file {}: {e}", path.display()))?;
        // SAFETY: flock only reads the descriptor, which `file` keeps open
        if unsafe { libc::flock(file.as_raw_fd(), mode | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.kind() == std::io::ErrorKind::WouldBlock { held(path.display()) } else { format!("locking {}: {e}", path.display()) });
        }
        Ok(DatabaseLock { _file: file })
    }
}

/// `berth.db.lock` beside `berth.db`.
pub fn lock_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// The source, opened read-only (`mode=ro`): the copy cannot change it, whatever goes wrong.
/// A database older than this Berth's migrations is refused: its tables would not match
/// PostgreSQL's, and bringing it up to date is a write.
fn open_read_only(source: &Path) -> Result<SqliteConnection, String> {
    let path = source.to_str().ok_or_else(|| format!("{}: the path is not UTF-8", source.display()))?;
    // a URI's path: `?` and `#` would end it, `%` would start an escape
    const URI_PATH: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS.add(b'%').add(b'?').add(b'#');
    let uri = format!("file:{}?mode=ro", percent_encoding::utf8_percent_encode(path, URI_PATH));
    let mut conn = SqliteConnection::establish(&uri).map_err(|e| format!("opening {} read-only: {e}", source.display()))?;
    conn.batch_execute("PRAGMA busy_timeout = 5000;").map_err(|e| format!("opening {}: {e}", source.display()))?;
    let pending = conn.pending_migrations(super::SQLITE_MIGRATIONS).map_err(|e| format!("reading the migrations of {}: {e}", source.display()))?;
    if !pending.is_empty() {
        return Err(format!(
            "{} is not up to date with this Berth ({} migration(s) to apply): start this Berth on it once (it migrates at start), stop it, then run migrate-to again",
            source.display(),
            pending.len()
        ));
    }
    Ok(conn)
}

/// A database that is not Berth's may hold tables of its own; migrating it would add Berth's
/// beside them. Only a database without tables, or with Berth's, is taken.
fn refuse_foreign_tables(target_url: &str, berth_tables: &BTreeSet<String>) -> Result<(), String> {
    let shown_target = shown(target_url);
    let mut pg = PgConnection::establish(target_url).map_err(|e| match e {
        diesel::ConnectionError::InvalidConnectionUrl(_) => "the target is not a valid PostgreSQL URL".to_string(),
        other => format!("connecting to {shown_target}: {other}"),
    })?;
    let foreign: Vec<String> = table_names_pg(&mut pg)?.into_iter().filter(|t| t != MIGRATIONS_TABLE && !berth_tables.contains(t)).collect();
    if !foreign.is_empty() {
        return Err(format!("{shown_target} holds tables that are not Berth's ({}): give migrate-to a new, empty database", foreign.join(", ")));
    }
    Ok(())
}

/// One table to copy, as both databases have it.
#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<Column>,
    /// A rowid table (every table unless `WITHOUT ROWID`): read in rowid order, a batch
    /// after the last one's rowid.
    rowid: bool,
    /// Its primary key's columns, the order of a `WITHOUT ROWID` table.
    key: Vec<String>,
}

#[derive(Debug)]
struct Column {
    name: String,
    form: Form,
    /// Filled by an identity or serial counter, which must be moved past the copied values.
    counter: bool,
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    pk: i64,
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    counter: bool,
}

#[derive(QueryableByName)]
struct ForeignKey {
    #[diesel(sql_type = Text)]
    child: String,
    #[diesel(sql_type = Text)]
    parent: String,
}

fn table_names_sqlite(conn: &mut SqliteConnection) -> Result<BTreeSet<String>, String> {
    let names: Vec<Name> = diesel::sql_query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        .load(conn)
        .map_err(|e| format!("listing the SQLite tables: {e}"))?;
    Ok(names.into_iter().map(|n| n.name).collect())
}

fn table_names_pg(conn: &mut PgConnection) -> Result<BTreeSet<String>, String> {
    let names: Vec<Name> = diesel::sql_query("SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema()")
        .load(conn)
        .map_err(|e| format!("listing the PostgreSQL tables: {e}"))?;
    Ok(names.into_iter().map(|n| n.name).collect())
}

/// The tables to copy, each after those its foreign keys name. Both databases must have the
/// same tables with the same columns, of types the copy knows; anything else is refused
/// before a row moves, naming what differs.
fn plan(sqlite: &mut SqliteConnection, pg: &mut PgConnection) -> Result<Vec<Table>, String> {
    let mut in_sqlite = table_names_sqlite(sqlite)?;
    let mut in_pg = table_names_pg(pg)?;
    in_sqlite.remove(MIGRATIONS_TABLE);
    in_pg.remove(MIGRATIONS_TABLE);
    if in_sqlite != in_pg {
        let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| a.difference(b).cloned().collect::<Vec<_>>().join(", ");
        return Err(format!(
            "the two databases do not have the same tables (only in SQLite: [{}]; only in PostgreSQL: [{}]): this Berth's migrations for the two backends disagree",
            only(&in_sqlite, &in_pg),
            only(&in_pg, &in_sqlite)
        ));
    }
    let pg_columns: Vec<PgColumn> = diesel::sql_query(
        "SELECT table_name::text AS table_name, column_name::text AS column_name, data_type::text AS data_type, \
         (is_identity = 'YES' OR coalesce(column_default, '') LIKE 'nextval(%') AS counter \
         FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position",
    )
    .load(pg)
    .map_err(|e| format!("reading the PostgreSQL columns: {e}"))?;
    let mut pg_by_table: BTreeMap<&str, Vec<&PgColumn>> = BTreeMap::new();
    for c in &pg_columns {
        pg_by_table.entry(c.table_name.as_str()).or_default().push(c);
    }
    let mut tables = BTreeMap::new();
    for name in &in_sqlite {
        let columns: Vec<SqliteColumn> = diesel::sql_query("SELECT name, type AS kind, pk FROM pragma_table_info(?) ORDER BY cid")
            .bind::<Text, _>(name)
            .load(sqlite)
            .map_err(|e| format!("reading the SQLite columns of {name}: {e}"))?;
        let theirs = pg_by_table.get(name.as_str()).cloned().unwrap_or_default();
        let (ours_names, theirs_names): (BTreeSet<&str>, BTreeSet<&str>) =
            (columns.iter().map(|c| c.name.as_str()).collect(), theirs.iter().map(|c| c.column_name.as_str()).collect());
        if ours_names != theirs_names {
            let only = |a: &BTreeSet<&str>, b: &BTreeSet<&str>| a.difference(b).copied().collect::<Vec<_>>().join(", ");
            return Err(format!(
                "table {name} has other columns in the two databases (only in SQLite: [{}]; only in PostgreSQL: [{}])",
                only(&ours_names, &theirs_names),
                only(&theirs_names, &ours_names)
            ));
        }
        let mut copied = Vec::new();
        for c in &columns {
            let pg_column = theirs.iter().find(|p| p.column_name == c.name).expect("the same column names");
            let form = match form(&c.kind, &pg_column.data_type) {
                Some(form) => form,
                None => {
                    return Err(format!("column {name}.{} is {} in SQLite and {} in PostgreSQL: migrate-to does not know how to copy it", c.name, c.kind, pg_column.data_type));
                }
            };
            copied.push(Column { name: c.name.clone(), form, counter: pg_column.counter });
        }
        let mut key: Vec<&SqliteColumn> = columns.iter().filter(|c| c.pk > 0).collect();
        key.sort_by_key(|c| c.pk);
        let key = key.into_iter().map(|c| c.name.clone()).collect();
        tables.insert(name.clone(), Table { name: name.clone(), columns: copied, rowid: has_rowid(sqlite, name)?, key });
    }
    let keys: Vec<ForeignKey> = diesel::sql_query(
        "SELECT child.relname::text AS child, parent.relname::text AS parent FROM pg_constraint c \
         JOIN pg_class child ON child.oid = c.conrelid JOIN pg_class parent ON parent.oid = c.confrelid \
         JOIN pg_namespace n ON n.oid = child.relnamespace WHERE c.contype = 'f' AND n.nspname = current_schema()",
    )
    .load(pg)
    .map_err(|e| format!("reading the PostgreSQL foreign keys: {e}"))?;
    let order = parents_first(&in_sqlite, keys.iter().map(|k| (k.child.as_str(), k.parent.as_str())))?;
    Ok(order.into_iter().map(|name| tables.remove(&name).expect("every table is planned")).collect())
}

/// How a column's values travel in the JSON between the two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// Integers, text, and booleans, which SQLite stores as 0 and 1 and PostgreSQL reads as
    /// false and true.
    AsIs,
    /// Bytes, as hex (`\x…`): JSON has no bytes, and PostgreSQL reads `bytea` from hex.
    Hex,
}

/// The form of a pair of declared types, when the copy carries it exactly; None for any
/// other pair (a float, say, which might not come back bit for bit through JSON).
fn form(sqlite_type: &str, pg_type: &str) -> Option<Form> {
    let declared = sqlite_type.split('(').next().unwrap_or("").trim().to_ascii_uppercase();
    match (declared.as_str(), pg_type) {
        ("INTEGER" | "BIGINT" | "INT" | "SMALLINT", "integer" | "bigint" | "smallint") => Some(Form::AsIs),
        ("TEXT" | "VARCHAR", "text" | "character varying") => Some(Form::AsIs),
        ("BOOLEAN", "boolean") => Some(Form::AsIs),
        ("BLOB" | "BINARY", "bytea") => Some(Form::Hex),
        _ => None,
    }
}

fn has_rowid(sqlite: &mut SqliteConnection, table: &str) -> Result<bool, String> {
    #[derive(QueryableByName)]
    struct WithoutRowid {
        #[diesel(sql_type = BigInt)]
        wr: i64,
    }
    let found: WithoutRowid = diesel::sql_query("SELECT wr FROM pragma_table_list WHERE schema = 'main' AND name = ?")
        .bind::<Text, _>(table)
        .get_result(sqlite)
        .map_err(|e| format!("reading the SQLite table {table}: {e}"))?;
    Ok(found.wr == 0)
}

/// The tables in an order where each comes after every table its foreign keys name, and
/// otherwise by name. A table naming itself needs no order among tables; a cycle between
/// tables cannot be copied one table at a time and is refused.
fn parents_first<'a>(tables: &BTreeSet<String>, keys: impl Iterator<Item = (&'a str, &'a str)>) -> Result<Vec<String>, String> {
    let mut waits_for: BTreeMap<&str, BTreeSet<&str>> = tables.iter().map(|t| (t.as_str(), BTreeSet::new())).collect();
    for (child, parent) in keys {
        if child != parent
            && tables.contains(parent)
            && let Some(parents) = waits_for.get_mut(child)
        {
            parents.insert(parent);
        }
    }
    let mut order = Vec::new();
    while !waits_for.is_empty() {
        let Some(next) = waits_for.iter().find(|(_, parents)| parents.is_empty()).map(|(t, _)| *t) else {
            let stuck: Vec<&str> = waits_for.keys().copied().collect();
            return Err(format!("the foreign keys of these tables form a cycle: {}", stuck.join(", ")));
        };
        waits_for.remove(next);
        waits_for.values_mut().for_each(|parents| {
            parents.remove(next);
        });
        order.push(next.to_string());
    }
    Ok(order)
}

/// Why the copy stopped; it rolls the transaction back.
struct Failure(String);

impl From<diesel::result::Error> for Failure {
    fn from(e: diesel::result::Error) -> Self {
        Failure(without_values(&e))
    }
}

/// A database error without the value it may quote: PostgreSQL and SQLite put an offending
/// value after a colon ("invalid input syntax for type integer: \"…\""), and a value here
/// may be a password hash or a sealed secret. What precedes it names the fault, and the
/// constraint or column when there is one.
fn without_values(e: &diesel::result::Error) -> String {
    match e {
        diesel::result::Error::DatabaseError(_, info) => info.message().split(": ").next().unwrap_or_default().to_string(),
        other => other.to_string(),
    }
}

/// `"name"`, quoted for SQL whatever it holds.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn count<C>(conn: &mut C, table: &str) -> Result<i64, Failure>
where
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Count>,
{
    let found: Count = diesel::sql_query(format!("SELECT count(*) AS n FROM {}", quoted(table))).get_result(conn)?;
    Ok(found.n)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Every table locked against writers until the commit, then each found empty: a Berth
/// started on the target too early writes nothing in between, and a target holding rows is
/// refused, naming the table.
fn lock_and_check_empty(pg: &mut PgConnection, tables: &[Table]) -> Result<(), Failure> {
    let names: Vec<String> = tables.iter().map(|t| quoted(&t.name)).collect();
    pg.batch_execute(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", names.join(", ")))?;
    for table in tables {
        let held = count(pg, &table.name)?;
        if held > 0 {
            return Err(Failure(format!(
                "the target is not empty: table {} holds {held} row(s); migrate-to copies into a database without Berth rows only (create a new one)",
                table.name
            )));
        }
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Batch {
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = BigInt)]
    last: i64,
    #[diesel(sql_type = Text)]
    rows: String,
}

/// Copies one table in batches of `BATCH_ROWS`. SQLite writes each batch as one JSON array
/// of row objects and PostgreSQL reads it into rows of the table's own type
/// (`json_populate_recordset`), so one statement inserts the whole batch, every value keeps
/// its type (bytes as hex), and Berth itself never reads a value. Returns the rows inserted.
fn copy_table(sqlite: &mut SqliteConnection, pg: &mut PgConnection, table: &Table) -> Result<i64, Failure> {
    let object = table
        .columns
        .iter()
        .map(|c| {
            let column = quoted(&c.name);
            // hex(NULL) is '', which would become an empty value instead of NULL
            let value = if c.form == Form::Hex { format!("CASE WHEN {column} IS NULL THEN NULL ELSE '\\x' || hex({column}) END") } else { column };
            format!("'{}', {value}", c.name.replace('\'', "''"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    let name = quoted(&table.name);
    // a rowid table is read a batch after the last rowid read; a `WITHOUT ROWID` one in
    // primary key order, a batch after the rows read so far (the read transaction keeps the
    // rows still)
    let rows = if table.rowid {
        format!("SELECT rowid AS berth_rowid, * FROM {name} WHERE rowid > ? ORDER BY rowid LIMIT ?")
    } else {
        let key = table.key.iter().map(|k| quoted(k)).collect::<Vec<_>>().join(", ");
        format!("SELECT 0 AS berth_rowid, * FROM {name} ORDER BY {key} LIMIT ? OFFSET ?")
    };
    let read = format!("SELECT count(*) AS n, coalesce(max(berth_rowid), 0) AS last, json_group_array(json_object({object})) AS rows FROM ({rows})");
    let columns = table.columns.iter().map(|c| quoted(&c.name)).collect::<Vec<_>>().join(", ");
    let insert = format!("INSERT INTO {name} ({columns}) SELECT {columns} FROM json_populate_recordset(NULL::{name}, $1::json)");
    let (mut copied, mut last) = (0, i64::MIN);
    loop {
        let query = diesel::sql_query(&read).into_boxed::<diesel::sqlite::Sqlite>();
        let query = if table.rowid { query.bind::<BigInt, _>(last).bind::<BigInt, _>(BATCH_ROWS) } else { query.bind::<BigInt, _>(BATCH_ROWS).bind::<BigInt, _>(copied) };
        let batch: Batch = query.get_result(sqlite)?;
        if batch.n == 0 {
            return Ok(copied);
        }
        let inserted = diesel::sql_query(&insert).bind::<Text, _>(&batch.rows).execute(pg).map_err(|e| Failure(format!("copying table {}: {}", table.name, without_values(&e))))?;
        copied += inserted as i64;
        last = batch.last;
    }
}

/// `DISABLE`s or `ENABLE`s the tables' own triggers (`USER`: never the foreign keys').
fn set_triggers(pg: &mut PgConnection, tables: &[Table], how: &str) -> Result<(), Failure> {
    for table in tables {
        pg.batch_execute(&format!("ALTER TABLE {} {how} TRIGGER USER", quoted(&table.name)))?;
    }
    Ok(())
}

/// Moves every identity or serial counter past the highest value copied, so a new row gets
/// a fresh id (an empty table's counter starts at 1).
fn move_counters_past_copied_ids(pg: &mut PgConnection, tables: &[Table]) -> Result<(), Failure> {
    for table in tables {
        for column in table.columns.iter().filter(|c| c.counter) {
            let (t, c) = (quoted(&table.name), quoted(&column.name));
            pg.batch_execute(&format!(
                "SELECT setval(pg_get_serial_sequence('{}', '{}'), coalesce(max({c}), 0) + 1, false) FROM {t}",
                t.replace('\'', "''"),
                column.name.replace('\'', "''")
            ))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn tables_are_copied_after_the_tables_their_foreign_keys_name() {
        let tables = names(&["access_tokens", "activity", "owners", "users"]);
        let keys = [("access_tokens", "owners"), ("owners", "users"), ("activity", "users"), ("users", "users")];
        assert_eq!(parents_first(&tables, keys.into_iter()).unwrap(), ["users", "activity", "owners", "access_tokens"]);
    }

    #[test]
    fn a_cycle_of_foreign_keys_is_refused_naming_its_tables() {
        let tables = names(&["a", "b", "c"]);
        let err = parents_first(&tables, [("a", "b"), ("b", "a")].into_iter()).unwrap_err();
        assert!(err.ends_with("form a cycle: a, b"), "{err}");
    }

    #[test]
    fn only_type_pairs_that_copy_exactly_are_accepted() {
        assert_eq!(form("INTEGER", "integer"), Some(Form::AsIs));
        assert_eq!(form("BigInt", "bigint"), Some(Form::AsIs));
        assert_eq!(form("VARCHAR(50)", "character varying"), Some(Form::AsIs));
        assert_eq!(form("BOOLEAN", "boolean"), Some(Form::AsIs));
        assert_eq!(form("BLOB", "bytea"), Some(Form::Hex));
        assert_eq!(form("REAL", "double precision"), None);
        assert_eq!(form("TEXT", "bytea"), None);
        assert_eq!(form("TIMESTAMP", "timestamp without time zone"), None);
    }

    #[test]
    fn the_lock_file_lies_beside_the_database() {
        assert_eq!(lock_file(Path::new("/srv/berth/berth.db")), Path::new("/srv/berth/berth.db.lock"));
    }

    #[test]
    fn a_shared_lock_admits_other_servers_and_keeps_the_copy_out_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("berth.db");
        let first = DatabaseLock::shared(&db).unwrap();
        let second = DatabaseLock::shared(&db).expect("a second server on the same file");
        let refused = DatabaseLock::exclusive(&db).err().expect("refused while servers hold it");
        assert!(refused.contains("Berth is in use on") && refused.contains("stop every Berth server"), "{refused}");
        drop((first, second));
        let copying = DatabaseLock::exclusive(&db).expect("free once the servers are gone");
        let refused = DatabaseLock::shared(&db).err().expect("no server starts during a copy");
        assert!(refused.contains("migrate-to` is copying"), "{refused}");
        drop(copying);
    }

    #[test]
    fn an_error_shows_no_value_it_quotes() {
        struct Info;
        impl diesel::result::DatabaseErrorInformation for Info {
            fn message(&self) -> &str {
                "invalid input syntax for type integer: \"$argon2id$v=19$secret\""
            }
            fn details(&self) -> Option<&str> {
                None
            }
            fn hint(&self) -> Option<&str> {
                None
            }
            fn table_name(&self) -> Option<&str> {
                None
            }
            fn column_name(&self) -> Option<&str> {
                None
            }
            fn constraint_name(&self) -> Option<&str> {
                None
            }
            fn statement_position(&self) -> Option<i32> {
                None
            }
        }
        let e = diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::Unknown, Box::new(Info));
        assert_eq!(without_values(&e), "invalid input syntax for type integer");
    }
}
