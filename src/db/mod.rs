//! The database: SQLite (embedded, the default) or PostgreSQL (several Berth instances on
//! one database), through one diesel connection type, `Conn`, and an r2d2 pool. Domain
//! code writes portable queries against `Conn`; whatever differs between the two backends
//! stays in this module: opening and migrating (`sqlite`, `postgres`), what a write
//! transaction locks (`write_tx`, `lock`), the upserts diesel cannot write for both
//! (`upsert`), backups and integrity checks, and reading a database error (`classify`).

mod lock;
pub mod migrate_to;
mod postgres;
pub mod schema;
pub mod shared_limits;
mod sqlite;
pub mod upsert;

use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection, R2D2Connection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, ConnectionError};

use crate::Error;

pub use lock::{lock_owner, lock_owner_of_user, lock_user};
pub use postgres::holds_berth as postgres_holds_berth;
pub use sqlite::{MIGRATIONS as SQLITE_MIGRATIONS, MMAP_SIZE};

/// A connection to either backend. `MultiConnection` gives both one query builder, so a
/// domain function is written once; a statement only one backend can run matches on the
/// variant here in `db`.
#[derive(diesel::MultiConnection)]
pub enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

/// The same statement on whichever connection `conn` is, compiled once per backend: for
/// what `MultiConnection` cannot write (`ON CONFLICT`, a multi-row insert), where both
/// backends run the same SQL.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::Conn::Sqlite($c) => $body,
            $crate::db::Conn::Postgres($c) => $body,
        }
    };
}
pub(crate) use per_backend;

/// The backend of a `Conn`, for boxed queries (`table::BoxedQuery<'a, db::Backend>`).
pub type Backend = MultiBackend;

pub type DbPool = Pool<Manager>;
pub type DbConn = PooledConnection<Manager>;

/// Which database `BERTH_DATABASE_URL` names. The setting is kept as given (a SQLite path
/// or a PostgreSQL URL); this reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

impl Kind {
    /// A `postgres://` or `postgresql://` URL, or libpq's keyword form with a `host=`
    /// (a unix socket's folder or a host name), is PostgreSQL; anything else is a SQLite file.
    pub fn of(url: &str) -> Kind {
        let lower = url.trim().to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") || lower.split_whitespace().any(|word| word.starts_with("host=")) {
            Kind::Postgres
        } else {
            Kind::Sqlite
        }
    }
}

/// The database URL fit for a message or a log: a PostgreSQL URL without its password
/// (`postgres://berth@db:5432/berth`, `host=/run/postgresql dbname=berth`); a SQLite path
/// as it is.
pub fn shown(url: &str) -> String {
    if Kind::of(url) == Kind::Sqlite {
        return url.to_string();
    }
    if let Ok(mut parsed) = url::Url::parse(url.trim()) {
        if parsed.password().is_some() {
            let _ = parsed.set_password(None);
        }
        // a password may also ride in the query string (?password=…)
        let kept: Vec<(String, String)> = parsed.query_pairs().filter(|(k, _)| !k.eq_ignore_ascii_case("password")).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
        return parsed.to_string();
    }
    url.split_whitespace().filter(|word| !word.to_ascii_lowercase().starts_with("password=")).collect::<Vec<_>>().join(" ")
}

/// Makes the pool's connections: the backend is chosen by the URL once, not by trying
/// each driver in turn (a PostgreSQL URL must never become a SQLite file's name).
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    kind: Kind,
    read_only: bool,
}

impl ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        let conn = match self.kind {
            Kind::Sqlite => SqliteConnection::establish(&self.url).map(Conn::Sqlite),
            Kind::Postgres => PgConnection::establish(&self.url).map(Conn::Postgres),
        };
        let mut conn = conn.map_err(|e| diesel::r2d2::Error::ConnectionError(without_url(&self.url, e)))?;
        match &mut conn {
            Conn::Sqlite(c) => sqlite::configure(c, self.read_only),
            Conn::Postgres(c) => postgres::configure(c, self.read_only),
        }
        .map_err(diesel::r2d2::Error::QueryError)?;
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        std::thread::panicking() || conn.is_broken()
    }
}

/// A connection error fit to show: an unparsable URL's message is replaced, since it may
/// quote the URL, and any other message has the URL's password cut out (libpq names the
/// host and port; a malformed URL can make it quote a part of the URL).
fn without_url(url: &str, e: ConnectionError) -> ConnectionError {
    match e {
        ConnectionError::InvalidConnectionUrl(_) => ConnectionError::InvalidConnectionUrl("BERTH_DATABASE_URL is not a valid database URL".into()),
        ConnectionError::BadConnection(message) => ConnectionError::BadConnection(scrub(url, &message)),
        other => other,
    }
}

