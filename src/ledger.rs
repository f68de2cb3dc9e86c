//! The ledger: one SQLite file, the single source of truth for what the agent knows.
//!
//! Invariants:
//! - [`Ledger`] owns the only connection of this process; callers lock it once per unit of
//!   work (a scan batch, one file's result), never across network or image work.
//! - The schema is versioned by `PRAGMA user_version`; [`MIGRATIONS`] is append-only and each
//!   step runs in one transaction, so a crash leaves either the old or the new version.
//! - WAL mode lets `status` read while a daemon writes.
//! - `outputs` holds the hash of every byte sequence the agent wrote; a file whose content is
//!   there is ours and is never processed again (G4, G5).
//! - `jobs` holds remote jobs still pending at ShortPixel, so a restart polls them by
//!   OriginalURL instead of uploading again (G4); `fetched` holds which content ShortPixel
//!   last fetched at each public URL, so a URL is re-fetched (and paid for) only when its
//!   content changed.
//! - The API key is never written here (G8).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

mod backups;
mod compact;
mod deleted;
mod fetched;
mod files;
mod history;
mod pages;
mod results;
mod summary;

pub use backups::{BackupRow, BackupTotals};
pub use compact::Compacted;
pub use deleted::DeletedRow;
pub use files::{FileRow, Stat, Tracked};
pub use history::Point;
pub use pages::FileFilter;
pub use results::{Extra, Job, Outcome, OutputRow, ResultRow};
pub use summary::{FolderSummary, Summary, MAX_FAILURES};

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger {}: {}", path.display(), open_advice(source, path))]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the ledger {} was written by a newer shortpixel-agent (schema {found}, this one knows {known}); upgrade the agent", path.display())]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    #[error("ledger: {}", sql_advice(.0))]
    Sql(#[from] rusqlite::Error),
}

pub type Result<T> = std::result::Result<T, LedgerError>;

/// What SQLite said while working, and what to do about it.
fn sql_advice(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => format!(
            "{e}: the disk holding the ledger is full; free some space there and run again (nothing recorded is lost, nothing paid for is sent again)"
        ),
        Some(rusqlite::ErrorCode::ReadOnly) => format!(
            "{e}: the ledger became read-only (its disk was remounted read-only?); make it writable and run again"
        ),
        _ => e.to_string(),
    }
}

/// What SQLite said, and what to do about it.
fn open_advice(e: &rusqlite::Error, path: &Path) -> String {
    use rusqlite::ErrorCode::{CannotOpen, DiskFull, PermissionDenied, ReadOnly};
    let folder = path
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    match e.sqlite_error_code() {
        Some(ReadOnly) | Some(PermissionDenied) | Some(CannotOpen) => format!(
            "{e}; the agent must be able to write the ledger and its folder {folder}: make them writable, or set `ledger` in the config to a writable place"
        ),
        Some(DiskFull) => format!("{e}; the disk holding {folder} is full: free some space there"),
        _ => e.to_string(),
    }
}

/// Per-file states (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    New,
    Queued,
    Uploading,
    Pending,
    Optimized,
    Skipped,
    Failed,
    Restored,
}

impl State {
    pub const ALL: [State; 8] = [
        State::New,
        State::Queued,
        State::Uploading,
        State::Pending,
        State::Optimized,
        State::Skipped,
        State::Failed,
        State::Restored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Queued => "queued",
            State::Uploading => "uploading",
            State::Pending => "pending",
            State::Optimized => "optimized",
            State::Skipped => "skipped",
            State::Failed => "failed",
            State::Restored => "restored",
        }
    }

    pub fn parse(s: &str) -> State {
        State::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .unwrap_or(State::New)
    }

    /// Still waiting for work (counted as `pending` by status).
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            State::New | State::Queued | State::Uploading | State::Pending
        )
    }
}

