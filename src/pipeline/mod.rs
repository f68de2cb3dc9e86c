//! The pipeline: scan → plan → optimize → verify → apply, for `run --once` (and, later, for
//! each batch of changes the daemon sees).
//!
//! Ownership: [`Ctx`] holds the one [`Ledger`] behind a mutex; every step locks it for one
//! unit of work and never across network or image work. Work is grouped by content
//! (blake3 + settings profile), so identical files cost one upload (G4).

mod apply;
mod local;
mod plan;
mod remote;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backup::BackupStore;
use crate::config::{BackendKind, Config, Folder};
use crate::content::Format;
use crate::ledger::{FileRow, Ledger};

pub use plan::Plan;

/// Shared state of one run.
pub struct Ctx {
    pub config: Arc<Config>,
    ledger: Mutex<Ledger>,
    pub backups: BackupStore,
    pub tally: Tally,
}

impl Ctx {
    pub fn new(config: Arc<Config>, ledger: Ledger) -> Ctx {
        Ctx {
            backups: BackupStore::new(&config.backup_dir),
            config,
            ledger: Mutex::new(ledger),
            tally: Tally::default(),
        }
    }

    /// Locks the ledger for one unit of work.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back),
        // so a poisoned lock is still safe to use.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn folder(&self, idx: usize) -> &Folder {
        &self.config.folders[idx]
    }

    pub fn into_ledger(self) -> Ledger {
        self.ledger.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// What happened during a run, for the summary line and the exit code.
#[derive(Default)]
pub struct Tally {
    pub optimized: AtomicU64,
    pub already_optimal: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    pub pending: AtomicU64,
    pub uploads: AtomicU64,
    pub bytes_before: AtomicU64,
    pub bytes_after: AtomicU64,
    /// A condition that stopped the run early (invalid key, no credits).
    pub fatal: Mutex<Option<String>>,
}

impl Tally {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
    pub fn set_fatal(&self, message: String) {
        let mut f = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        if f.is_none() {
            *f = Some(message);
        }
    }
    pub fn fatal(&self) -> Option<String> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One content under one settings profile, and every tracked path that holds it.
#[derive(Debug, Clone)]
pub struct Work {
    pub hash: String,
    pub profile: String,
    pub format: Format,
    pub size: u64,
    /// Index of the folder whose settings apply (all files share the profile).
    pub folder: usize,
    pub files: Vec<FileRow>,
    /// Times this content was sent again after a transient per-item failure.
    pub attempts: u32,
}

impl Work {
    pub fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|f| f.path.clone()).collect()
    }
}

/// Processes everything the plan holds with the configured backend.
pub async fn process(ctx: Arc<Ctx>, plan: Plan) -> anyhow::Result<()> {
    match ctx.config.backend {
        BackendKind::Local => local::run(ctx, plan.works).await,
        BackendKind::Shortpixel => remote::run(ctx, plan.works, plan.polls).await,
    }
}

pub use plan::plan;