/// `message` without the password of `url` (as written, and percent-decoded).
fn scrub(url: &str, message: &str) -> String {
    let mut secrets: Vec<String> = Vec::new();
    if let Ok(parsed) = url::Url::parse(url.trim()) {
        if let Some(p) = parsed.password() {
            secrets.push(p.to_string());
            secrets.extend(percent_encoding::percent_decode_str(p).decode_utf8().ok().map(|d| d.into_owned()));
        }
        secrets.extend(parsed.query_pairs().filter(|(k, _)| k.eq_ignore_ascii_case("password")).map(|(_, v)| v.into_owned()));
    }
    secrets.extend(url.split_whitespace().filter_map(|w| w.split_once('=')).filter(|(k, _)| k.eq_ignore_ascii_case("password")).map(|(_, v)| v.trim_matches('\'').to_string()));
    let mut out = message.to_string();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        out = out.replace(secret.as_str(), "…");
    }
    out
}

/// The pools every part of Berth shares: read-write connections for the blocking pool,
/// and read-only ones for `read`.
#[derive(Clone)]
pub struct Database {
    pub pool: DbPool,
    pub readers: DbPool,
    pub kind: Kind,
}

impl Database {
    /// Opens both pools of the database `url` names, migrating it first.
    pub fn open(url: &str, workers: u32) -> Result<Database, String> {
        Ok(Database { pool: open(url)?, readers: open_readers(url, workers)?, kind: Kind::of(url) })
    }

    /// Runs a short read-only domain function: only for indexed lookups of a few rows on a
    /// hot path (`/token`). On SQLite it runs right here on the async worker, with no trip to
    /// the blocking pool (a local file in the page cache answers in microseconds), in one read
    /// transaction: one snapshot, one lock taken and released. On PostgreSQL every statement
    /// is a network round trip: it goes to the blocking pool, so the worker serves other
    /// requests meanwhile, and runs without BEGIN and COMMIT, which would double the round
    /// trips of a two-query read (each read then sees its own snapshot; the reads of
    /// `/token` each decide on what they read alone).
    pub async fn read<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut Conn) -> Result<T, Error> + Send + 'static,
        T: Send + 'static,
    {
        let readers = self.readers.clone();
        match self.kind {
            Kind::Sqlite => {
                let mut conn = readers.get()?;
                Connection::transaction(&mut *conn, f)
            }
            Kind::Postgres => {
                actix_web::web::block(move || {
                    let mut conn = readers.get()?;
                    f(&mut conn)
                })
                .await?
            }
        }
    }

    /// Runs a domain function on a pooled connection, off the async workers.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        F: FnOnce(&mut Conn) -> Result<T, Error> + Send + 'static,
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
/// domain error; anything else is internal, its cause kept.
pub fn classify(e: diesel::result::Error) -> Error {
    use diesel::result::{DatabaseErrorKind as K, Error as E};
    match &e {
        E::NotFound => Error::NotFound,
        E::DatabaseError(K::UniqueViolation, info) => Error::Taken(unique_field(info.as_ref())),
        // PostgreSQL: the connection is gone (a restart, a failover), or a transaction lost a
        // serialization race or a deadlock; the client may try again
        E::DatabaseError(K::ClosedConnection | K::UnableToSendCommand | K::SerializationFailure, info) => unavailable(info.message()),
        E::DatabaseError(_, info) if sqlite::unavailable(info.message()) || postgres::unavailable(info.message()) => unavailable(info.message()),
        // PostgreSQL's text holds no NUL character (SQLite's does): input that reached a
        // query with one is refused, as a client's mistake
        E::DatabaseError(_, info) if postgres::nul_in_text(info.message()) => Error::invalid("Text cannot hold a NUL character."),
        _ => Error::Internal(Box::new(e)),
    }
}

fn unavailable(message: &str) -> Error {
    tracing::warn!(error = %message, "database unavailable");
    Error::Unavailable
}

/// The form field behind a unique constraint, by the last column it names: SQLite's
/// message names `table.column` ("UNIQUE constraint failed: users.email_normalized"),
/// PostgreSQL's detail names the key ("Key (email_normalized)=(…) already exists"; the
/// value is never read).
fn unique_field(info: &dyn diesel::result::DatabaseErrorInformation) -> &'static str {
    let columns = match info.details().and_then(|d| d.strip_prefix("Key (")).and_then(|d| d.split_once(")=")) {
        Some((columns, _)) => columns.to_string(),
        None => info.message().to_string(),
    };
    let column = columns.rsplit(['.', ' ', ',', '(']).find(|c| !c.is_empty()).unwrap_or("").trim_end_matches(')');
    match column {
        "email" | "email_normalized" => "email",
        "username" => "username",
        "path" | "name" => "name",
        _ => "value",
    }
}