/// The triggers that keep `totals` up to date with `files` (migration 5; made again by
/// migration 6, whose table rebuild drops them).
macro_rules! totals_triggers {
    () => {
        r#"
CREATE TRIGGER files_totals_insert AFTER INSERT ON files BEGIN
    INSERT INTO totals (folder, state, files, orig, opt)
        VALUES (NEW.folder, NEW.state, 1, COALESCE(NEW.orig_size, 0), COALESCE(NEW.opt_size, 0))
        ON CONFLICT (folder, state) DO UPDATE SET files = files + 1,
            orig = orig + excluded.orig, opt = opt + excluded.opt;
END;
CREATE TRIGGER files_totals_delete AFTER DELETE ON files BEGIN
    UPDATE totals SET files = files - 1, orig = orig - COALESCE(OLD.orig_size, 0),
        opt = opt - COALESCE(OLD.opt_size, 0)
        WHERE folder = OLD.folder AND state = OLD.state;
END;
CREATE TRIGGER files_totals_update AFTER UPDATE OF folder, state, orig_size, opt_size ON files
BEGIN
    UPDATE totals SET files = files - 1, orig = orig - COALESCE(OLD.orig_size, 0),
        opt = opt - COALESCE(OLD.opt_size, 0)
        WHERE folder = OLD.folder AND state = OLD.state;
    INSERT INTO totals (folder, state, files, orig, opt)
        VALUES (NEW.folder, NEW.state, 1, COALESCE(NEW.orig_size, 0), COALESCE(NEW.opt_size, 0))
        ON CONFLICT (folder, state) DO UPDATE SET files = files + 1,
            orig = orig + excluded.orig, opt = opt + excluded.opt;
END;
"#
    };
}

/// Schema steps, oldest first. Append only: never edit a step that has shipped.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE files (
    path      TEXT PRIMARY KEY,
    folder    TEXT NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    format    TEXT,
    state     TEXT NOT NULL,
    reason    TEXT,
    orig_hash TEXT,
    orig_size INTEGER,
    opt_size  INTEGER,
    seen      INTEGER NOT NULL DEFAULT 0,
    updated   INTEGER NOT NULL
);
CREATE INDEX files_folder ON files(folder);
CREATE INDEX files_hash ON files(hash);
CREATE TABLE results (
    orig_hash TEXT NOT NULL,
    profile   TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    opt_hash  TEXT,
    orig_size INTEGER NOT NULL,
    opt_size  INTEGER,
    reason    TEXT,
    created   INTEGER NOT NULL,
    PRIMARY KEY (orig_hash, profile)
);
CREATE TABLE outputs (
    hash      TEXT PRIMARY KEY,
    orig_hash TEXT NOT NULL,
    orig_size INTEGER NOT NULL
);
CREATE TABLE jobs (
    orig_hash    TEXT NOT NULL,
    profile      TEXT NOT NULL,
    original_url TEXT NOT NULL,
    sent         INTEGER NOT NULL,
    PRIMARY KEY (orig_hash, profile)
);
CREATE TABLE backups (
    hash    TEXT PRIMARY KEY,
    size    INTEGER NOT NULL,
    created INTEGER NOT NULL
);
CREATE TABLE extras (
    path   TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    kind   TEXT NOT NULL,
    hash   TEXT NOT NULL
);
CREATE INDEX extras_source ON extras(source);
"#,
    // 2: when a backup was pruned (`backups prune`), so restore can say so.
    "ALTER TABLE backups ADD COLUMN pruned INTEGER;",
    // 3: paths are bytes (G10). Paths were stored as lossily converted text, so two names
    // that are not UTF-8 could share one row; such rows (holding U+FFFD, the replacement
    // character) cannot be trusted and are dropped: the next scan finds each file under its
    // true name and recognises its content by hash (`outputs`), so nothing is sent again.
    r#"
