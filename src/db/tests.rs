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
fn sqlite_pooled_connections_have_wal_foreign_keys_secure_delete_and_a_busy_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pool = open(dir.path().join("t.db").to_str().unwrap()).unwrap();
    let mut c = pool.get().unwrap();
    let word = |c: &mut Conn, q: &str| diesel::sql_query(q).get_result::<Word>(c).unwrap().v;
    let num = |c: &mut Conn, q: &str| diesel::sql_query(q).get_result::<Num>(c).unwrap().v;
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
fn sqlite_the_database_its_wal_and_shm_and_backups_are_owner_only_under_umask_022() {
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
fn sqlite_database_errors_are_classified_in_one_place() {
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
fn sqlite_read_only_connections_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("t.db").display().to_string();
    open(&url).unwrap();
    let readers = open_readers(&url, 1).unwrap();
    let mut c = readers.get().unwrap();
    assert_eq!(diesel::sql_query("SELECT count(*) AS v FROM users").get_result::<Num>(&mut c).unwrap().v, 0);
    let err = diesel::sql_query("DELETE FROM users").execute(&mut c).unwrap_err();
    assert!(err.to_string().contains("readonly"), "{err}");
}

#[test]
fn the_url_picks_the_backend_and_a_shown_url_has_no_password() {
    for pg in ["postgres://u:s3cret@db/berth", "postgresql://db/berth", "POSTGRES://x", "host=/run/postgresql dbname=berth password=s3cret", "dbname=berth host=db"] {
        assert_eq!(Kind::of(pg), Kind::Postgres, "{pg}");
        assert!(!shown(pg).contains("s3cret"), "{}", shown(pg));
    }
    for file in ["./data/berth.db", "/srv/berth.db", ":memory:", "file:x.db?mode=rwc", "hostname=x.db"] {
        assert_eq!(Kind::of(file), Kind::Sqlite, "{file}");
        assert_eq!(shown(file), file);
    }
    assert_eq!(shown("postgres://berth:s3cret@db:5432/berth?sslmode=require&password=s3cret"), "postgres://berth@db:5432/berth?sslmode=require");
    assert_eq!(shown("host=/run/postgresql password=s3cret dbname=berth"), "host=/run/postgresql dbname=berth");
}

#[test]
fn a_connection_error_never_holds_the_urls_password() {
    let e = without_url("postgres://berth:s3cr%40t@db/berth", ConnectionError::BadConnection("bad token near s3cr@t and s3cr%40t".into()));
    assert_eq!(e.to_string(), "bad token near … and …");
    let e = without_url("host=db password=hunter2hunter2 dbname=berth", ConnectionError::BadConnection("no password=hunter2hunter2 here".into()));
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let e = without_url("postgres://db/berth?password=q1w2e3r4t5", ConnectionError::BadConnection("q1w2e3r4t5".into()));
    assert!(!e.to_string().contains("q1w2e3r4t5"), "{e}");
}
