//! `run --once`: one batch over every folder, waiting for pending results, then a summary.
//! `run`: the daemon (see `daemon`). Both hold the one-instance lock on the ledger.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::daemon::{self, Signals, GRACE};
use crate::ledger::Ledger;
use crate::pipeline::batch::{self, Scope};
use crate::pipeline::{Ctx, Shared, Tally};
use crate::scan::Leftovers;

pub fn run(config: Option<&Path>, once: bool) -> anyhow::Result<i32> {
    let config = Arc::new(super::load(config)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(config.concurrency.clamp(2, 8))
        .build()?;
    // Before the lock: from then on `status` says the agent runs, and a service manager may
    // send SIGHUP or SIGTERM, whose default action would kill it on the spot.
    let signals = rt.block_on(async { Signals::new() })?;
    let _lock = crate::lock::acquire(&config.ledger)?;
    let shared = Shared::new(Ledger::open(&config.ledger)?);
    let code = rt.block_on(async move {
        if once {
            once_through(config, shared, signals).await
        } else {
            daemon::run(config, shared, signals).await
        }
    });
    // Blocking work still running (an image being encoded, a write) gets a bounded time.
    rt.shutdown_timeout(GRACE);
    code
}

async fn once_through(
    config: Arc<crate::config::Config>,
    shared: Arc<Shared>,
    mut signals: Signals,
) -> anyhow::Result<i32> {
    let ctx = Arc::new(Ctx::new(config.clone(), shared.clone()));
    let all = (0..config.folders.len()).collect();
    let work = batch::run(ctx.clone(), Scope::Folders(all, Leftovers::Remove));
    tokio::pin!(work);
    let mut stopped = false;
    loop {
        tokio::select! {
            end = &mut work => {
                end?;
                break;
            }
            _ = signals.stop(), if !stopped => {
                eprintln!("stopping: letting work in flight finish; pending results stay in the ledger");
                shared.stop.request();
                stopped = true;
            }
        }
    }
    let code = summarize(&ctx.tally);
    Ok(if stopped { code.max(1) } else { code })
}

fn summarize(t: &Tally) -> i32 {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    println!("done: {}", t.line());
    if let Some(fatal) = t.fatal() {
        eprintln!("error: {fatal}");
        return 1;
    }
    if get(&t.failed) > 0 {
        eprintln!("some files failed; `shortpixel-agent status` lists them with the reason");
        return 1;
    }
    0
}