CREATE TABLE files_v3 (
    path      BLOB PRIMARY KEY,
    folder    BLOB NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    format    TEXT,
    state     TEXT NOT NULL,
    reason    TEXT,
    orig_hash TEXT,
    orig_size INTEGER,
    opt_size  INTEGER,
    updated   INTEGER NOT NULL
);
INSERT INTO files_v3
    SELECT CAST(path AS BLOB), CAST(folder AS BLOB), size, mtime_ns, inode, hash, format,
           state, reason, orig_hash, orig_size, opt_size, updated
    FROM files WHERE instr(path, char(65533)) = 0;
DROP TABLE files;
ALTER TABLE files_v3 RENAME TO files;
CREATE INDEX files_folder ON files(folder);
CREATE INDEX files_hash ON files(hash);
CREATE TABLE extras_v3 (
    path   BLOB PRIMARY KEY,
    source BLOB NOT NULL,
    kind   TEXT NOT NULL,
    hash   TEXT NOT NULL
);
INSERT INTO extras_v3
    SELECT CAST(path AS BLOB), CAST(source AS BLOB), kind, hash
    FROM extras WHERE instr(path, char(65533)) = 0 AND instr(source, char(65533)) = 0;
DROP TABLE extras;
ALTER TABLE extras_v3 RENAME TO extras;
CREATE INDEX extras_source ON extras(source);
"#,
    // 4: files optimized in place and then deleted, so their originals stay restorable by
    // their old path (see `ledger::deleted`).
    r#"
CREATE TABLE deleted (
    path      BLOB NOT NULL,
    folder    BLOB NOT NULL,
    orig_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    format    TEXT,
    orig_size INTEGER,
    deleted   INTEGER NOT NULL,
    PRIMARY KEY (path, orig_hash)
);
CREATE INDEX deleted_orig ON deleted(orig_hash);
"#,
    // 5: status at scale. Counts and sizes per folder and state are kept up to date by
    // triggers, so status reads a handful of rows instead of every file; the files needing
    // attention (failed, skipped, waiting) are found by an index on the state. The index
    // on `folder` served no query. (Rows are never written with INSERT OR REPLACE, whose
    // implicit delete fires no trigger.)
    concat!(
        r#"
DROP INDEX files_folder;
CREATE INDEX files_state ON files(state);
CREATE TABLE totals (
    folder BLOB NOT NULL,
    state  TEXT NOT NULL,
    files  INTEGER NOT NULL,
    orig   INTEGER NOT NULL,
    opt    INTEGER NOT NULL,
    PRIMARY KEY (folder, state)
) WITHOUT ROWID;
INSERT INTO totals
    SELECT folder, state, COUNT(*), COALESCE(SUM(orig_size), 0), COALESCE(SUM(opt_size), 0)
    FROM files GROUP BY folder, state;
"#,
        totals_triggers!()
    ),
    // 6: the restart rescan reads every tracked row in path order. In a rowid table that
    // is a walk of the path index plus a lookup of each row in the table; clustered on the
    // path (WITHOUT ROWID), it is one ordered walk. Dropping the old table dropped its
    // triggers: they are made again, unchanged.
    concat!(
        r#"
CREATE TABLE files_v6 (
    path      BLOB PRIMARY KEY,
    folder    BLOB NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    format    TEXT,
    state     TEXT NOT NULL,
    reason    TEXT,
    orig_hash TEXT,
    orig_size INTEGER,
    opt_size  INTEGER,
    updated   INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO files_v6
    SELECT path, folder, size, mtime_ns, inode, hash, format, state, reason, orig_hash,
           orig_size, opt_size, updated
    FROM files;
DROP TABLE files;
ALTER TABLE files_v6 RENAME TO files;
CREATE INDEX files_hash ON files(hash);
CREATE INDEX files_state ON files(state);
"#,
        totals_triggers!()
    ),
    // 7: the saving over time, for the dashboard's chart: one row per folder each time a
    // batch changes its optimized totals, at most one a minute (see `ledger::history`).
    r#"
CREATE TABLE history (
    at     INTEGER NOT NULL,
    folder BLOB NOT NULL,
    files  INTEGER NOT NULL,
    orig   INTEGER NOT NULL,
    opt    INTEGER NOT NULL,
    PRIMARY KEY (folder, at)
) WITHOUT ROWID;
"#,
    // 8: the Reducer by URL (a folder's `public_url`). A job made by URL is asked about
    // again through the URL itself (`jobs.by_url`); `fetched` says which content ShortPixel
    // last fetched at each URL, so `refresh = 1` (a new fetch, a new charge) is sent only
    // when the content there changed (see `ledger::fetched`).
    r#"
ALTER TABLE jobs ADD COLUMN by_url INTEGER NOT NULL DEFAULT 0;
CREATE TABLE fetched (
    url  TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    at   INTEGER NOT NULL
) WITHOUT ROWID;
"#,
];

