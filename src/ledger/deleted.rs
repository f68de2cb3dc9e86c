//! Files that were optimized in place and then deleted (or moved away where no rename was
//! seen). The backup store holds the only copy of their originals, so forgetting their row
//! would make those originals unreachable by path. The scan moves such rows here instead
//! (see [`Ledger::forget`](super::Ledger::forget)); `restore` finds them by their old path
//! (or all of them with `--deleted`), and `backups prune` keeps their backups unless forced
//! or told by an explicit retention rule (`--deleted-older-than`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Row, Transaction};

use super::files::{path_at, under, FileRow};
use super::{now, Ledger, Result};
use crate::names::bytes;

/// A file optimized in place, then deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedRow {
    pub path: PathBuf,
    pub folder: PathBuf,
    /// The original the backup store holds.
    pub orig_hash: String,
    /// What the file held when it was deleted (the optimized bytes).
    pub hash: String,
    pub format: Option<String>,
    pub orig_size: Option<u64>,
    /// When the scan found it gone (seconds since the epoch).
    pub deleted: i64,
}

impl DeletedRow {
    /// The record a tracked row leaves when its file is found gone, if it keeps an
    /// original (see [`keeps_an_original`]).
    pub fn of_gone(row: &FileRow) -> Option<DeletedRow> {
        keeps_an_original(row).then(|| DeletedRow {
            path: row.path.clone(),
            folder: row.folder.clone(),
            orig_hash: row.orig_hash.clone().unwrap_or_default(),
            hash: row.hash.clone(),
            format: row.format.clone(),
            orig_size: row.orig_size,
            deleted: now(),
        })
    }
}

const COLUMNS: &str = "path, folder, orig_hash, hash, format, orig_size, deleted";

fn from_row(r: &Row<'_>) -> rusqlite::Result<DeletedRow> {
    Ok(DeletedRow {
        path: path_at(r, 0)?,
        folder: path_at(r, 1)?,
        orig_hash: r.get(2)?,
        hash: r.get(3)?,
        format: r.get(4)?,
        orig_size: r.get::<_, Option<i64>>(5)?.map(|v| v as u64),
        deleted: r.get(6)?,
    })
}

/// Whether a forgotten row is the last trace of an original: the file was replaced by its
/// optimized version, so the backup store holds the only copy.
pub(crate) fn keeps_an_original(row: &FileRow) -> bool {
    row.state == super::State::Optimized
        && row
            .orig_hash
            .as_deref()
            .is_some_and(|o| o != row.hash && !o.is_empty())
}

/// Records `row` as deleted, inside the scan's transaction.
pub(crate) fn record(tx: &Transaction<'_>, row: &FileRow) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT OR REPLACE INTO deleted (path, folder, orig_hash, hash, format, orig_size, deleted)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        bytes(&row.path),
        bytes(&row.folder),
        row.orig_hash,
        row.hash,
        row.format,
        row.orig_size.map(|v| v as i64),
        now()
    ])?;
    Ok(())
}

impl Ledger {
    /// Deleted files at or below `path`, in path order.
    pub fn deleted_under(&self, path: &Path) -> Result<Vec<DeletedRow>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM deleted WHERE path = ?1 OR (path >= ?2 AND path < ?3)
             ORDER BY path, deleted"
        ))?;
        let rows = stmt.query_map(under(path), from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every deleted file whose original is kept, in path order.
    pub fn all_deleted(&self) -> Result<Vec<DeletedRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM deleted ORDER BY path, deleted"
        ))?;
        let rows = stmt.query_map([], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Originals kept only for deleted files: hash → when the last such file was deleted.
    pub fn deleted_backups(&self) -> Result<HashMap<String, i64>> {
        if !self.has_table("deleted")? {
            return Ok(HashMap::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT orig_hash, MAX(deleted) FROM deleted GROUP BY orig_hash")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Forgets one deleted record (it was restored, or its backup pruned by a retention
    /// rule).
    pub fn drop_deleted(&self, path: &Path, orig_hash: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM deleted WHERE path = ?1 AND orig_hash = ?2",
            params![bytes(path), orig_hash],
        )?;
        Ok(())
    }

    /// Forgets the deleted records of these originals (their backups were pruned).
    pub fn drop_deleted_of(&mut self, orig_hashes: &[String]) -> Result<()> {
        self.transaction(|tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM deleted WHERE orig_hash = ?1")?;
            for h in orig_hashes {
                stmt.execute([h])?;
            }
            Ok(())
        })
    }

    /// Whether a table exists (a ledger opened read-only may predate it).
    pub(crate) fn has_table(&self, name: &str) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get::<_, i64>(0),
        )? > 0)
    }
}
