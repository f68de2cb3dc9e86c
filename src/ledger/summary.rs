//! Aggregates for `status`: counts per folder and state, bytes saved, failures. One query
//! each, so status stays fast on a ledger with 100k files.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use super::{Ledger, Result, State};

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct FolderSummary {
    pub files: u64,
    pub optimized: u64,
    pub pending: u64,
    pub failed: u64,
    pub skipped: u64,
    pub restored: u64,
    pub bytes_original: u64,
    pub bytes_optimized: u64,
}

impl FolderSummary {
    pub fn add(&mut self, other: &FolderSummary) {
        self.files += other.files;
        self.optimized += other.optimized;
        self.pending += other.pending;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.restored += other.restored;
        self.bytes_original += other.bytes_original;
        self.bytes_optimized += other.bytes_optimized;
    }
}

/// How many skipped files status lists by name (a tree of 100k non-images must not flood it).
pub const MAX_LISTED: usize = 1000;

/// How many failed files status lists by name, oldest failure first (the counts are
/// always whole).
pub const MAX_FAILURES: usize = 10_000;

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub folders: BTreeMap<PathBuf, FolderSummary>,
    /// (path, reason) of failed files, oldest failure first.
    pub failures: Vec<(PathBuf, String)>,
    /// (reason, count) of skipped files, most common first.
    pub skip_reasons: Vec<(String, u64)>,
    /// (path, reason) of skipped files, at most [`MAX_LISTED`] of them.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Ledger {
    pub fn summary(&self) -> Result<Summary> {
        let mut out = Summary::default();
        // The totals the triggers keep (schema 5), or, on a ledger not yet migrated (status
        // reads without writing), the same figures counted the slow way.
        let totals = if self.has_table("totals")? {
            "SELECT folder, state, files, orig, opt FROM totals WHERE files > 0"
        } else {
            "SELECT folder, state, COUNT(*), COALESCE(SUM(orig_size), 0), COALESCE(SUM(opt_size), 0)
             FROM files GROUP BY folder, state"
        };
        let mut stmt = self.conn.prepare(totals)?;
        let rows = stmt.query_map([], |r| {
            Ok((
                super::files::path_at(r, 0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
            ))
        })?;
        for row in rows {
            let (folder, state, n, orig, opt) = row?;
            let f = out.folders.entry(folder).or_default();
            f.files += n;
            match State::parse(&state) {
                State::Optimized => {
                    f.optimized += n;
                    f.bytes_original += orig;
                    f.bytes_optimized += opt;
                }
                State::Failed => f.failed += n,
                State::Skipped => f.skipped += n,
                State::Restored => f.restored += n,
                s if s.is_waiting() => f.pending += n,
                _ => {}
            }
        }
        let mut stmt = self.conn.prepare(
            "SELECT path, COALESCE(reason, 'unknown error') FROM files WHERE state = 'failed'
             ORDER BY updated, path LIMIT ?1",
        )?;
        out.failures = stmt
            .query_map([MAX_FAILURES as i64], |r| {
                Ok((super::files::path_at(r, 0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT COALESCE(reason, 'skipped'), COUNT(*) FROM files WHERE state = 'skipped'
             GROUP BY 1 ORDER BY 2 DESC, 1",
        )?;
        out.skip_reasons = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = self.conn.prepare(
            "SELECT path, COALESCE(reason, 'skipped') FROM files WHERE state = 'skipped' ORDER BY path LIMIT ?1",
        )?;
        out.skipped = stmt
            .query_map([MAX_LISTED as i64], |r| {
                Ok((super::files::path_at(r, 0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(out)
    }

    /// Files waiting for work (new, queued) and in flight (uploading, pending remotely).
    pub fn queue_counts(&self) -> Result<(u64, u64)> {
        let table = if self.has_table("totals")? {
            "(SELECT state, files AS n FROM totals)"
        } else {
            "(SELECT state, 1 AS n FROM files)"
        };
        Ok(self.conn.query_row(
            &format!(
                "SELECT COALESCE(SUM(CASE WHEN state IN ('new', 'queued') THEN n END), 0),
                        COALESCE(SUM(CASE WHEN state IN ('uploading', 'pending') THEN n END), 0)
                 FROM {table}"
            ),
            [],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        )?)
    }
}
