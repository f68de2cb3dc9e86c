//! The daemon (`run` without `--once`): one supervisor loop that owns the schedule and
//! nothing else. It listens to four sources and starts batches (see `pipeline::batch`):
//!
//! - **watchers** (`watch`): changes go into the [`Settler`]; settled paths become a batch
//!   per folder. A rename is followed in the ledger at once (nothing re-hashed or re-sent).
//!   Lost events or watch errors mark the folder for a reconcile.
//! - **timers**: the next settle deadline, the periodic reconcile (`rescan_interval`), and
//!   the re-poll of results still pending at ShortPixel. No timer runs when idle but the
//!   reconcile's.
//! - **signals**: SIGINT/SIGTERM stop taking work, let what is in flight finish (bounded by
//!   [`GRACE`]) and exit 0; pending jobs stay in the ledger. SIGHUP reloads the config.
//! - **finished batches**: deferred paths go back to the settler; pending results schedule
//!   a re-poll; a batch's [`Fatal`] is matched on: an invalid key or a failing ledger stops
//!   the daemon (exit 1), credits that do not come back pause it until the next reconcile.
//!   Files a batch left held by `[limits]` (quiet hours, the monthly budget) are taken up by
//!   a reconcile when the hold lifts by itself (the window's end, a local midnight) or when
//!   a reload changes the limits.
//!
//! Batches run side by side (at most `concurrency` for changes, one reconcile at a time);
//! the pipeline's claims keep two batches from paying for the same content (G4).

pub mod control;
pub mod settle;
pub mod unwatched;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::ledger::State;
use crate::pipeline::batch::{self, BatchEnd, Scope};
use crate::pipeline::{follow, BatchError, Ctx, Fatal, Shared, Tally};
use crate::scan::{self, Leftovers};
use crate::watch::{self, Change};
use control::{Command, Control};
use settle::Settler;
use unwatched::Unwatched;

/// How long a stop waits for work in flight (an upload's reply, a write) before exiting.
pub const GRACE: Duration = Duration::from_secs(30);

/// How long the daemon waits after its last batch before handing memory back.
const TRIM_AFTER: Duration = Duration::from_secs(5);

/// How soon after running out of credits the daemon looks again.
const CREDITS_RETRY: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Changes,
    Reconcile,
    /// A walk of the subtrees the OS watch limit left unwatched.
    Walk,
}

type Finished = (Arc<Ctx>, Result<BatchEnd, BatchError>);

struct Daemon {
    config: Arc<Config>,
    shared: Arc<Shared>,
    settler: Settler,
    /// Settled paths waiting for a free batch slot.
    ready: BTreeSet<PathBuf>,
    tasks: JoinSet<Finished>,
    /// What each running batch is; the counts of running batches are read from here.
    running: HashMap<tokio::task::Id, Kind>,
    /// Folders (by path) to reconcile once the running reconcile ends.
    want_reconcile: BTreeSet<PathBuf>,
    next_reconcile: Instant,
    repoll_at: Option<Instant>,
    /// When to hand freed memory back, once the work has been quiet for a moment.
    trim_at: Option<Instant>,
    tx: mpsc::UnboundedSender<Change>,
    watchers: Option<watch::Watchers>,
    /// What no watch covers, walked on a timer.
    unwatched: Unwatched,
    /// The state the dashboard shows, and its pause flag.
    control: Arc<Control>,
    /// The dashboard's server, while it runs (stopped when dropped).
    _dashboard: Option<crate::dashboard::Server>,
}

/// Runs until a stop signal (exit code 0), an invalid key or a failing ledger (1).
pub async fn run(
    config: Arc<Config>,
    shared: Arc<Shared>,
    signals: Signals,
) -> anyhow::Result<i32> {
    let (tx, rx) = mpsc::unbounded_channel();
    let (control, commands) = Control::new(config.clone(), shared.limits.paused.clone());
    let dashboard = crate::dashboard::start(&config, &shared, &control).await;
    let mut d = Daemon {
        settler: Settler::new(settle_window(&config)),
        next_reconcile: Instant::now() + config.watching.rescan_interval,
        config,
        shared,
        ready: BTreeSet::new(),
        tasks: JoinSet::new(),
        running: HashMap::new(),
        want_reconcile: BTreeSet::new(),
        repoll_at: None,
        trim_at: None,
        tx,
        watchers: None,
        unwatched: Unwatched::new(Duration::from_secs(30)),
        control,
        _dashboard: dashboard,
    };
    // Watch first, then scan: a change made during the first scan is not missed.
    d.start_watchers();
    let all = (0..d.config.folders.len()).collect();
    d.spawn(Kind::Reconcile, Scope::Folders(all, Leftovers::Remove));
    let code = d.serve(rx, commands, signals).await;
    d.shutdown().await;
    tracing::info!("stopped");
    code
}

