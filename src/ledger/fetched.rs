//! Which content ShortPixel last fetched at each public URL (the Reducer by URL).
//!
//! ShortPixel keeps its result per URL: asked again with `refresh = 0` it answers that
//! result without fetching or charging again; `refresh = 1` fetches and charges again. A row
//! here is written only in the transaction that records a job made by URL whose fetched
//! size matched the local file (`Ledger::record_jobs`), so it says what ShortPixel holds for
//! the URL. [`Ledger::needs_refresh`] is the one rule: refresh only when the content now at
//! the URL differs from the one fetched last.

use rusqlite::{params, OptionalExtension};

use super::{Ledger, Result};

/// Records that ShortPixel fetched content `hash` at `url` (inside a caller's transaction).
pub(super) fn put(tx: &rusqlite::Transaction<'_>, url: &str, hash: &str, at: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO fetched (url, hash, at) VALUES (?1, ?2, ?3)
         ON CONFLICT (url) DO UPDATE SET hash = excluded.hash, at = excluded.at",
    )?
    .execute(params![url, hash, at])?;
    Ok(())
}

impl Ledger {
    /// The content ShortPixel last fetched at `url`, if any was recorded.
    pub fn fetched(&self, url: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT hash FROM fetched WHERE url = ?1")?
            .query_row([url], |r| r.get(0))
            .optional()?)
    }

    /// Whether asking for `url` with content `hash` must say `refresh = 1`: only when a
    /// different content was fetched there before. Never fetched (as far as this ledger
    /// knows): no refresh, so a result ShortPixel still holds is not paid for again; what
    /// it answers is checked against the local file all the same.
    pub fn needs_refresh(&self, url: &str, hash: &str) -> Result<bool> {
        Ok(self.fetched(url)?.is_some_and(|last| last != hash))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::ledger::{Job, Ledger};

    fn job(hash: &str, url: &str, by_url: bool) -> Job {
        Job {
            orig_hash: hash.into(),
            profile: "p".into(),
            original_url: url.into(),
            by_url,
        }
    }

    #[test]
    fn a_url_is_refreshed_only_once_its_content_changed() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("l.db")).unwrap();
        let url = "https://example.com/p/a.jpg";
        assert!(!l.needs_refresh(url, "h1").unwrap(), "never fetched");

        l.record_jobs(&[(job("h1", url, true), vec![PathBuf::from("/p/a.jpg")])])
            .unwrap();
        assert_eq!(l.fetched(url).unwrap().as_deref(), Some("h1"));
        assert!(!l.needs_refresh(url, "h1").unwrap(), "same content");
        assert!(l.needs_refresh(url, "h2").unwrap(), "edited since");
        let recorded = l.job("h1", "p").unwrap().unwrap();
        assert!(recorded.by_url);
        assert_eq!(recorded.original_url, url);

        l.record_jobs(&[(job("h2", url, true), vec![])]).unwrap();
        assert!(
            l.needs_refresh(url, "h1").unwrap(),
            "changed back is a change"
        );
        assert!(!l.needs_refresh(url, "h2").unwrap());

        // An upload's job says nothing about what is at a URL.
        l.record_jobs(&[(job("h3", "https://sp/orig/1", false), vec![])])
            .unwrap();
        assert_eq!(l.fetched("https://sp/orig/1").unwrap(), None);
        assert!(!l.job("h3", "p").unwrap().unwrap().by_url);
    }
}