/// Opens the read-write pool: the database is created if need be and migrated first.
pub fn open(url: &str) -> Result<DbPool, String> {
    match Kind::of(url) {
        Kind::Sqlite => sqlite::prepare(url)?,
        Kind::Postgres => postgres::prepare(url)?,
    }
    let kind = Kind::of(url);
    Pool::builder()
        .max_size(16)
        // r2d2 would run `SELECT 1` at every checkout (parsed anew each time); a local
        // SQLite file does not drop connections the way a network database does, and a
        // dropped PostgreSQL connection is seen broken and replaced (`has_broken`)
        .test_on_check_out(false)
        .connection_timeout(std::time::Duration::from_secs(10))
        .build(Manager { url: url.to_string(), kind, read_only: false })
        .map_err(|e| format!("connection pool for {}: {e}", shown(url)))
}

/// A pool of `size` read-write connections to a database `open` prepared already.
pub fn open_pool(url: &str, size: u32) -> Result<DbPool, String> {
    Pool::builder()
        .max_size(size.max(1))
        .min_idle(Some(1))
        .test_on_check_out(false)
        .connection_timeout(std::time::Duration::from_secs(10))
        .build(Manager { url: url.to_string(), kind: Kind::of(url), read_only: false })
        .map_err(|e| format!("connection pool for {}: {e}", shown(url)))
}

/// Read-only connections for short indexed reads (`Database::read`). On SQLite `size` is
/// the number of workers, and a worker holds one only between two awaits, so taking one
/// never waits; `query_only` turns a write through them into an error, never a lock held
/// by an event loop, and in WAL mode readers do not wait for writers. On PostgreSQL they
/// are read-only transactions, as many as the blocking pool may use at once.
pub fn open_readers(url: &str, size: u32) -> Result<DbPool, String> {
    let kind = Kind::of(url);
    let size = match kind {
        Kind::Sqlite => size.max(1),
        Kind::Postgres => size.clamp(4, 16),
    };
    Pool::builder()
        .max_size(size)
        .test_on_check_out(false)
        .connection_timeout(std::time::Duration::from_secs(5))
        .build(Manager { url: url.to_string(), kind, read_only: true })
        .map_err(|e| format!("read-only connections for {}: {e}", shown(url)))
}

/// Runs `f` in a write transaction. On SQLite it is `BEGIN IMMEDIATE`: the database's one
/// write lock is taken up front, so no two writes interleave at all. On PostgreSQL it is a
/// READ COMMITTED transaction, where writers run side by side: a read-then-write that must
/// not interleave with another (count then insert, check then update) takes the lock it
/// needs first (`lock_owner`, `lock_user`), and a single conditional UPDATE or an insert
/// against a unique key needs none. Inside an outer transaction it becomes a savepoint of
/// that one.
pub fn write_tx<T, E, F>(conn: &mut Conn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut Conn) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    let nested = matches!(<Conn as Connection>::TransactionManager::transaction_manager_status_mut(conn).transaction_depth(), Ok(Some(_)));
    let Conn::Sqlite(sqlite) = conn else { return conn.transaction(f) };
    if nested {
        return conn.transaction(f);
    }
    AnsiTransactionManager::begin_transaction_sql(sqlite, "BEGIN IMMEDIATE")?;
    // as `Connection::transaction` ends one
    match f(conn) {
        Ok(value) => {
            <Conn as Connection>::TransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match <Conn as Connection>::TransactionManager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// Runs `f`, which writes a large throwaway dataset (`berth dev seed`), in one transaction
/// tuned for it: each batch of random hashes touches nearly every leaf of the indexes, and
/// committing batch by batch wrote the whole index again each time.
pub fn bulk_load<T>(conn: &mut Conn, f: impl FnOnce(&mut Conn) -> Result<T, Error>) -> Result<T, Error> {
    match conn {
        Conn::Sqlite(c) => sqlite::before_bulk_load(c)?,
        Conn::Postgres(_) => {}
    }
    let done = write_tx(conn, |conn| {
        if let Conn::Postgres(c) = conn {
            postgres::before_bulk_load(c)?;
        }
        f(conn)
    });
    match conn {
        Conn::Sqlite(c) => sqlite::after_bulk_load(c)?,
        Conn::Postgres(c) => postgres::after_bulk_load(c)?,
    }
    done
}

/// A consistent copy of the live SQLite database in `target` (which must not exist),
/// taken while Berth runs. A PostgreSQL database is copied with PostgreSQL's own tools.
pub fn backup(conn: &mut Conn, target: &std::path::Path) -> Result<(), String> {
    match conn {
        Conn::Sqlite(c) => sqlite::backup(c, target),
        Conn::Postgres(_) => Err(postgres::BACKUP_HINT.into()),
    }
}

/// The backend's own consistency check: "ok" when sound.
pub fn integrity_check(conn: &mut Conn) -> Result<String, String> {
    match conn {
        Conn::Sqlite(c) => sqlite::integrity_check(c),
        Conn::Postgres(c) => postgres::integrity_check(c),
    }
}

#[cfg(test)]
mod tests;
