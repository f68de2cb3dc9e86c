//! `run --once`: one batch over every folder (or the folders named), waiting for pending
//! results, with a progress display, then a summary. With folders named and no config yet,
//! a starter config for them is written first, and the run says what it will do and how to
//! undo it. `run --once --dry-run`: see `dry_run`. `run`: the daemon (see `daemon`), which
//! tells systemd it is ready once the config is loaded, the ledger open and the lock held.
//! Both hold the one-instance lock on the ledger.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{dry_run, hint, Usage};
use crate::config::{Config, Mode};
use crate::daemon::{self, Signals, GRACE};
use crate::logging::{self, LogFormat};
use crate::pipeline::batch::{self, Scope};
use crate::pipeline::{BatchError, Ctx, Shared, Tally};
use crate::progress::Progress;
use crate::scan::Leftovers;

/// What was asked on the command line.
pub struct Request<'a> {
    pub once: bool,
    pub dry_run: bool,
    /// `run --once FOLDER...`: only these (configured, or to configure) folders.
    pub folders: &'a [PathBuf],
}

pub fn run(flag: Option<&Path>, req: Request, log_format: LogFormat) -> anyhow::Result<i32> {
    let path = super::config_path(flag);
    let first = !req.folders.is_empty() && !path.exists();
    let config = if first {
        let text = super::init::starter_text(req.folders)?;
        if req.dry_run {
            // A dry run writes nothing, not even the config it would start with.
            Config::from_text(&path, &text)?
        } else {
            super::init::write(&path, &text)?;
            Config::load(&path)?
        }
    } else {
        super::load(flag)?
    };
    let config = only(config, req.folders)?;
    if req.dry_run {
        return dry_run::run(config);
    }
    config.prepare_for_run()?;
    if first {
        announce(&config);
    }
    let config = Arc::new(config);
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
    let once = req.once;
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

/// The config with only the folders named (all of them when none is), each of which must be
/// a configured folder.
fn only(mut config: Config, named: &[PathBuf]) -> anyhow::Result<Config> {
    if named.is_empty() {
        return Ok(config);
    }
    let mut wanted = Vec::new();
    for f in named {
        let abs = f
            .canonicalize()
            .map_err(|e| Usage(format!("the folder {} cannot be opened: {e}", f.display())))?;
        if !config.folders.iter().any(|c| c.path == abs) {
            let known: Vec<String> = config
                .folders
                .iter()
                .map(|c| c.path.display().to_string())
                .collect();
            return Err(Usage(format!(
                "{} is not a folder of the config {} (its folders: {}); add a [[folder]] for it there, or run `{}` for all of them",
                abs.display(),
                config.file.display(),
                known.join(", "),
                hint::command("run --once")
            ))
            .into());
        }
        wanted.push(abs);
    }
    config.folders.retain(|c| wanted.contains(&c.path));
    Ok(config)
}

/// The first run, from a config just written: what it is about to do, and the undo line.
fn announce(config: &Config) {
    let folders: Vec<String> = config
        .folders
        .iter()
        .map(|f| f.path.display().to_string())
        .collect();
    let in_place = config.folders.iter().find(|f| f.mode == Mode::Replace);
    let mut text = format!(
        "first run: wrote the config {} for {}.",
        config.file.display(),
        folders.join(", ")
    );
    if let Some(f) = in_place {
        text += &format!(
            "\n  The images there are optimized in place (compression = \"{}\"); each original is first copied to {} \
             (disk use grows until `{}`).\n  To put every original back: {}",
            format!("{:?}", f.settings.compression).to_lowercase(),
            config.backup_dir.display(),
            hint::command("backups prune --older-than 90d"),
            hint::command("restore --all")
        );
    }
    logging::say(&text);
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
    let end = loop {
        tokio::select! {
            end = &mut work => {
                progress.finish().await;
                break end;
            }
            _ = signals.stop(), if !stopped => {
                logging::warn("stopping: letting work in flight finish; pending results stay in the ledger");
                shared.stop.request();
                stopped = true;
            }
        }
    };
    let fatal = match end {
        Ok(_) => None,
        Err(BatchError::Fatal(f)) => Some(f),
        Err(BatchError::Failed(e)) => return Err(e),
    };
    let code = summarize(&ctx.tally, fatal);
    Ok(if stopped { code.max(1) } else { code })
}

/// The process's peak resident memory in bytes (Linux: VmHWM), for the run's last log line.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Prints the summary; the exit code: 1 for a fatal condition (invalid key, no credits, a
/// failing ledger) or failed files, else 0.
fn summarize(t: &Tally, fatal: Option<crate::pipeline::Fatal>) -> i32 {
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    // Files planned but never counted were not sent: a stop, an invalid key, no credits.
    let left = get(&t.planned).saturating_sub(t.files_done());
    let held = get(&t.held).min(left);
    let mut queued = match left - held {
        0 => String::new(),
        n => format!("; {n} not sent, still queued for the next run"),
    };
    if held > 0 {
        queued.push_str(&format!(
            "; {held} held by [limits], queued until they allow (`{}` says why)",
            hint::command("status")
        ));
    }
    if let Some(peak) = peak_memory() {
        tracing::debug!("peak memory: {} MiB", peak >> 20);
    }
    if let Some(fatal) = fatal {
        println!("stopped: {}{queued}", t.line());
        logging::error(&format!("error: {fatal}"));
        return 1;
    }
    println!("done: {}{queued}", t.line());
    if get(&t.failed) > 0 {
        logging::warn(&format!(
            "some files failed; `{}` lists them with the reason",
            hint::command("status")
        ));
        return 1;
    }
    0
}
