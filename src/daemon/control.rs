//! What the dashboard may see of the daemon and ask of it. The daemon's supervisor loop
//! owns the schedule; the dashboard only flips the pause flag and sends [`Command`]s the
//! loop acts on between two events, so no request ever races a batch for the schedule.
//!
//! Pausing starts no new batch (no upload, no local optimizing): work already in flight
//! finishes and records its jobs, and changes keep being collected, to be processed on
//! resume. The pause lasts until resumed or until the daemon restarts.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::config::Config;

/// What the dashboard asks the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Resume after a pause: start what waited.
    Resume,
    /// Walk every folder now instead of at the next `rescan_interval`.
    Rescan,
    /// Process these files now (failed files the user put back in the queue).
    Process(Vec<PathBuf>),
}

/// The daemon's state, shared with the dashboard.
pub struct Control {
    /// Shared with the pipeline (`limits::Runtime::paused`): a batch already uploading
    /// stops sending when it is set.
    paused: Arc<AtomicBool>,
    /// Whole-folder scans running (reconciles, walks of unwatched subtrees).
    scans: AtomicUsize,
    /// Batches running of any kind.
    batches: AtomicUsize,
    /// Settled changes waiting for a batch (held while paused).
    held: AtomicUsize,
    out_of_credits: AtomicBool,
    /// When a whole-folder scan last ended without error (seconds since the epoch; 0: never).
    last_scan: AtomicI64,
    /// The config the daemon runs under (replaced on SIGHUP).
    config: Mutex<Arc<Config>>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Control {
    pub fn new(
        config: Arc<Config>,
        paused: Arc<AtomicBool>,
    ) -> (Arc<Control>, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let control = Control {
            paused,
            scans: AtomicUsize::new(0),
            batches: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            out_of_credits: AtomicBool::new(false),
            last_scan: AtomicI64::new(0),
            config: Mutex::new(config),
            commands: tx,
        };
        (Arc::new(control), rx)
    }

    /// Asks the daemon to do something; false when it is stopping.
    pub fn send(&self, c: Command) -> bool {
        self.commands.send(c).is_ok()
    }

    pub fn pause(&self) {
        if !self.paused.swap(true, Ordering::SeqCst) {
            tracing::info!(
                "paused from the dashboard: no new work starts and no upload is sent until resumed"
            );
        }
    }

    pub fn resume(&self) {
        if self.paused.swap(false, Ordering::SeqCst) {
            tracing::info!("resumed from the dashboard");
            self.send(Command::Resume);
        }
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn out_of_credits(&self) -> bool {
        self.out_of_credits.load(Ordering::SeqCst)
    }

    /// The daemon's state in one word: `paused`, `out_of_credits`, `scanning`,
    /// `optimizing` or `watching` (idle, waiting for changes).
    pub fn state(&self) -> &'static str {
        if self.paused() {
            "paused"
        } else if self.out_of_credits() {
            "out_of_credits"
        } else if self.scans.load(Ordering::SeqCst) > 0 {
            "scanning"
        } else if self.batches.load(Ordering::SeqCst) > 0 {
            "optimizing"
        } else {
            "watching"
        }
    }

    /// Changed files noticed and waiting for a batch (while paused, all of them).
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// When a whole-folder scan last succeeded (seconds since the epoch), if one has.
    pub fn last_scan(&self) -> Option<i64> {
        Some(self.last_scan.load(Ordering::SeqCst)).filter(|t| *t > 0)
    }

    pub fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    // The daemon's side.

    pub(super) fn set_running(&self, batches: usize, scans: usize) {
        self.batches.store(batches, Ordering::SeqCst);
        self.scans.store(scans, Ordering::SeqCst);
    }

    pub(super) fn set_held(&self, n: usize) {
        self.held.store(n, Ordering::SeqCst);
    }

    pub(super) fn set_out_of_credits(&self, out: bool) {
        self.out_of_credits.store(out, Ordering::SeqCst);
    }

    pub(super) fn scanned(&self) {
        self.last_scan.store(crate::ledger::now(), Ordering::SeqCst);
    }

    pub(super) fn set_config(&self, config: Arc<Config>) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Arc<Config> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("p")).unwrap();
        let c = crate::config::load_str(
            &dir.path().join("c.toml"),
            "[[folder]]\npath = \"p\"\n",
            None,
        )
        .unwrap();
        Arc::new(c)
    }

    #[test]
    fn the_state_says_the_most_pressing_thing_first() {
        let (c, mut rx) = Control::new(config(), Default::default());
        assert_eq!(c.state(), "watching");
        c.set_running(2, 1);
        assert_eq!(c.state(), "scanning");
        c.set_running(1, 0);
        assert_eq!(c.state(), "optimizing");
        c.set_out_of_credits(true);
        assert_eq!(c.state(), "out_of_credits");
        c.pause();
        assert_eq!(c.state(), "paused");
        c.resume();
        assert_eq!(rx.try_recv().ok(), Some(Command::Resume));
        c.resume(); // not paused: nothing to wake
        assert!(rx.try_recv().is_err());
    }
}