impl Daemon {
    async fn serve(
        &mut self,
        mut rx: mpsc::UnboundedReceiver<Change>,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut signals: Signals,
    ) -> anyhow::Result<i32> {
        loop {
            let wake = [
                self.settler.next_due(),
                Some(self.next_reconcile),
                self.repoll_at,
                self.trim_at,
                self.unwatched.next_due(),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("the reconcile is always scheduled");
            tokio::select! {
                s = signals.next() => match s {
                    Signal::Stop(name) => {
                        tracing::info!("{name} received: stopping");
                        return Ok(0);
                    }
                    Signal::Reload => self.reload(),
                },
                Some(change) = rx.recv() => self.on_change(change),
                Some(command) = commands.recv() => self.on_command(command),
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    if let Some(code) = self.finished(done) {
                        return Ok(code);
                    }
                }
                _ = tokio::time::sleep_until(wake.into()) => self.on_time(),
            }
            self.dispatch();
            self.control.set_held(self.ready.len());
        }
    }

    fn start_watchers(&mut self) {
        self.watchers = None; // stop the old ones first
        let w = watch::start(&self.config, &self.tx);
        for (path, mode) in &w.modes {
            tracing::info!("watching {} ({mode})", path.display());
        }
        self.unwatched.set(
            w.unwatched.iter().cloned(),
            self.config.watching.poll_interval,
            Instant::now(),
        );
        self.watchers = Some(w);
    }

    fn on_change(&mut self, change: Change) {
        let now = Instant::now();
        match change {
            Change::Touched(path) => self.settler.touch(path, now),
            Change::Renamed { from, to } => {
                if !self.follow_rename(&from, &to) {
                    self.settler.touch(from, now);
                }
                // Confirmed by a stat after the window; costs nothing when it matches.
                self.settler.touch(to, now);
            }
            Change::Rescan { path, why } => {
                tracing::warn!("{why}; re-checking {} with a full scan", path.display());
                self.want_reconcile.insert(path);
            }
            Change::Unwatched(path) => {
                tracing::info!(
                    "{} is past the system's inotify watch limit: it is walked on a timer instead",
                    path.display()
                );
                self.unwatched.add(path, now);
            }
        }
    }

    /// What the dashboard asked for.
    fn on_command(&mut self, command: Command) {
        match command {
            // `dispatch` runs after every event and starts what waited; files a running
            // batch held back when the pause came are queued in the ledger: a rescan.
            Command::Resume => {
                for f in &self.config.folders {
                    self.want_reconcile.insert(f.path.clone());
                }
            }
            Command::Rescan => {
                tracing::info!("rescan asked for from the dashboard");
                for f in &self.config.folders {
                    self.want_reconcile.insert(f.path.clone());
                }
            }
            Command::Process(paths) => self.ready.extend(paths),
        }
    }

