//! `run --once`: one batch over every folder, waiting for pending results, with a progress
//! display, then a summary. `run`: the daemon (see `daemon`), which tells systemd it is
//! ready once the config is loaded, the ledger open and the lock held. Both hold the
//! one-instance lock on the ledger.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::daemon::{self, Signals, GRACE};
use crate::logging::{self, LogFormat};
use crate::pipeline::batch::{self, Scope};
use crate::pipeline::{Ctx, Shared, Tally};
use crate::progress::Progress;
use crate::scan::Leftovers;

pub fn run(config: Option<&Path>, once: bool, log_format: LogFormat) -> anyhow::Result<i32> {
    let config = Arc::new(super::load(config)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(config.concurrency.clamp(2, 8))
        .build()?;
    // Before the lock: from then on `status` says the agent runs, and a service manager may
    // send SIGHUP or SIGTERM, whose default action would kill it on the spot.
    let signals = rt.block_on(async { Signals::new() })?;
    let _lock = crate::lock::acquire(&config.ledger)?;
    let backups = crate::backup::BackupStore::new(&config.backup_dir);
    let ledger = crate::recover::open(&config, &backups)?;
    let shared = Shared::new(ledger, backups, config.memory_budget);
    let code = rt.block_on(async move {
        if once {
            once_through(config, shared, signals, log_format).await
        } else {
            // The signal handlers are in (above), so a reload can never hit the default
            // action: systemd may be told we are ready.
            ready();
            daemon::run(config, shared, signals).await
        }
    });
    // Blocking work still running (an image being encoded, a write) gets a bounded time.
    rt.shutdown_timeout(GRACE);
    code
}

/// Tells the service manager (systemd `Type=notify`) that the agent is up. Without
/// `NOTIFY_SOCKET` (a terminal, launchd, Docker) this does nothing.
fn ready() {
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot tell systemd that the agent is ready: {e}");
    }
}

async fn once_through(
    config: Arc<crate::config::Config>,
    shared: Arc<Shared>,
    mut signals: Signals,
    log_format: LogFormat,
) -> anyhow::Result<i32> {
    let ctx = Arc::new(Ctx::new(config.clone(), shared.clone()));
    let progress = Progress::start(ctx.clone(), log_format);
    let all = (0..config.folders.len()).collect();
    let work = batch::run(ctx.clone(), Scope::Folders(all, Leftovers::Remove));
    tokio::pin!(work);
    let mut stopped = false;
    loop {
        tokio::select! {
            end = &mut work => {
                progress.finish().await;
                end?;
                break;
            }
            _ = signals.stop(), if !stopped => {
                logging::warn("stopping: letting work in flight finish; pending results stay in the ledger");
                shared.stop.request();
                stopped = true;
            }
        }
    }
    let code = summarize(&ctx.tally);
    Ok(if stopped { code.max(1) } else { code })
}

/// The process's peak resident memory in bytes (Linux: VmHWM), for the run's last log line.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn summarize(t: &Tally) -> i32 {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    println!("done: {}", t.line());
    if let Some(peak) = peak_memory() {
        tracing::debug!("peak memory: {} MiB", peak >> 20);
    }
    if let Some(fatal) = t.fatal() {
        logging::error(&format!("error: {fatal}"));
        return 1;
    }
    if get(&t.failed) > 0 {
        logging::warn("some files failed; `shortpixel-agent status` lists them with the reason");
        return 1;
    }
    0
}