pub struct Ledger {
    conn: Connection,
}

impl Ledger {
    /// Opens (creating if needed) and migrates the ledger for writing.
    pub fn open(path: &Path) -> Result<Ledger> {
        let open_err = |source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                // A missing data dir is created private; a failure surfaces as the open
                // error below.
                use std::os::unix::fs::DirBuilderExt;
                let _ = std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir);
            }
        }
        // The ledger lists every private path: readable by this user only. SQLite gives its
        // -wal and -shm files the database file's mode.
        let _ = private_file(path);
        let conn = Connection::open(path).map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        let mut ledger = Ledger { conn };
        ledger.migrate(path)?;
        Ok(ledger)
    }

    /// Opens an existing ledger for reading only (status); `None` if there is none yet.
    /// The file this ledger lives in (none for one in memory).
    pub fn location(&self) -> Option<PathBuf> {
        self.conn
            .path()
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
    }

    pub fn open_read_only(path: &Path) -> Result<Option<Ledger>> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| LedgerError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > MIGRATIONS.len() as i64 {
            return Err(LedgerError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: MIGRATIONS.len() as i64,
            });
        }
        if version == 0 {
            return Ok(None);
        }
        Ok(Some(Ledger { conn }))
    }

    fn migrate(&mut self, path: &Path) -> Result<()> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(LedgerError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known,
            });
        }
        for (i, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.conn.transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Runs `f` inside one transaction: the unit of work for batches.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = self.conn.transaction()?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` inside one transaction, with the ledger's own methods available (for bulk
    /// work such as a rebuild). Rolled back if `f` fails.
    pub fn in_transaction<T, E: From<LedgerError>>(
        &mut self,
        f: impl FnOnce(&Ledger) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(LedgerError::from)?;
        match f(self) {
            Ok(v) => {
                self.conn
                    .execute_batch("COMMIT")
                    .map_err(LedgerError::from)?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Whether the ledger knows nothing yet (a new file).
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM files) AND NOT EXISTS (SELECT 1 FROM results)
                AND NOT EXISTS (SELECT 1 FROM backups)",
            [],
            |r| r.get(0),
        )?)
    }

    /// Records that the original `hash` is in the backup store (flushed and verified).
    pub fn record_backup(&self, hash: &str, size: u64) -> Result<()> {
        self.conn.execute(
            // A backup made again after it was pruned starts afresh.
            "INSERT INTO backups (hash, size, created) VALUES (?1, ?2, ?3)
             ON CONFLICT(hash) DO UPDATE SET created = excluded.created, pruned = NULL
             WHERE backups.pruned IS NOT NULL",
            params![hash, size as i64, now()],
        )?;
        Ok(())
    }

    pub fn has_backup(&self, hash: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM backups WHERE hash = ?1", [hash], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

/// Creates `path` empty with mode 0600 if it is missing, or narrows an existing file of this
/// user's to 0600 (the agent's own state: the ledger, its lock, the journal).
pub fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let meta = file.metadata()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if meta.uid() == unsafe { libc::geteuid() } && meta.mode() & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Seconds since the epoch, for record keeping.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrating_twice_is_a_no_op_and_keeps_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        {
            let l = Ledger::open(&path).unwrap();
            l.record_backup("abc", 3).unwrap();
        }
        let l = Ledger::open(&path).unwrap();
        let v: i64 = l
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, MIGRATIONS.len() as i64);
        assert!(l.has_backup("abc").unwrap());
    }

    #[test]
    fn paths_stored_as_text_become_bytes_and_lossy_ones_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        {
            // A ledger as schema 2 left it: paths as text, one of them lossily converted.
            let conn = Connection::open(&path).unwrap();
            for step in &MIGRATIONS[..2] {
                conn.execute_batch(step).unwrap();
            }
            conn.pragma_update(None, "user_version", 2).unwrap();
            for p in ["/p/a.jpg", "/p/\u{fffd}\u{fffd}.jpg"] {
                conn.execute(
                    "INSERT INTO files (path, folder, size, mtime_ns, inode, hash, state, updated)
                     VALUES (?1, '/p', 1, 1, 1, 'h', 'optimized', 0)",
                    [p],
                )
                .unwrap();
            }
        }
        let l = Ledger::open(&path).unwrap();
        let rows = l.all_files().unwrap();
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].path, Path::new("/p/a.jpg"));
        let kind: String = l
            .conn
            .query_row("SELECT typeof(path) FROM files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kind, "blob");
    }

    #[test]
    fn the_totals_the_triggers_keep_match_a_recount_after_every_kind_of_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.db")).unwrap();
        let row = |p: &str, state: State, size: Option<u64>| FileRow {
            path: p.into(),
            folder: "/f".into(),
            stat: Stat {
                size: 1,
                mtime_ns: 1,
                inode: 1,
            },
            hash: format!("h{p}"),
            format: None,
            state,
            reason: None,
            orig_hash: Some("o".into()),
            orig_size: size,
            opt_size: size.map(|s| s / 2),
        };
        l.upsert_files(&[
            row("/f/a", State::New, None),
            row("/f/b", State::Optimized, Some(100)),
            row("/f/c", State::Optimized, Some(50)),
        ])
        .unwrap();
        l.upsert_files(&[row("/f/a", State::Optimized, Some(10))])
            .unwrap();
        l.set_state(Path::new("/f/b"), State::Failed, Some("x"))
            .unwrap();
        l.set_content(
            Path::new("/f/c"),
            Stat {
                size: 2,
                mtime_ns: 2,
                inode: 2,
            },
            "h2",
            State::Restored,
            Some("o"),
            Some(50),
            None,
        )
        .unwrap();
        l.move_file(Path::new("/f/a"), Path::new("/f/c"), Path::new("/f"))
            .unwrap();
        l.track_restored(&row("/f/d", State::Restored, Some(7)))
            .unwrap();
        l.track_restored(&row("/f/d", State::Optimized, Some(8)))
            .unwrap();
        l.forget(&["/f/b".into()]).unwrap();
        let kept: Vec<(String, i64, i64, i64)> = l
            .conn
            .prepare("SELECT state, files, orig, opt FROM totals WHERE files != 0 ORDER BY state")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let counted: Vec<(String, i64, i64, i64)> = l
            .conn
            .prepare(
                "SELECT state, COUNT(*), COALESCE(SUM(orig_size), 0), COALESCE(SUM(opt_size), 0)
                 FROM files GROUP BY state ORDER BY state",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(kept, counted);
        assert_eq!(counted.iter().map(|c| c.1).sum::<i64>(), 2, "{counted:?}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        {
            let l = Ledger::open(&path).unwrap();
            l.conn.pragma_update(None, "user_version", 99).unwrap();
        }
        assert!(matches!(
            Ledger::open(&path),
            Err(LedgerError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn wal_mode_is_on() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.db")).unwrap();
        let mode: String = l
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
