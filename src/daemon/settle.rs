//! The settle window: a changed path is taken only once it has been quiet for `settle` and
//! two stats, one window apart, agree on size and mtime. A file still being written (a
//! camera import, a slow copy over the network) keeps moving its deadline and is taken once,
//! complete. Paths that vanished settle too: the scan then forgets them.
//!
//! Deadlines sit in a min-heap (stale ones are skipped when they surface), so a burst of
//! 100,000 changes costs O(log n) per event, not a scan of every waiting path.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Size and mtime, or nothing for a path that does not exist.
type Look = Option<(u64, Option<std::time::SystemTime>)>;

fn look(path: &Path) -> Look {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()))
}

struct Entry {
    due: Instant,
    seen: Look,
}

pub struct Settler {
    window: Duration,
    entries: HashMap<PathBuf, Entry>,
    /// (deadline, path); an item is stale when the entry's deadline differs.
    queue: BinaryHeap<Reverse<(Instant, PathBuf)>>,
}

impl Settler {
    pub fn new(window: Duration) -> Settler {
        Settler {
            window,
            entries: HashMap::new(),
            queue: BinaryHeap::new(),
        }
    }

    pub fn set_window(&mut self, window: Duration) {
        self.window = window;
    }

    /// Something happened at `path`: (re)start its window.
    pub fn touch(&mut self, path: PathBuf, now: Instant) {
        let seen = look(&path);
        let due = now + self.window;
        self.queue.push(Reverse((due, path.clone())));
        self.entries.insert(path, Entry { due, seen });
    }

    /// Looks at `path` again at `when` without waiting a full window (a re-poll).
    pub fn touch_at(&mut self, path: PathBuf, when: Instant) {
        let seen = look(&path);
        let entry = self
            .entries
            .entry(path.clone())
            .or_insert(Entry { due: when, seen });
        entry.due = entry.due.min(when);
        self.queue.push(Reverse((entry.due, path)));
    }

    /// When the next path is due, if any.
    pub fn next_due(&mut self) -> Option<Instant> {
        while let Some(Reverse((due, path))) = self.queue.peek() {
            if self.entries.get(path).is_some_and(|e| e.due == *due) {
                return Some(*due);
            }
            self.queue.pop(); // stale: touched again since, or already taken
        }
        None
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The paths whose window has passed with no change; the others wait one more window.
    pub fn take_ready(&mut self, now: Instant) -> Vec<PathBuf> {
        let mut ready = Vec::new();
        while let Some(due) = self.next_due() {
            if due > now {
                break;
            }
            let Some(Reverse((_, path))) = self.queue.pop() else {
                break;
            };
            let now_seen = look(&path);
            let entry = self.entries.get_mut(&path).expect("next_due checked it");
            if entry.seen == now_seen {
                self.entries.remove(&path);
                ready.push(path);
            } else {
                // Still changing without telling us (no event): one more window.
                entry.seen = now_seen;
                entry.due = now + self.window;
                self.queue.push(Reverse((entry.due, path)));
            }
        }
        ready.sort();
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_quiet_file_is_ready_after_one_window_and_a_growing_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let quiet = dir.path().join("quiet.jpg");
        let growing = dir.path().join("growing.jpg");
        std::fs::write(&quiet, b"done").unwrap();
        std::fs::write(&growing, b"part").unwrap();
        let mut s = Settler::new(Duration::from_secs(2));
        let t0 = Instant::now();
        s.touch(quiet.clone(), t0);
        s.touch(growing.clone(), t0);
        assert!(s.take_ready(t0 + Duration::from_secs(1)).is_empty());
        std::fs::OpenOptions::new()
            .append(true)
            .open(&growing)
            .unwrap()
            .write_all(b" more")
            .unwrap();
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(s.take_ready(t1), vec![quiet]);
        assert_eq!(s.len(), 1, "the growing file waits another window");
        assert_eq!(s.next_due(), Some(t1 + Duration::from_secs(2)));
        assert_eq!(s.take_ready(t1 + Duration::from_secs(2)), vec![growing]);
        assert!(s.is_empty());
    }

    #[test]
    fn a_vanished_path_settles_so_it_can_be_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone.jpg");
        let mut s = Settler::new(Duration::from_millis(10));
        let t0 = Instant::now();
        s.touch(gone.clone(), t0);
        assert_eq!(s.take_ready(t0 + Duration::from_millis(10)), vec![gone]);
    }
}
