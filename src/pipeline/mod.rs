//! The pipeline: scan → plan → optimize → verify → apply, for `run --once` and for each batch
//! of changes the daemon sees.
//!
//! Ownership: [`Shared`] holds the one [`Ledger`] behind a mutex; every step locks it for one
//! unit of work and never across network or image work. Work is grouped by content
//! (blake3 + settings profile), so identical files cost one upload (G4). Batches may run side
//! by side in the daemon: a content is *claimed* by the batch that plans it, and another batch
//! meeting the same content defers those files instead of paying for it a second time.

mod apply;
pub mod batch;
pub mod budget;
pub mod follow;
mod local;
mod plan;
mod remote;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backup::BackupStore;
use crate::config::{BackendKind, Config, Folder};
use crate::content::Format;
use crate::ledger::{FileRow, Ledger};

pub use apply::{mode_name, ALREADY_OPTIMAL, KILL_STEPS, MIRROR_COPY};
pub use plan::Plan;

/// What every batch of one process shares: the ledger, the contents in work, the stop request.
pub struct Shared {
    ledger: Mutex<Ledger>,
    claims: Mutex<HashSet<(String, String)>>,
    /// One store (and one journal segment) for the whole process.
    backups: BackupStore,
    /// The built-in optimizer's memory, shared by every batch.
    pub memory: budget::Budget,
    /// The credit budget's count and the upload bandwidth (`[limits]`), for every batch.
    pub limits: crate::limits::Runtime,
    pub stop: Stop,
}

impl Shared {
    pub fn new(ledger: Ledger, backups: BackupStore, memory_budget: u64) -> Arc<Shared> {
        Arc::new(Shared {
            ledger: Mutex::new(ledger),
            claims: Mutex::new(HashSet::new()),
            backups,
            memory: budget::Budget::new(memory_budget),
            limits: crate::limits::Runtime::default(),
            stop: Stop::default(),
        })
    }

    /// Locks the ledger for one unit of work.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        // A panic while holding the lock leaves SQLite consistent (transactions roll back),
        // so a poisoned lock is still safe to use.
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The process's backup store.
    pub fn backups(&self) -> &BackupStore {
        &self.backups
    }

