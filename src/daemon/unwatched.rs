//! Subtrees no OS watch covers. On a big tree the inotify watch limit runs out: the
//! watchers then watch what they can and hand the rest here (see `watch`). The daemon walks
//! these subtrees on a timer with the same bounded, ledger-merging scan as a reconcile, so
//! memory stays bounded whatever their size, and spaces the walks so that they cost about
//! 1 % of a core: the next walk waits `WALK_COST_FACTOR` times as long as the last one took,
//! and never less than `watch_poll_interval`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A walk may run for 1/`WALK_COST_FACTOR` of the time.
const WALK_COST_FACTOR: u32 = 100;

#[derive(Debug)]
pub struct Unwatched {
    roots: BTreeSet<PathBuf>,
    every: Duration,
    next: Option<Instant>,
    /// When the walk under way started.
    walking: Option<Instant>,
}

impl Unwatched {
    pub fn new(every: Duration) -> Unwatched {
        Unwatched {
            roots: BTreeSet::new(),
            every,
            next: None,
            walking: None,
        }
    }

    /// Replaces the subtrees (the watchers were started again); the first walk is due now.
    pub fn set(&mut self, roots: impl IntoIterator<Item = PathBuf>, every: Duration, now: Instant) {
        self.roots = roots.into_iter().collect();
        self.every = every;
        self.next = (!self.roots.is_empty()).then_some(now);
    }

    /// One more subtree a watch could not be added for (a new folder past the limit).
    pub fn add(&mut self, root: PathBuf, now: Instant) {
        if self.roots.iter().any(|r| root.starts_with(r)) {
            return;
        }
        self.roots.retain(|r| !r.starts_with(&root));
        self.roots.insert(root);
        if self.next.is_none() {
            self.next = Some(now);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// When the next walk is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.next.filter(|_| self.walking.is_none())
    }

    /// The subtrees to walk now, if a walk is due and none is under way.
    pub fn due(&mut self, now: Instant) -> Option<Vec<PathBuf>> {
        if self.walking.is_some() || self.next.is_none_or(|t| now < t) {
            return None;
        }
        self.walking = Some(now);
        Some(self.roots.iter().cloned().collect())
    }

    /// The walk ended: the next one waits in proportion to what this one cost.
    pub fn walked(&mut self, now: Instant) {
        if let Some(start) = self.walking.take() {
            let took = now.saturating_duration_since(start);
            self.next = Some(now + self.every.max(took * WALK_COST_FACTOR));
        }
    }

    pub fn is_walking(&self) -> bool {
        self.walking.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_are_spaced_by_what_they_cost_and_never_overlap() {
        let t0 = Instant::now();
        let mut u = Unwatched::new(Duration::from_secs(30));
        assert_eq!(u.due(t0), None, "nothing to walk");
        u.set(
            [PathBuf::from("/r/b"), PathBuf::from("/r/a")],
            Duration::from_secs(30),
            t0,
        );
        assert_eq!(
            u.due(t0).unwrap(),
            vec![PathBuf::from("/r/a"), PathBuf::from("/r/b")]
        );
        assert_eq!(u.due(t0), None, "one walk at a time");
        // A cheap walk: the poll interval. A walk of 2 s: 200 s later.
        u.walked(t0 + Duration::from_millis(10));
        assert_eq!(
            u.next_due(),
            Some(t0 + Duration::from_millis(10) + Duration::from_secs(30))
        );
        let t1 = t0 + Duration::from_secs(100);
        assert!(u.due(t1).is_some());
        u.walked(t1 + Duration::from_secs(2));
        assert_eq!(u.next_due(), Some(t1 + Duration::from_secs(202)));
    }

    #[test]
    fn a_subtree_is_kept_once_whatever_the_order_it_is_added_in() {
        let t = Instant::now();
        let mut u = Unwatched::new(Duration::from_secs(1));
        u.add("/r/a/b".into(), t);
        u.add("/r/a".into(), t);
        u.add("/r/a/c".into(), t);
        assert_eq!(u.due(t).unwrap(), vec![PathBuf::from("/r/a")]);
    }
}
