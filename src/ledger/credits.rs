//! The credits this agent caused, per calendar month (local time), for the monthly budget
//! (`[limits] monthly_credits`). One credit is counted for each job the service accepted:
//! counted in the same transaction that records the reply's jobs (`record_jobs`), so a
//! crash never leaves a paid job uncounted or a count without its job. Polls, downloads and
//! refusals make no job and count nothing.

use rusqlite::{params, OptionalExtension, Transaction};

use super::{Ledger, Result};

impl Ledger {
    /// Credits counted for `month` (`"2026-11"`); 0 in a ledger older than the count (read
    /// by `status` before the first `run` of this version migrates it).
    pub fn credits_used(&self, month: &str) -> Result<u64> {
        let counted: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'credits_used')",
            [],
            |r| r.get(0),
        )?;
        if !counted {
            return Ok(0);
        }
        let n: Option<i64> = self
            .conn
            .query_row(
                "SELECT credits FROM credits_used WHERE month = ?1",
                [month],
                |r| r.get(0),
            )
            .optional()?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// Queued files whose reason starts with `prefix`, counted by reason.
    pub fn held_reasons(&self, prefix: &str) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT reason, COUNT(*) FROM files
             WHERE state = 'queued' AND substr(reason, 1, length(?1)) = ?1
             GROUP BY reason ORDER BY COUNT(*) DESC",
        )?;
        let rows = stmt.query_map([prefix], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Whether a job by URL answers content ShortPixel had already fetched at that URL: asked
/// without `refresh`, it answered the result it held, at no charge.
pub(super) fn fetched_before(tx: &Transaction<'_>, job: &super::Job) -> Result<bool> {
    let last: Option<String> = tx
        .prepare_cached("SELECT hash FROM fetched WHERE url = ?1")?
        .query_row([&job.original_url], |r| r.get(0))
        .optional()?;
    Ok(last.as_deref() == Some(job.orig_hash.as_str()))
}

/// Adds `n` credits to `month`, inside the caller's transaction.
pub(super) fn count(tx: &Transaction<'_>, month: &str, n: u64) -> Result<()> {
    if n > 0 {
        tx.prepare_cached(
            "INSERT INTO credits_used (month, credits) VALUES (?1, ?2)
             ON CONFLICT(month) DO UPDATE SET credits = credits + excluded.credits",
        )?
        .execute(params![month, n as i64])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::ledger::{Job, Ledger};

    #[test]
    fn recorded_jobs_count_one_credit_each_in_this_month() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.db")).unwrap();
        let month = crate::clock::now().month_key();
        assert_eq!(l.credits_used(&month).unwrap(), 0);
        let job = |h: &str| Job {
            orig_hash: h.into(),
            profile: "p".into(),
            original_url: format!("http://x/{h}"),
            by_url: false,
        };
        l.record_jobs(&[(job("a"), vec![]), (job("b"), vec![])])
            .unwrap();
        l.record_jobs(&[(job("c"), vec![])]).unwrap();
        assert_eq!(l.credits_used(&month).unwrap(), 3);
        assert_eq!(l.credits_used("1999-01").unwrap(), 0);
        // By URL: the first fetch of a content costs; asked again for the same content,
        // ShortPixel answers what it holds, free; new content at the URL costs again.
        let by_url = |h: &str| Job {
            by_url: true,
            original_url: "https://example.com/p/a.jpg".into(),
            ..job(h)
        };
        l.record_jobs(&[(by_url("d"), vec![])]).unwrap();
        l.record_jobs(&[(by_url("d"), vec![])]).unwrap();
        assert_eq!(l.credits_used(&month).unwrap(), 4);
        l.record_jobs(&[(by_url("e"), vec![])]).unwrap();
        assert_eq!(l.credits_used(&month).unwrap(), 5);
    }

    #[test]
    fn a_ledger_from_before_the_count_reads_as_zero_without_being_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l.db");
        drop(Ledger::open(&path).unwrap());
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE credits_used; PRAGMA user_version = 8;")
            .unwrap();
        drop(conn);
        let l = Ledger::open_read_only(&path).unwrap().unwrap();
        assert_eq!(l.credits_used("2026-11").unwrap(), 0);
    }
}
