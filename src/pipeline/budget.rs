//! The built-in optimizer's memory budget. Decoding and encoding an image takes memory in
//! proportion to its pixels (a 64-megapixel JPEG needed ~790 MB), so `concurrency` alone
//! does not bound the total: three big photos at once could take gigabytes on a 1 GB NAS.
//! Each image is admitted by its estimated cost, read from its header before anything is
//! decoded; an image dearer than the whole budget runs alone. Admission is first come,
//! first served, so a big image is never starved by a stream of small ones.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};

/// Bytes of memory per pixel while an image is decoded, optimized and encoded (decoded
/// pixels, the encoder's coefficient buffers, a WebP conversion); measured at ~12.3 on
/// 64-megapixel JPEGs, with room to spare.
const BYTES_PER_PIXEL: u64 = 14;

/// Fixed working memory per image (codec tables, buffers), on top of its pixels.
const BASE: u64 = 16 << 20;

/// What optimizing a `width`×`height` image held in a file of `file_size` bytes costs;
/// `scored` (lossy and glossy) adds what the optimizer's quality search holds: a copy of
/// the pixels to score against, a decoded candidate and the scoring's rows.
pub fn cost((width, height): (u32, u32), file_size: u64, scored: bool) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    let scoring = if scored {
        shortpixel_optimizer::scoring_memory(width, height)
    } else {
        0
    };
    pixels
        .saturating_mul(BYTES_PER_PIXEL)
        .saturating_add(file_size.saturating_mul(2))
        .saturating_add(BASE)
        .saturating_add(scoring)
}

/// The default budget: a quarter of the machine's memory, at least 256 MiB (a 1 GB NAS then
/// keeps 3/4 for everything else) and at most 4 GiB.
pub fn default_budget() -> u64 {
    // SAFETY: sysconf has no preconditions; it answers -1 for an unknown name.
    let (pages, size) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let total = if pages > 0 && size > 0 {
        pages as u64 * size as u64
    } else {
        1 << 30
    };
    (total / 4).clamp(256 << 20, 4 << 30)
}

#[derive(Debug)]
struct State {
    available: u64,
    /// Tickets waiting, first come first served.
    queue: VecDeque<u64>,
    next_ticket: u64,
}

/// A budget of bytes shared by the optimizer's blocking threads.
#[derive(Debug)]
pub struct Budget {
    total: u64,
    state: Mutex<State>,
    freed: Condvar,
}

/// Memory held by one image; given back when dropped.
#[derive(Debug)]
pub struct Lease<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Budget {
    pub fn new(total: u64) -> Budget {
        Budget {
            total,
            state: Mutex::new(State {
                available: total,
                queue: VecDeque::new(),
                next_ticket: 0,
            }),
            freed: Condvar::new(),
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Waits (blocking the thread) until `bytes` are free and every earlier request was
    /// served. A request above the whole budget takes all of it: the image runs alone.
    pub fn take(&self, bytes: u64) -> Lease<'_> {
        let bytes = bytes.min(self.total);
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let ticket = s.next_ticket;
        s.next_ticket += 1;
        s.queue.push_back(ticket);
        while s.queue.front() != Some(&ticket) || s.available < bytes {
            s = self.freed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.queue.pop_front();
        s.available -= bytes;
        // The next in line may fit too.
        self.freed.notify_all();
        Lease {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut s = self.budget.state.lock().unwrap_or_else(|p| p.into_inner());
        s.available += self.bytes;
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn what_is_held_at_once_never_exceeds_the_budget_and_a_giant_runs_alone() {
        let budget = Budget::new(100);
        let held = AtomicU64::new(0);
        let peak = AtomicU64::new(0);
        std::thread::scope(|s| {
            for cost in [60, 30, 500, 40, 70, 10, 90, 20] {
                let (budget, held, peak) = (&budget, &held, &peak);
                s.spawn(move || {
                    let lease = budget.take(cost);
                    let now = held.fetch_add(lease.bytes, Ordering::SeqCst) + lease.bytes;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    held.fetch_sub(lease.bytes, Ordering::SeqCst);
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 100);
        assert_eq!(
            budget.state.lock().unwrap().available,
            100,
            "all given back"
        );
    }

    #[test]
    fn the_default_fits_a_small_nas() {
        let b = default_budget();
        assert!((256 << 20..=4 << 30).contains(&b), "{b}");
        let big = (8000, 8000);
        assert!(cost(big, 20_000_000, false) > 800 << 20);
        // The quality search keeps the pixels and a candidate (8 bytes a pixel) and the
        // scoring's rows, which grow with the width only.
        let search = cost(big, 20_000_000, true) - cost(big, 20_000_000, false);
        assert!((488 << 20..=560 << 20).contains(&search), "{search}");
        let wide = cost((16000, 4000), 0, true) - cost((16000, 4000), 0, false);
        assert!(
            wide > search,
            "a wider image holds longer rows: {wide} vs {search}"
        );
    }
}
