//! The saving over time, for the dashboard's chart. After each batch the optimized totals
//! of every folder (kept by triggers in `totals`) are compared with the last point kept for
//! it; only a change is written, and changes within the same minute overwrite that minute's
//! point. An idle agent writes nothing, and a busy one at most one row a minute per folder.

use std::path::PathBuf;

use rusqlite::{params, OptionalExtension};

use super::files::path_at;
use super::{Ledger, Result};

/// The optimized totals of one folder at one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Point {
    /// Seconds since the epoch.
    pub at: i64,
    #[serde(serialize_with = "crate::names::serialize")]
    pub folder: PathBuf,
    /// Files optimized.
    pub files: u64,
    pub bytes_original: u64,
    pub bytes_optimized: u64,
}

/// At most this many points are returned (the newest).
const MAX_POINTS: i64 = 5000;

impl Ledger {
    /// Appends a point for every folder whose optimized totals changed since its last one.
    pub fn record_history(&self, now: i64) -> Result<()> {
        let mut totals = self.conn.prepare_cached(
            "SELECT folder, files, orig, opt FROM totals WHERE state = 'optimized'",
        )?;
        let rows: Vec<(Vec<u8>, i64, i64, i64)> = totals
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut last = self.conn.prepare_cached(
            "SELECT at, files, orig, opt FROM history WHERE folder = ?1 ORDER BY at DESC LIMIT 1",
        )?;
        for (folder, files, orig, opt) in rows {
            let prev: Option<(i64, i64, i64, i64)> = last
                .query_row([&folder], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            match prev {
                Some((_, f, o, p)) if (f, o, p) == (files, orig, opt) => {}
                Some((at, ..)) if at / 60 == now / 60 => {
                    self.conn.execute(
                        "UPDATE history SET files = ?3, orig = ?4, opt = ?5 WHERE folder = ?1 AND at = ?2",
                        params![folder, at, files, orig, opt],
                    )?;
                }
                _ => {
                    self.conn.execute(
                        "INSERT OR REPLACE INTO history (at, folder, files, orig, opt) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![now, folder, files, orig, opt],
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The points kept since `since` (seconds since the epoch), oldest first.
    pub fn history(&self, since: i64) -> Result<Vec<Point>> {
        if !self.has_table("history")? {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(
            "SELECT at, folder, files, orig, opt FROM
                (SELECT * FROM history WHERE at >= ?1 ORDER BY at DESC LIMIT ?2)
             ORDER BY at",
        )?;
        let points = stmt
            .query_map(params![since, MAX_POINTS], |r| {
                Ok(Point {
                    at: r.get(0)?,
                    folder: path_at(r, 1)?,
                    files: r.get::<_, i64>(2)? as u64,
                    bytes_original: r.get::<_, i64>(3)? as u64,
                    bytes_optimized: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use crate::ledger::files::test_row;
    use crate::ledger::{Ledger, State};

    fn row(p: &str, size: u64) -> crate::ledger::FileRow {
        test_row(p, State::Optimized, Some(size))
    }

    #[test]
    fn history_keeps_a_point_per_change_and_at_most_one_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.db")).unwrap();
        l.upsert_files(&[row("/f/a", 100)]).unwrap();
        l.record_history(60_000).unwrap();
        l.record_history(60_001).unwrap(); // nothing changed: no point
        l.upsert_files(&[row("/f/b", 40)]).unwrap();
        l.record_history(60_010).unwrap(); // same minute: overwrites
        l.upsert_files(&[row("/f/c", 10)]).unwrap();
        l.record_history(60_200).unwrap(); // a later minute: a new point
        let points = l.history(0).unwrap();
        let seen: Vec<(i64, u64, u64, u64)> = points
            .iter()
            .map(|p| (p.at, p.files, p.bytes_original, p.bytes_optimized))
            .collect();
        assert_eq!(seen, vec![(60_000, 2, 140, 70), (60_200, 3, 150, 75)]);
        assert_eq!(l.history(60_100).unwrap().len(), 1);
    }
}
