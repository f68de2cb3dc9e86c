//! What the ledger knows about the backup store: when each original's backup was made,
//! which backups are still needed, and which were pruned (so `restore` can say so instead
//! of reporting a missing file).
//!
//! A backup is *needed* while a tracked file is `optimized` and holds other bytes than its
//! original: the file was replaced, so the backup is the only copy of the original (G1).

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};

use super::{Ledger, Result};

/// One original kept in the backup store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupRow {
    pub hash: String,
    pub size: u64,
    /// Seconds since the epoch.
    pub created: i64,
    /// When it was pruned (seconds since the epoch), if it was.
    pub pruned: Option<i64>,
}

/// Totals for `status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BackupTotals {
    /// Originals kept.
    pub files: u64,
    pub bytes: u64,
    /// Backups pruned.
    pub pruned: u64,
    /// Optimized files whose original was pruned: they can no longer be restored.
    pub unrestorable: u64,
}

/// The schema step that added `backups.pruned`.
const PRUNED_SINCE: i64 = 2;

impl Ledger {
    /// `pruned`, or NULL on a ledger opened read-only before the daemon migrated it.
    fn pruned_column(&self) -> Result<&'static str> {
        let version: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        Ok(if version >= PRUNED_SINCE {
            "pruned"
        } else {
            "NULL"
        })
    }

    pub fn backup_rows(&self) -> Result<Vec<BackupRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT hash, size, created, {} FROM backups ORDER BY created, hash",
            self.pruned_column()?
        ))?;
        let rows = stmt.query_map([], |r| {
            Ok(BackupRow {
                hash: r.get(0)?,
                size: r.get::<_, i64>(1)? as u64,
                created: r.get(2)?,
                pruned: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Hashes of the originals that exist nowhere but in the backup store.
    pub fn needed_backups(&self) -> Result<HashSet<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT DISTINCT orig_hash FROM files
             WHERE state = 'optimized' AND orig_hash IS NOT NULL AND orig_hash != hash",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records that these backups were deleted at `when` (or, with `None`, that they were
    /// not after all), in one transaction.
    pub fn mark_pruned(&mut self, hashes: &[String], when: Option<i64>) -> Result<()> {
        self.transaction(|tx| {
            let mut stmt = tx.prepare_cached("UPDATE backups SET pruned = ?1 WHERE hash = ?2")?;
            for h in hashes {
                stmt.execute(params![when, h])?;
            }
            Ok(())
        })
    }

    /// When the backup of `hash` was pruned, if it was (and not made again since).
    pub fn pruned_on(&self, hash: &str) -> Result<Option<i64>> {
        if self.pruned_column()? == "NULL" {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row("SELECT pruned FROM backups WHERE hash = ?1", [hash], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .optional()?
            .flatten())
    }

    pub fn backup_totals(&self) -> Result<BackupTotals> {
        if self.pruned_column()? == "NULL" {
            let (files, bytes) = self.conn.query_row(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM backups",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?;
            return Ok(BackupTotals {
                files,
                bytes,
                ..BackupTotals::default()
            });
        }
        let (files, bytes, pruned) = self.conn.query_row(
            "SELECT COALESCE(SUM(pruned IS NULL), 0),
                    COALESCE(SUM(CASE WHEN pruned IS NULL THEN size ELSE 0 END), 0),
                    COALESCE(SUM(pruned IS NOT NULL), 0) FROM backups",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            },
        )?;
        // A join over every optimized file: only worth asking once something was pruned.
        let unrestorable = if pruned == 0 {
            0
        } else {
            self.conn.query_row(
                "SELECT COUNT(*) FROM files f JOIN backups b ON b.hash = f.orig_hash
                 WHERE f.state = 'optimized' AND f.orig_hash != f.hash AND b.pruned IS NOT NULL",
                [],
                |r| r.get::<_, i64>(0),
            )? as u64
        };
        Ok(BackupTotals {
            files,
            bytes,
            pruned,
            unrestorable,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pruned_backup_made_again_is_no_longer_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.db")).unwrap();
        l.record_backup("aaa", 10).unwrap();
        l.record_backup("bbb", 20).unwrap();
        l.mark_pruned(&["aaa".into()], Some(1_700_000_000)).unwrap();
        assert_eq!(l.pruned_on("aaa").unwrap(), Some(1_700_000_000));
        assert_eq!(l.pruned_on("bbb").unwrap(), None);
        let t = l.backup_totals().unwrap();
        assert_eq!((t.files, t.bytes, t.pruned), (1, 20, 1));
        // The same original optimized again is backed up again: the old pruning is moot.
        l.record_backup("aaa", 10).unwrap();
        assert_eq!(l.pruned_on("aaa").unwrap(), None);
        assert_eq!(l.backup_totals().unwrap().pruned, 0);
    }
}