    fn claims(&self) -> MutexGuard<'_, HashSet<(String, String)>> {
        self.claims.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request to stop taking work: uploads and optimizations not yet started are left for the
/// next start; steps already under way (a request in flight, an atomic write) finish.
pub struct Stop(tokio::sync::watch::Sender<bool>);

impl Default for Stop {
    fn default() -> Self {
        Stop(tokio::sync::watch::Sender::new(false))
    }
}

impl Stop {
    pub fn request(&self) {
        self.0.send_replace(true);
    }
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }
    /// Resolves once a stop is requested.
    pub async fn wait(&self) {
        let mut rx = self.0.subscribe();
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// One batch: the config it runs under, the shared state, and what happened.
pub struct Ctx {
    pub config: Arc<Config>,
    pub shared: Arc<Shared>,
    pub backups: BackupStore,
    pub tally: Tally,
    /// `run --once --dry-run`: results are counted, never applied (see `apply::apply`).
    pub dry_run: bool,
    /// The contents this batch claimed; released when the batch ends.
    claimed: Mutex<Vec<(String, String)>>,
    /// Files that changed under the batch: to be looked at again once it ends.
    again: Mutex<Vec<PathBuf>>,
    /// Conditions already reported in this batch (see [`Ctx::first_time`]).
    said: Mutex<HashSet<String>>,
}

impl Ctx {
    pub fn new(config: Arc<Config>, shared: Arc<Shared>) -> Ctx {
        Ctx {
            backups: shared.backups.clone(),
            config,
            shared,
            tally: Tally::default(),
            dry_run: false,
            claimed: Mutex::new(Vec::new()),
            again: Mutex::new(Vec::new()),
            said: Mutex::new(HashSet::new()),
        }
    }

    /// A context that plans but never applies: for `run --once --dry-run`.
    pub fn dry_run(mut self) -> Ctx {
        self.dry_run = true;
        self
    }

    /// Asks for `path` to be looked at again after this batch (it changed under it).
    pub fn look_again(&self, path: PathBuf) {
        self.again
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(path);
    }

    /// True the first time `what` is asked about in this batch: a condition of a whole
    /// folder (its web server unreachable) is reported once, not once per file.
    pub fn first_time(&self, what: &str) -> bool {
        self.said
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(what.to_string())
    }

    /// The paths [`Ctx::look_again`] collected.
    pub fn take_again(&self) -> Vec<PathBuf> {
        std::mem::take(&mut *self.again.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Locks the ledger for one unit of work.
    pub fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.shared.ledger()
    }

    pub fn folder(&self, idx: usize) -> &Folder {
        &self.config.folders[idx]
    }

    pub fn stopping(&self) -> bool {
        self.shared.stop.requested()
    }

    /// Claims a content for this batch; false when another batch is working on it.
    fn claim(&self, hash: &str, profile: &str) -> bool {
        let key = (hash.to_string(), profile.to_string());
        if !self.shared.claims().insert(key.clone()) {
            return false;
        }
        self.claimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(key);
        true
    }
}

impl Ctx {
    /// Gives back every content this batch claimed: once a page of work is processed, its
    /// contents are settled in the ledger, and a later page (or batch) holding them again
    /// must find them there, not be deferred.
    pub fn release_claims(&self) {
        let mine = std::mem::take(&mut *self.claimed.lock().unwrap_or_else(|p| p.into_inner()));
        let mut claims = self.shared.claims();
        for key in mine {
            claims.remove(&key);
        }
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        self.release_claims();
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
    /// Files sent to ShortPixel: uploaded, or asked for by URL.
    pub uploads: AtomicU64,
    pub bytes_before: AtomicU64,
    pub bytes_after: AtomicU64,
    /// Files left queued because a limit holds them (`[limits]`): not counted as done.
    pub held: AtomicU64,
    /// Files this batch expects to have counted when it ends (see [`Tally::expect`]); read
    /// by progress displays, 0 until the plan is made.
    pub planned: AtomicU64,
}

impl Tally {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
    /// Whether nothing was done at all (the daemon logs nothing for such a batch).
    pub fn is_empty(&self) -> bool {
        self.files_done() == 0
    }

    /// Files counted so far (each file ends in exactly one of these counters).
    pub fn files_done(&self) -> u64 {
        [
            &self.optimized,
            &self.already_optimal,
            &self.skipped,
            &self.failed,
            &self.pending,
        ]
        .iter()
        .map(|c| Tally::get(c))
        .sum()
    }

    /// Records, once planned, that `more` files are still to be counted.
    pub fn expect(&self, more: u64) {
        self.planned
            .store(self.files_done() + more, Ordering::Relaxed);
    }

    /// Takes back `fewer` files from what [`Tally::expect`] announced: rows a page found
    /// needing nothing, or left to another batch.
    pub fn unexpect(&self, fewer: u64) {
        let _ = self
            .planned
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(fewer))
            });
    }

    /// "N optimized, N already optimal, …; saved X", for the summary and the daemon's log.
    pub fn line(&self) -> String {
        let g = Tally::get;
        let saved = g(&self.bytes_before).saturating_sub(g(&self.bytes_after));
        format!(
            "{} optimized, {} already optimal, {} skipped, {} failed, {} still pending; saved {}",
            g(&self.optimized),
            g(&self.already_optimal),
            g(&self.skipped),
            g(&self.failed),
            g(&self.pending),
            crate::status::human_bytes(saved)
        )
    }
}

/// A condition that stops the agent sending work; every batch that meets one ends with it.
/// The daemon's reaction to each is in ARCHITECTURE.md ("Errors"); `run --once` exits 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fatal {
    /// The service refused the key (-401): nothing will work until the config changes.
    #[error("{0}")]
    InvalidKey(String),
    /// Credits ran out (-403, -301) and did not come back within `credits_wait_secs`;
    /// uploads can resume once credits are added.
    #[error("{0}")]
    NoCredits(String),
    /// The ledger cannot be written or read (a full or read-only disk, a damaged file):
    /// nothing more may be sent, since its reply could not be recorded (G4).
    #[error("the ledger failed: {0}")]
    Ledger(String),
}

/// Why a batch ended early.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// Stop (or pause) the agent: see [`Fatal`].
    #[error(transparent)]
    Fatal(#[from] Fatal),
    /// This batch failed (a folder could not be scanned, a task panicked); others go on
    /// and the next reconcile looks again.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for BatchError {
    /// A ledger failure anywhere in the chain is fatal; anything else ends this batch only.
    fn from(e: anyhow::Error) -> Self {
        if e.chain().any(|c| c.is::<crate::ledger::LedgerError>()) {
            BatchError::Fatal(Fatal::Ledger(format!("{e:#}")))
        } else {
            BatchError::Failed(e)
        }
    }
}

impl From<crate::ledger::LedgerError> for BatchError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        BatchError::Fatal(Fatal::Ledger(e.to_string()))
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
pub async fn process(ctx: Arc<Ctx>, plan: Plan) -> Result<(), BatchError> {
    match ctx.config.backend {
        BackendKind::Local => Ok(local::run(ctx, plan.works).await?),
        BackendKind::Shortpixel => remote::run(ctx, plan.works, plan.polls).await,
    }
}

pub use plan::plan;
