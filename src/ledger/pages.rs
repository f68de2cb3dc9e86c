//! What the dashboard asks of the ledger besides `status`: one page of tracked files at a
//! time (by folder, state or part of the name, in path order), and failed files put back
//! in the queue when the user asks for a retry.
//!
//! A retry forgets only the *failed* verdicts on those contents (never an optimized result
//! or a pending job), so retrying can never pay twice for a content already paid for (G4).

use std::path::{Path, PathBuf};

use rusqlite::types::Value;

use super::files::{from_row, under, COLUMNS};
use super::{FileRow, Ledger, Result, State};
use crate::names::bytes;

/// Which files a page lists.
#[derive(Debug, Clone, Default)]
pub struct FileFilter {
    pub folder: Option<PathBuf>,
    pub state: Option<State>,
    /// Bytes the path must contain.
    pub contains: Option<Vec<u8>>,
    /// Only paths sorting after this one (the last path of the previous page).
    pub after: Option<PathBuf>,
    pub limit: usize,
}

impl Ledger {
    /// One page of tracked files, in path order.
    pub fn files_page(&self, f: &FileFilter) -> Result<Vec<FileRow>> {
        let mut sql = format!("SELECT {COLUMNS} FROM files WHERE 1");
        let mut args: Vec<Value> = Vec::new();
        if let Some(folder) = &f.folder {
            args.push(Value::Blob(bytes(folder).to_vec()));
            sql += &format!(" AND folder = ?{}", args.len());
        }
        if let Some(state) = f.state {
            args.push(Value::Text(state.as_str().into()));
            sql += &format!(" AND state = ?{}", args.len());
        }
        if let Some(part) = f.contains.as_ref().filter(|p| !p.is_empty()) {
            args.push(Value::Blob(part.clone()));
            sql += &format!(" AND instr(path, ?{}) > 0", args.len());
        }
        if let Some(after) = &f.after {
            args.push(Value::Blob(bytes(after).to_vec()));
            sql += &format!(" AND path > ?{}", args.len());
        }
        args.push(Value::Integer(f.limit.clamp(1, 1000) as i64));
        sql += &format!(" ORDER BY path LIMIT ?{}", args.len());
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Puts failed files back in the queue (state `new`), forgetting the failed verdicts on
    /// their contents: all failed files, or those at or below `paths`. Returns their paths.
    pub fn retry_failed(&mut self, paths: Option<&[PathBuf]>) -> Result<Vec<PathBuf>> {
        self.in_transaction(|l| {
            let mut failed: Vec<FileRow> = Vec::new();
            match paths {
                None => {
                    let mut stmt = l.conn.prepare(&format!(
                        "SELECT {COLUMNS} FROM files WHERE state = 'failed' ORDER BY path"
                    ))?;
                    failed = stmt
                        .query_map([], from_row)?
                        .collect::<rusqlite::Result<_>>()?;
                }
                Some(paths) => {
                    for p in paths {
                        failed.extend(l.failed_under(p)?);
                    }
                }
            }
            for row in &failed {
                l.conn.execute(
                    "DELETE FROM results WHERE orig_hash = ?1 AND outcome = 'failed'",
                    [&row.hash],
                )?;
                l.set_state(&row.path, State::New, None)?;
            }
            Ok::<_, super::LedgerError>(failed.into_iter().map(|r| r.path).collect())
        })
    }

    fn failed_under(&self, path: &Path) -> Result<Vec<FileRow>> {
        let [p, from, to] = under(path);
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM files WHERE state = 'failed'
             AND (path = ?1 OR (path >= ?2 AND path < ?3)) ORDER BY path"
        ))?;
        let rows = stmt
            .query_map([p, from, to], from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::files::test_row;
    use crate::ledger::{Outcome, ResultRow};

    fn row(p: &str, state: State) -> FileRow {
        test_row(p, state, None)
    }

    #[test]
    fn pages_filter_by_state_and_name_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("l.db")).unwrap();
        l.upsert_files(&[
            row("/f/b.jpg", State::Failed),
            row("/f/a.jpg", State::Failed),
            row("/f/c.png", State::Optimized),
        ])
        .unwrap();
        let page = |f: FileFilter| -> Vec<PathBuf> {
            l.files_page(&FileFilter { limit: 10, ..f })
                .unwrap()
                .into_iter()
                .map(|r| r.path)
                .collect()
        };
        let failed = page(FileFilter {
            state: Some(State::Failed),
            ..Default::default()
        });
        assert_eq!(failed, vec![PathBuf::from("/f/a.jpg"), "/f/b.jpg".into()]);
        let png = page(FileFilter {
            contains: Some(b".png".to_vec()),
            ..Default::default()
        });
        assert_eq!(png, vec![PathBuf::from("/f/c.png")]);
        let after = page(FileFilter {
            after: Some("/f/a.jpg".into()),
            ..Default::default()
        });
        assert_eq!(after.len(), 2);
    }

    #[test]
    fn a_retry_forgets_failed_verdicts_only_and_requeues_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.db")).unwrap();
        l.upsert_files(&[
            row("/f/a.jpg", State::Failed),
            row("/f/b.jpg", State::Failed),
        ])
        .unwrap();
        let verdict = |outcome| ResultRow {
            outcome,
            opt_hash: None,
            orig_size: 1,
            opt_size: None,
            reason: Some("corrupt".into()),
        };
        l.put_result("h/f/a.jpg", "p", &verdict(Outcome::Failed))
            .unwrap();
        l.put_result("h/f/a.jpg", "q", &verdict(Outcome::Optimized))
            .unwrap();
        let again = l.retry_failed(Some(&["/f/a.jpg".into()])).unwrap();
        assert_eq!(again, vec![PathBuf::from("/f/a.jpg")]);
        assert!(l.result("h/f/a.jpg", "p").unwrap().is_none());
        assert!(l.result("h/f/a.jpg", "q").unwrap().is_some());
        assert_eq!(
            l.file(Path::new("/f/a.jpg")).unwrap().unwrap().state,
            State::New
        );
        assert_eq!(
            l.file(Path::new("/f/b.jpg")).unwrap().unwrap().state,
            State::Failed
        );
        assert_eq!(l.retry_failed(None).unwrap().len(), 1);
    }
}
