//! `run --once`: scan every folder, plan, process, wait for pending results, print a summary.
//! `run`: the same, repeated, until SIGINT/SIGTERM; pending jobs stay in the ledger.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use crate::ledger::Ledger;
use crate::pipeline::{self, Ctx, Tally};
use crate::scan;

/// How often the foreground `run` rescans between passes.
const RESCAN_EVERY: Duration = Duration::from_secs(60);

pub fn run(config: Option<&Path>, once: bool) -> anyhow::Result<i32> {
    let config = Arc::new(super::load(config)?);
    let _lock = crate::lock::acquire(&config.ledger)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(config.concurrency.clamp(2, 8))
        .build()?;
    rt.block_on(async move {
        if once {
            return pass(config).await;
        }
        // Subscribed once, before any work, so no signal is missed between passes.
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let file = config.file.clone();
        let mut config = config;
        loop {
            tokio::select! {
                done = pass(config.clone()) => {
                    if done? == 1 && config.api_key.is_some() {
                        tracing::warn!("this pass ended with errors; trying again in {}s", RESCAN_EVERY.as_secs());
                    }
                }
                // Every write is atomic and every pending job is in the ledger, so stopping
                // mid-pass loses nothing; the next start picks up where this one was.
                _ = term.recv() => return Ok(stopping()),
                _ = int.recv() => return Ok(stopping()),
            }
            tokio::select! {
                _ = tokio::time::sleep(RESCAN_EVERY) => {}
                _ = hup.recv() => match Config::load(&file) {
                    Ok(new) => {
                        tracing::info!("reloaded {}", file.display());
                        config = Arc::new(new);
                    }
                    Err(e) => tracing::error!("{e}; keeping the previous config"),
                },
                _ = term.recv() => return Ok(stopping()),
                _ = int.recv() => return Ok(stopping()),
            }
        }
    })
}

fn stopping() -> i32 {
    eprintln!("stopping; pending results stay in the ledger");
    0
}

/// One pass over every folder. Returns the exit code.
async fn pass(config: Arc<Config>) -> anyhow::Result<i32> {
    let cfg = config.clone();
    let (ledger, rows) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut ledger = Ledger::open(&cfg.ledger)?;
        let mut rows = Vec::new();
        for (i, folder) in cfg.folders.iter().enumerate() {
            let report = scan::scan_folder(&mut ledger, folder)
                .with_context(|| format!("while scanning {}", folder.path.display()))?;
            for p in &report.problems {
                tracing::warn!("{p}");
                eprintln!("warning: {p}");
            }
            tracing::info!(
                "{}: {} files ({} new or changed, {} unchanged, {} gone)",
                folder.path.display(),
                report.files.len(),
                report.hashed,
                report.unchanged,
                report.forgotten
            );
            rows.push((i, report.files));
        }
        Ok((ledger, rows))
    })
    .await??;

    let ctx = Arc::new(Ctx::new(config.clone(), ledger));
    let plan = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || pipeline::plan(&ctx, rows)).await??
    };
    let todo: usize = plan
        .works
        .iter()
        .chain(plan.polls.iter().map(|(w, _)| w))
        .map(|w| w.files.len())
        .sum();
    if todo > 0 {
        eprintln!(
            "{todo} file(s) to optimize with the {} optimizer",
            backend_name(&config)
        );
    }
    pipeline::process(ctx.clone(), plan).await?;
    Ok(summarize(&ctx.tally))
}

fn backend_name(c: &Config) -> &'static str {
    match c.backend {
        crate::config::BackendKind::Shortpixel => "ShortPixel",
        crate::config::BackendKind::Local => "built-in",
    }
}

fn summarize(t: &Tally) -> i32 {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let (before, after) = (get(&t.bytes_before), get(&t.bytes_after));
    let saved = before.saturating_sub(after);
    println!(
        "done: {} optimized, {} already optimal, {} skipped, {} failed, {} still pending; saved {}",
        get(&t.optimized),
        get(&t.already_optimal),
        get(&t.skipped),
        get(&t.failed),
        get(&t.pending),
        crate::status::human_bytes(saved)
    );
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
