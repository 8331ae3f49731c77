//! The lock beside a SQLite database that tells a running server from a stopped one, for
//! `berth migrate-to`, which copies a stopped SQLite Berth into PostgreSQL.

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file beside a SQLite database, `berth.db.lock` beside `berth.db`. Each server
/// holds it shared for its life, so several may still run on one file; `migrate-to` takes
/// it exclusively, so it never copies a database a server is writing, and no server starts
/// while it copies. The kernel releases a lock when its holder exits, however it exits, so
/// a crashed server leaves no lock behind. (A lock file of its own: SQLite's own locks are
/// `fcntl` locks on the database file, which NFS would mix up with `flock` on that file.)
pub struct DatabaseLock {
    _file: std::fs::File,
}

impl DatabaseLock {
    /// The lock a server holds while it serves the SQLite database `database`.
    pub fn for_serving(database: &Path) -> Result<DatabaseLock, String> {
        DatabaseLock::take(database, libc::LOCK_SH, |lock| {
            format!("`berth migrate-to` is copying {} to PostgreSQL (it holds {lock}): start Berth when it is done, on the database it names", database.display())
        })
    }

    fn exclusive(database: &Path) -> Result<DatabaseLock, String> {
        DatabaseLock::take(database, libc::LOCK_EX, |lock| {
            format!(
                "Berth is running on {} (a server holds {lock}): stop every Berth server on this database first, so that nothing is written during or after the copy",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_file_lies_beside_the_database() {
        assert_eq!(lock_file(Path::new("/srv/berth/berth.db")), Path::new("/srv/berth/berth.db.lock"));
    }

    #[test]
    fn a_shared_lock_admits_other_servers_and_keeps_the_copy_out_until_released() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("berth.db");
        let first = DatabaseLock::for_serving(&db).unwrap();
        let second = DatabaseLock::for_serving(&db).expect("a second server on the same file");
        let refused = DatabaseLock::exclusive(&db).err().expect("refused while servers hold it");
        assert!(refused.contains("Berth is running on") && refused.contains("stop every Berth server"), "{refused}");
        drop((first, second));
        let copying = DatabaseLock::exclusive(&db).expect("free once the servers are gone");
        let refused = DatabaseLock::for_serving(&db).err().expect("no server starts during a copy");
        assert!(refused.contains("migrate-to` is copying"), "{refused}");
        drop(copying);
    }
}
