//! What is known about content, independent of where it lives: results per (original hash,
//! profile), the hashes of everything the agent wrote, remote jobs still pending, and the
//! extra files (mirror copies, WebP/AVIF) written for each tracked file.

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension};

use super::files::{path_at, raw_path_at};
use super::{now, Ledger, Result};
use crate::names::bytes;

/// How optimizing one content under one profile ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Optimized,
    /// The optimizer could not make it smaller; keep the original, never send it again.
    AlreadyOptimal,
    /// A permanent failure of this content (bad image, too big); not retried until it changes.
    Failed,
    /// Not an image this backend can handle; not retried until it changes.
    Unsupported,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Optimized => "optimized",
            Outcome::AlreadyOptimal => "already_optimal",
            Outcome::Failed => "failed",
            Outcome::Unsupported => "unsupported",
        }
    }
    fn parse(s: &str) -> Outcome {
        match s {
            "optimized" => Outcome::Optimized,
            "already_optimal" => Outcome::AlreadyOptimal,
            "unsupported" => Outcome::Unsupported,
            _ => Outcome::Failed,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ResultRow {
    pub outcome: Outcome,
    pub opt_hash: Option<String>,
    pub orig_size: u64,
    pub opt_size: Option<u64>,
    pub reason: Option<String>,
}

/// Bytes the agent wrote: `hash` came from optimizing `orig_hash`.
#[derive(Debug, Clone)]
pub struct OutputRow {
    pub orig_hash: String,
    pub orig_size: u64,
}

#[derive(Debug, Clone)]
pub struct Job {
    pub orig_hash: String,
    pub profile: String,
    pub original_url: String,
    /// Made by the Reducer by URL: `original_url` is the file's public URL, asked about
    /// again through `reducer.php`, not `file_urls`.
    pub by_url: bool,
}

/// A file the agent wrote for a tracked file: its mirror copy or a WebP/AVIF beside it.
#[derive(Debug, Clone)]
pub struct Extra {
    pub path: PathBuf,
    pub kind: String,
    pub hash: String,
}

impl Ledger {
    pub fn result(&self, orig_hash: &str, profile: &str) -> Result<Option<ResultRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT outcome, opt_hash, orig_size, opt_size, reason FROM results
                 WHERE orig_hash = ?1 AND profile = ?2",
        )?;
        Ok(stmt
            .query_row(params![orig_hash, profile], |r| {
                Ok(ResultRow {
                    outcome: Outcome::parse(&r.get::<_, String>(0)?),
                    opt_hash: r.get(1)?,
                    orig_size: r.get::<_, i64>(2)? as u64,
                    opt_size: r.get::<_, Option<i64>>(3)?.map(|v| v as u64),
                    reason: r.get(4)?,
                })
            })
            .optional()?)
    }

    pub fn put_result(&self, orig_hash: &str, profile: &str, r: &ResultRow) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO results (orig_hash, profile, outcome, opt_hash, orig_size, opt_size, reason, created)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                orig_hash,
                profile,
                r.outcome.as_str(),
                r.opt_hash,
                r.orig_size as i64,
                r.opt_size.map(|v| v as i64),
                r.reason,
                now()
            ],
        )?;
        Ok(())
    }

    /// Records that the agent wrote bytes hashing to `hash`, made from `orig_hash` (G5).
    pub fn put_output(&self, hash: &str, orig_hash: &str, orig_size: u64) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO outputs (hash, orig_hash, orig_size) VALUES (?1, ?2, ?3)",
            params![hash, orig_hash, orig_size as i64],
        )?;
        Ok(())
    }

    pub fn output(&self, hash: &str) -> Result<Option<OutputRow>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT orig_hash, orig_size FROM outputs WHERE hash = ?1")?;
        Ok(stmt
            .query_row([hash], |r| {
                Ok(OutputRow {
                    orig_hash: r.get(0)?,
                    orig_size: r.get::<_, i64>(1)? as u64,
                })
            })
            .optional()?)
    }

    /// A tracked file that currently holds `hash`, to copy a known result from instead of
    /// paying for it again.
    pub fn path_with_hash(&self, hash: &str) -> Result<Option<PathBuf>> {
        let from_files: Option<PathBuf> = self
            .conn
            .query_row(
                "SELECT path FROM files WHERE hash = ?1 LIMIT 1",
                [hash],
                |r| path_at(r, 0),
            )
            .optional()?;
        let found = match from_files {
            Some(p) => Some(p),
            None => self
                .conn
                .query_row(
                    "SELECT path FROM extras WHERE hash = ?1 LIMIT 1",
                    [hash],
                    |r| path_at(r, 0),
                )
                .optional()?,
        };
        Ok(found)
    }

    pub fn job(&self, orig_hash: &str, profile: &str) -> Result<Option<Job>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT original_url, by_url FROM jobs WHERE orig_hash = ?1 AND profile = ?2",
        )?;
        Ok(stmt
            .query_row(params![orig_hash, profile], |r| {
                Ok(Job {
                    orig_hash: orig_hash.to_string(),
                    profile: profile.to_string(),
                    original_url: r.get(0)?,
                    by_url: r.get(1)?,
                })
            })
            .optional()?)
    }

    pub fn put_job(&self, job: &Job) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO jobs (orig_hash, profile, original_url, sent, by_url) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![job.orig_hash, job.profile, job.original_url, now(), job.by_url],
        )?;
        Ok(())
    }

    /// Records the jobs of one reply (to an upload or a request by URL) and marks their
    /// files `pending`, in one transaction: after a crash either every job of the reply is
    /// known, or none is. For a job made by URL, the content fetched there is recorded in
    /// the same transaction.
    pub fn record_jobs(&mut self, jobs: &[(Job, Vec<PathBuf>)]) -> Result<()> {
        self.transaction(|tx| {
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO jobs (orig_hash, profile, original_url, sent, by_url) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            let mut state = tx.prepare_cached(
                "UPDATE files SET state = 'pending', reason = NULL, updated = ?1 WHERE path = ?2",
            )?;
            let t = now();
            for (job, paths) in jobs {
                put.execute(params![job.orig_hash, job.profile, job.original_url, t, job.by_url])?;
                if job.by_url {
                    super::fetched::put(tx, &job.original_url, &job.orig_hash, t)?;
                }
                for p in paths {
                    state.execute(params![t, bytes(p)])?;
                }
            }
            Ok(())
        })
    }

    pub fn delete_job(&self, orig_hash: &str, profile: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM jobs WHERE orig_hash = ?1 AND profile = ?2",
            params![orig_hash, profile],
        )?;
        Ok(())
    }

    pub fn put_extra(&self, path: &Path, source: &Path, kind: &str, hash: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO extras (path, source, kind, hash) VALUES (?1, ?2, ?3, ?4)",
            params![bytes(path), bytes(source), kind, hash],
        )?;
        Ok(())
    }

    pub fn extras_of(&self, source: &Path) -> Result<Vec<Extra>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, kind, hash FROM extras WHERE source = ?1")?;
        let rows = stmt.query_map([bytes(source)], |r| {
            Ok(Extra {
                path: path_at(r, 0)?,
                kind: r.get(1)?,
                hash: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Up to `limit` paths of extras at or below `path` that sort after `after`, in order.
    pub fn extras_under_page(
        &self,
        path: &Path,
        after: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT path FROM extras WHERE {} ORDER BY path LIMIT ?5",
            super::files::PAGE
        ))?;
        let [exact, from, to] = super::files::under(path);
        let rows = stmt.query_map(
            rusqlite::params![exact, from, to, after, limit as i64],
            |r| raw_path_at(r, 0),
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// What the agent wrote at `path`, if it wrote a file there.
    pub fn extra(&self, path: &Path) -> Result<Option<Extra>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT path, kind, hash FROM extras WHERE path = ?1")?;
        Ok(stmt
            .query_row([bytes(path)], |r| {
                Ok(Extra {
                    path: path_at(r, 0)?,
                    kind: r.get(1)?,
                    hash: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Whether `path` is a file the agent wrote beside a tracked one (never an input).
    pub fn is_extra(&self, path: &Path) -> Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM extras WHERE path = ?1",
                [bytes(path)],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// Records that an extra now lives at `new` (moved with its source).
    pub fn move_extra(&self, old: &Path, new: &Path, source: &Path) -> Result<()> {
        self.conn.execute(
            "UPDATE OR REPLACE extras SET path = ?1, source = ?2 WHERE path = ?3",
            params![bytes(new), bytes(source), bytes(old)],
        )?;
        Ok(())
    }

    pub fn delete_extra(&self, path: &Path) -> Result<()> {
        self.conn
            .execute("DELETE FROM extras WHERE path = ?1", [bytes(path)])?;
        Ok(())
    }
}