    /// Moves the ledger rows of a rename inside one folder; false if it cannot.
    fn follow_rename(&self, from: &std::path::Path, to: &std::path::Path) -> bool {
        let (Some(a), Some(b)) = (self.config.folder_of(from), self.config.folder_of(to)) else {
            return false;
        };
        if a.path != b.path || scan::ignored(a, from) || scan::ignored(b, to) {
            return false;
        }
        let ctx = Ctx::new(self.config.clone(), self.shared.clone());
        match follow::moved(&ctx, a, from, to) {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!("{} -> {}: {e:#}", from.display(), to.display());
                false
            }
        }
    }

    fn on_time(&mut self) {
        let now = Instant::now();
        self.ready.extend(self.settler.take_ready(now));
        if !self.shared.stop.requested() {
            if let Some(roots) = self.unwatched.due(now) {
                self.walk(roots);
            }
        }
        if now >= self.next_reconcile {
            self.next_reconcile = now + self.config.watching.rescan_interval;
            for f in &self.config.folders {
                self.want_reconcile.insert(f.path.clone());
            }
        }
        if self.trim_at.is_some_and(|t| now >= t) {
            self.trim_at = None;
            if self.running.is_empty() {
                crate::memory::release_free();
            }
        }
        if self.repoll_at.is_some_and(|t| now >= t) {
            self.repoll_at = None;
            match self.shared.ledger().paths_in_state(State::Pending) {
                Ok(paths) => {
                    for p in paths {
                        self.settler.touch_at(p, now);
                    }
                }
                Err(e) => tracing::warn!("cannot list pending results: {e}"),
            }
        }
    }

    /// Starts what can start: a reconcile if one is wanted, change batches while slots are free.
    fn dispatch(&mut self) {
        if self.shared.stop.requested() || self.control.paused() {
            return;
        }
        if self.count(Kind::Reconcile) == 0 && !self.want_reconcile.is_empty() {
            let wanted = std::mem::take(&mut self.want_reconcile);
            let folders: Vec<usize> = self
                .config
                .folders
                .iter()
                .enumerate()
                .filter(|(_, f)| wanted.iter().any(|w| w.starts_with(&f.path)))
                .map(|(i, _)| i)
                .collect();
            if !folders.is_empty() {
                self.spawn(Kind::Reconcile, Scope::Folders(folders, Leftovers::Keep));
            }
        }
        if self.ready.is_empty() || self.count(Kind::Changes) >= self.config.concurrency {
            return;
        }
        let mut by_folder: Vec<Vec<PathBuf>> = vec![Vec::new(); self.config.folders.len()];
        for path in std::mem::take(&mut self.ready) {
            if let Some(i) = self.config.folder_index(&path) {
                if !scan::ignored(&self.config.folders[i], &path) {
                    by_folder[i].push(path);
                }
            }
        }
        for (i, paths) in by_folder.into_iter().enumerate() {
            if !paths.is_empty() {
                self.spawn(Kind::Changes, Scope::Paths(i, paths));
            }
        }
    }

    /// Starts the walk of the unwatched subtrees, one batch per folder.
    fn walk(&mut self, roots: Vec<PathBuf>) {
        let mut by_folder: Vec<Vec<PathBuf>> = vec![Vec::new(); self.config.folders.len()];
        for root in roots {
            if let Some(i) = self.config.folder_index(&root) {
                by_folder[i].push(root);
            }
        }
        let mut started = false;
        for (i, roots) in by_folder.into_iter().enumerate() {
            if !roots.is_empty() {
                self.spawn(Kind::Walk, Scope::Paths(i, roots));
                started = true;
            }
        }
        if !started {
            self.unwatched.walked(Instant::now());
        }
    }

    fn spawn(&mut self, kind: Kind, scope: Scope) {
        let ctx = Arc::new(Ctx::new(self.config.clone(), self.shared.clone()));
        let handle = self.tasks.spawn(async move {
            let end = batch::run(ctx.clone(), scope).await;
            (ctx, end)
        });
        self.running.insert(handle.id(), kind);
        self.publish();
    }

    /// Tells the dashboard what runs.
    fn publish(&self) {
        let scans = self.count(Kind::Reconcile) + self.count(Kind::Walk);
        self.control.set_running(self.running.len(), scans);
    }

    fn count(&self, kind: Kind) -> usize {
        self.running.values().filter(|k| **k == kind).count()
    }

    /// A batch ended. Returns an exit code when the daemon must stop.
    fn finished(
        &mut self,
        done: Result<(tokio::task::Id, Finished), tokio::task::JoinError>,
    ) -> Option<i32> {
        let (kind, (ctx, end)) = match done {
            Ok((id, d)) => (self.ended(id), d),
            Err(e) => {
                self.ended(e.id());
                tracing::error!("a batch stopped unexpectedly ({e}); its files are taken up again by the next rescan");
                return None;
            }
        };
        if self.running.is_empty() {
            // Not at once: the agent's own writes still come back as events for a moment,
            // and the batch's context (its claims) is dropped after this.
            self.trim_at = Some(Instant::now() + TRIM_AFTER);
        }
        log_tally(&ctx.tally);
        if Tally::get(&ctx.tally.pending) > 0 {
            let at = Instant::now() + self.config.network.poll_interval;
            self.repoll_at = Some(self.repoll_at.map_or(at, |t| t.min(at)));
        }
        if Tally::get(&ctx.tally.held) > 0 {
            self.when_limits_lift();
        }
        match end {
            Ok(end) => {
                if kind == Some(Kind::Reconcile) {
                    self.control.scanned();
                }
                if Tally::get(&ctx.tally.uploads) > 0 {
                    self.control.set_out_of_credits(false);
                }
                let now = Instant::now();
                for p in end.deferred {
                    self.settler.touch(p, now);
                }
            }
            // Nothing will work until the user fixes the key: stop (exit 1).
            Err(BatchError::Fatal(Fatal::InvalidKey(message))) => {
                eprintln!("error: {message}");
                return Some(1);
            }
            // Nothing can be recorded: sending more could pay twice. Stop (exit 1); a
            // service manager restarts the agent once the disk is fixed.
            Err(BatchError::Fatal(fatal @ Fatal::Ledger(_))) => {
                eprintln!("error: {fatal}; stopping");
                return Some(1);
            }
            // Uploads wait for credits; the next reconcile tries again.
            Err(BatchError::Fatal(Fatal::NoCredits(message))) => {
                self.control.set_out_of_credits(true);
                tracing::warn!(
                    "{message}; trying again in {} minutes",
                    CREDITS_RETRY.as_secs() / 60
                );
                self.next_reconcile = self.next_reconcile.min(Instant::now() + CREDITS_RETRY);
            }
            // This batch only: its files are looked at again by the next reconcile.
            Err(BatchError::Failed(e)) => tracing::error!("{e:#}"),
        }
        None
    }

    /// Forgets a batch; the walk of the unwatched subtrees ends with its last batch.
    fn ended(&mut self, id: tokio::task::Id) -> Option<Kind> {
        let kind = self.running.remove(&id);
        if kind == Some(Kind::Walk) && self.count(Kind::Walk) == 0 {
            self.unwatched.walked(Instant::now());
        }
        self.publish();
        kind
    }

    fn reload(&mut self) {
        let loaded = Config::load(&self.config.file)
            .map_err(anyhow::Error::from)
            .and_then(|c| c.prepare_for_run().map(|()| c).map_err(Into::into));
        match loaded {
            Ok(new) => {
                let old: BTreeSet<PathBuf> =
                    self.config.folders.iter().map(|f| f.path.clone()).collect();
                let listen = |c: &Config| c.dashboard.as_ref().map(|d| d.listen);
                if listen(&new) != listen(&self.config) {
                    tracing::warn!("the dashboard's address changed: restart the agent to move it (the token and host names changed at once)");
                }
                if new.limits != self.config.limits {
                    tracing::info!("the limits changed: looking again at the files they held");
                    for f in &new.folders {
                        self.want_reconcile.insert(f.path.clone());
                    }
                }
                self.config = Arc::new(new);
                self.control.set_config(self.config.clone());
                self.settler.set_window(settle_window(&self.config));
                self.start_watchers();
                for f in &self.config.folders {
                    if !old.contains(&f.path) {
                        tracing::info!("new folder {}: scanning it", f.path.display());
                        self.want_reconcile.insert(f.path.clone());
                    }
                }
                tracing::info!("reloaded {}", self.config.file.display());
            }
            Err(e) => tracing::error!("{e}; keeping the previous config"),
        }
    }

    /// Schedules a reconcile for when the limits that held files lift by themselves.
    fn when_limits_lift(&mut self) {
        let now = crate::clock::now();
        let limits = &self.config.limits;
        let hold = crate::limits::uploads(limits, &self.shared.limits.spend, &now)
            .err()
            .or_else(|| crate::limits::local(limits, &now));
        let lifts = match &hold {
            Some(h) => h.lifts_in(&now),
            // Lifted already (a window just ended): look again soon.
            None => Duration::from_secs(1),
        };
        let at = Instant::now() + lifts;
        if at < self.next_reconcile {
            tracing::info!("held files are looked at again in {} s", lifts.as_secs());
            self.next_reconcile = at;
        }
    }

    async fn shutdown(&mut self) {
        self.shared.stop.request();
        self.watchers = None;
        if self.tasks.is_empty() {
            return;
        }
        tracing::info!("stopping: waiting for work in flight to finish");
        let drained = tokio::time::timeout(GRACE, async {
            while let Some(done) = self.tasks.join_next().await {
                if let Ok((ctx, _)) = &done {
                    log_tally(&ctx.tally);
                }
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "work still in flight after {}s; stopping anyway (every file is whole, and the next start resumes it)",
                GRACE.as_secs()
            );
            self.tasks.abort_all();
        }
    }
}

