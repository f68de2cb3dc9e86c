//! The upload bandwidth limit (`[limits] upload_kbps`): one schedule shared by every upload
//! body of the process, so the limit holds for all concurrent uploads together.
//!
//! A body asks for each piece of a file before sending it ([`Throttle::reserve`]); the
//! answer is the instant the piece may go, which is when the link, at the set rate, would
//! have carried every byte reserved before it and this piece too. Bytes are paid for before
//! they go, so by any instant `t` at most `rate × (t − first reservation)` bytes have been
//! sent: an upper bound that no burst or idle spell can break. Pieces are a fraction of a
//! second of the rate, so a slow limit still moves bytes often (the stall watch sees
//! progress) and memory stays at one read chunk per body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The smallest piece asked for at once.
const MIN_PIECE: usize = 1024;
/// Pieces per second of the rate.
const PIECES_PER_SEC: u64 = 8;

#[derive(Debug, Default)]
pub struct Throttle {
    /// Bytes a second; 0: no limit.
    rate: AtomicU64,
    /// When the bytes reserved so far will have gone at the rate.
    next: Mutex<Option<Instant>>,
}

impl Throttle {
    /// Sets the limit (`None`: none), e.g. after a config reload.
    pub fn set_rate(&self, bytes_per_sec: Option<u64>) {
        self.rate
            .store(bytes_per_sec.unwrap_or(0), Ordering::Relaxed);
    }

    /// The limit in bytes a second, when there is one.
    pub fn rate(&self) -> Option<u64> {
        Some(self.rate.load(Ordering::Relaxed)).filter(|r| *r > 0)
    }

    /// How many bytes to send as one piece, at most `cap`.
    pub fn piece(&self, cap: usize) -> usize {
        match self.rate() {
            None => cap,
            Some(r) => ((r / PIECES_PER_SEC) as usize).clamp(MIN_PIECE, cap.max(MIN_PIECE)),
        }
    }

    /// Reserves `n` bytes: the instant they may be sent, or `None` without a limit.
    pub fn reserve(&self, n: usize) -> Option<Instant> {
        let rate = self.rate()?;
        let now = Instant::now();
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let start = next.filter(|t| *t > now).unwrap_or(now);
        let at = start + Duration::from_secs_f64(n as f64 / rate as f64);
        *next = Some(at);
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_rate_nothing_waits() {
        let t = Throttle::default();
        assert_eq!(t.reserve(1 << 20), None);
        assert_eq!(t.piece(4096), 4096);
    }

    #[test]
    fn reservations_from_many_bodies_queue_behind_each_other_at_the_rate() {
        let t = Throttle::default();
        t.set_rate(Some(100 * 1024));
        assert_eq!(t.piece(256 * 1024), 100 * 1024 / 8);
        let begin = Instant::now();
        // Three bodies asking at once share one schedule: the last piece goes no sooner
        // than all their bytes take at 100 KiB/s.
        let mut last = begin;
        for _ in 0..3 {
            last = t.reserve(50 * 1024).unwrap();
        }
        let took = last.duration_since(begin).as_secs_f64();
        assert!(
            took >= 1.5 - 1e-3,
            "150 KiB at 100 KiB/s may go after 1.5 s, not {took}"
        );
        // A slow limit still moves bytes in small pieces.
        t.set_rate(Some(2048));
        assert_eq!(t.piece(256 * 1024), MIN_PIECE);
        t.set_rate(None);
        assert_eq!(t.reserve(10), None);
    }
}
