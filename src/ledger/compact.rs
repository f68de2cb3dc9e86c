//! Ledger hygiene: rows nothing will ever need again are removed after a whole-folder scan,
//! so a ledger that lives for years tracks what exists, not everything that ever existed.
//! Nothing a restore or G4 needs goes: originals of deleted files stay while their backup
//! does (G1), results of optimized contents stay (a copy of an original that comes back is
//! never paid for twice), and the hashes the agent wrote stay (G5).

use rusqlite::params;

use super::{Ledger, Result};

/// A pending job older than this is gone at ShortPixel too.
const OLD_JOB_SECS: i64 = 30 * 86_400;

/// What [`Ledger::compact`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Compacted {
    /// Deleted files whose original was pruned: they can no longer be restored.
    pub deleted: usize,
    /// Jobs no tracked file needs, older than a month.
    pub jobs: usize,
    /// Failures and refusals for contents no tracked file holds (recomputed for free).
    pub verdicts: usize,
}

impl Ledger {
    /// Removes what nothing needs any more (see the module doc), in one transaction.
    pub fn compact(&mut self, now: i64) -> Result<Compacted> {
        self.transaction(|tx| {
            let deleted = tx.execute(
                "DELETE FROM deleted WHERE orig_hash IN
                    (SELECT hash FROM backups WHERE pruned IS NOT NULL)",
                [],
            )?;
            let jobs = tx.execute(
                "DELETE FROM jobs WHERE sent < ?1
                    AND NOT EXISTS (SELECT 1 FROM files WHERE files.hash = jobs.orig_hash)",
                params![now - OLD_JOB_SECS],
            )?;
            let verdicts = tx.execute(
                "DELETE FROM results WHERE outcome IN ('failed', 'unsupported')
                    AND NOT EXISTS (SELECT 1 FROM files WHERE files.hash = results.orig_hash)",
                [],
            )?;
            Ok(Compacted {
                deleted,
                jobs,
                verdicts,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Job, Outcome, ResultRow};
    use super::*;

    #[test]
    fn only_what_nothing_needs_goes() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.db")).unwrap();
        let verdict = |outcome| ResultRow {
            outcome,
            opt_hash: None,
            orig_size: 1,
            opt_size: None,
            reason: None,
        };
        // Verdicts: one for content no file holds (goes), an optimized result (stays).
        l.put_result("gone", "p", &verdict(Outcome::Failed))
            .unwrap();
        l.put_result("kept", "p", &verdict(Outcome::Optimized))
            .unwrap();
        l.put_job(&Job {
            orig_hash: "old".into(),
            profile: "p".into(),
            original_url: "u".into(),
            by_url: false,
        })
        .unwrap();
        // A deleted file whose backup was pruned (goes), one whose backup is there (stays).
        for (orig, pruned) in [("pruned", Some(5)), ("there", None)] {
            l.conn
                .execute(
                    "INSERT INTO deleted (path, folder, orig_hash, hash, deleted)
                     VALUES (?1, x'2f', ?2, 'h', 1)",
                    params![orig.as_bytes(), orig],
                )
                .unwrap();
            l.record_backup(orig, 1).unwrap();
            l.mark_pruned(&[orig.to_string()], pruned).unwrap();
        }
        // The job was just sent: a month later it goes.
        assert_eq!(l.compact(super::super::now()).unwrap().jobs, 0);
        let c = l.compact(super::super::now() + OLD_JOB_SECS + 1).unwrap();
        assert_eq!(
            c,
            Compacted {
                deleted: 0,
                jobs: 1,
                verdicts: 0
            }
        );
        assert!(l.result("gone", "p").unwrap().is_none());
        assert!(l.result("kept", "p").unwrap().is_some());
        let left: Vec<String> = l
            .conn
            .prepare("SELECT orig_hash FROM deleted")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(left, vec!["there".to_string()]);
    }
}