/// The settler's own window. Events reach it only after the debouncer saw the path quiet
/// for `DEBOUNCE`, which counts towards `settle`; the two stats stay at least 200 ms apart.
fn settle_window(config: &Config) -> Duration {
    let settle = config.watching.settle;
    settle
        .saturating_sub(watch::DEBOUNCE)
        .max(settle.min(Duration::from_millis(200)))
}

/// One line per batch that did something; nothing when it did not.
fn log_tally(t: &Tally) {
    if !t.is_empty() {
        tracing::info!("{}", t.line());
    }
}

enum Signal {
    /// SIGINT or SIGTERM, by name.
    Stop(&'static str),
    Reload,
}

/// SIGINT/SIGTERM/SIGHUP on Unix (subscribed once, before any work, so none is missed);
/// Ctrl-C elsewhere.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn new() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    async fn next(&mut self) -> Signal {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.term.recv() => Signal::Stop("SIGTERM"),
                _ = self.int.recv() => Signal::Stop("SIGINT"),
                _ = self.hup.recv() => Signal::Reload,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Stop("Ctrl-C")
        }
    }

    /// Resolves at the first SIGINT/SIGTERM (for `run --once`).
    pub async fn stop(&mut self) {
        loop {
            if let Signal::Stop(_) = self.next().await {
                return;
            }
        }
    }
}
