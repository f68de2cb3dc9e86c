//! The ledger's rows of a walked folder, read a page ahead on a thread of their own.
//!
//! A restart rescan is two streams merged in path order: the folder's entries (readdir and
//! a stat each) and the ledger's rows of them (SQLite pages copied in from the file). Read
//! one after the other, a rescan costs their sum; here the rows arrive from a second
//! connection while the walk stats, so it costs nearer the larger of the two. At most two
//! pages wait in the channel: memory stays bounded by the page size, not the folder's.
//!
//! Reading ahead changes nothing the merge relies on: a page holds the rows after the
//! previous page's last path as they were when it was read, just as a page read on demand
//! would, and the rows the walk records itself are for paths it has already passed.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

use crate::ledger::{Ledger, LedgerError, Tracked};

type Page = Result<Vec<Tracked>, LedgerError>;

/// Pages of [`Ledger::tracked_under_page`] below one root, in order, until a short one.
pub struct Ahead {
    pages: Receiver<Page>,
}

impl Ahead {
    /// Starts reading `root`'s rows from the ledger file at `ledger`; `None` when a second
    /// connection cannot be had (the caller then reads on demand).
    pub fn start(ledger: &Path, root: &Path, page: usize) -> Option<Ahead> {
        let reader = Ledger::open_read_only(ledger).ok()??;
        let root: PathBuf = root.to_path_buf();
        let (tx, pages) = sync_channel::<Page>(2);
        std::thread::Builder::new()
            .name("scan-ahead".into())
            .spawn(move || {
                let mut after = Vec::new();
                loop {
                    let rows = reader.tracked_under_page(&root, &after, page);
                    let more = match &rows {
                        Ok(r) => {
                            if let Some(last) = r.last() {
                                after.clone_from(&last.path);
                            }
                            r.len() == page
                        }
                        Err(_) => false,
                    };
                    // The walk stopped early (an error): nobody wants the rest.
                    if tx.send(rows).is_err() || !more {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Ahead { pages })
    }

    /// The next page; an empty one once the reader is done.
    pub fn next(&self) -> Page {
        self.pages.recv().unwrap_or_else(|_| Ok(Vec::new()))
    }
}
