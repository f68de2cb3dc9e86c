//! `run --once --dry-run`: what a run would do — files to optimize, uploads, bytes — and
//! nothing else (SPEC §1). It scans and plans against a throw-away copy of the ledger
//! (SQLite's `VACUUM INTO` a temp file, read from a read-only connection), and never
//! processes the plan: nothing is sent anywhere. The one step of planning that writes
//! files (serving a result already known) only counts in a dry-run [`Ctx`]. So no file is
//! changed, no ledger row is written, and no request costs a credit.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rusqlite::{Connection, OpenFlags};

use super::hint;
use crate::backup::BackupStore;
use crate::config::{BackendKind, Config, Mode};
use crate::ledger::Ledger;
use crate::pipeline::{self, Ctx, Shared, Tally};
use crate::scan::{self, Leftovers};
use crate::status::human_bytes;

pub fn run(mut config: Config) -> anyhow::Result<i32> {
    if let Some((i, path)) = config.missing_folders().first() {
        anyhow::bail!(
            "folder[{i}].path {} is not there (an unmounted share or a moved folder?); a run would refuse to start",
            path.display()
        );
    }
    let tmp = tempfile::Builder::new()
        .prefix("shortpixel-agent-dry-run-")
        .tempdir()
        .context("while making a temporary folder for the copy of the ledger")?;
    let copy = tmp.path().join("ledger.db");
    let existed = snapshot(&config.ledger, &copy)?;
    config.ledger = copy.clone();
    let config = Arc::new(config);
    let store = BackupStore::new(&config.backup_dir);

    println!("dry run: nothing is changed, nothing is sent");
    let mut ledger = if existed {
        Ledger::open(&copy)?
    } else {
        // No ledger: a run would rebuild one from the backup store's journal (G9); so does
        // this, into the copy, reading the store only.
        crate::recover::open(&config, &store)?
    };
    let (mut rows, mut gone) = (Vec::new(), 0);
    for (i, folder) in config.folders.iter().enumerate() {
        let report = scan::scan_folder(&mut ledger, folder, Leftovers::Keep)
            .with_context(|| format!("while scanning {}", folder.path.display()))?;
        for p in &report.problems {
            tracing::warn!("{p}");
        }
        println!(
            "  {}: {} new or changed, {} gone, {} unchanged",
            folder.path.display(),
            report.hashed,
            report.forgotten.len(),
            report.unchanged
        );
        if folder.mode == Mode::Mirror {
            gone += report.forgotten.len();
        }
        // A dry run plans everything at once (its counts are over the whole run).
        let mut files = Vec::new();
        for root in &report.roots {
            let mut after = Vec::new();
            loop {
                let page = ledger.work_under_page(root, &after, 4096, false)?;
                let Some(last) = page.last() else { break };
                after = crate::names::bytes(&last.path).to_vec();
                files.extend(page.into_iter().filter(|r| {
                    !report.unreadable.iter().any(|u| r.path.starts_with(u))
                        && !report.changing.contains(&r.path)
                }));
            }
        }
        rows.push((i, files));
    }
    drop(ledger);
    let shared = Shared::new(Ledger::open(&copy)?, store, config.memory_budget);
    let ctx = Ctx::new(config.clone(), shared).dry_run();
    let plan = pipeline::plan(&ctx, rows)?;
    let files: usize = plan.works.iter().map(|w| w.files.len()).sum();
    let bytes: u64 = plan.works.iter().map(|w| w.size).sum();
    let polls: usize = plan.polls.iter().map(|(w, _)| w.files.len()).sum();
    let t = &ctx.tally;
    let reused = Tally::get(&t.optimized);
    println!(
        "would optimize {} file(s), {}:",
        files as u64 + reused + polls as u64,
        human_bytes(bytes)
    );
    match config.backend {
        BackendKind::Shortpixel => println!(
            "  {} upload(s) to ShortPixel ({} file(s), {}); copies of one image are sent once",
            plan.works.len(),
            files,
            human_bytes(bytes)
        ),
        BackendKind::Local => println!(
            "  {} image(s) for the built-in optimizer ({} file(s), {}), offline",
            plan.works.len(),
            files,
            human_bytes(bytes)
        ),
    }
    if let Some(note) = held_by_limits(&config, &ctx, plan.works.len())? {
        println!("  {note}");
    }
    let lines = [
        (reused, "from results already made or paid for (no upload)"),
        (
            polls as u64,
            "waiting for results ShortPixel is still processing (collected, not sent again)",
        ),
        (
            Tally::get(&t.already_optimal),
            "already known to be optimal (left as they are)",
        ),
        (
            Tally::get(&t.failed) + Tally::get(&t.skipped),
            "already known to fail or be skipped",
        ),
        (
            gone as u64,
            "gone from a mirrored folder (their mirror copies would be removed)",
        ),
    ];
    for (n, what) in lines.into_iter().filter(|(n, _)| *n > 0) {
        println!("  {n} file(s) {what}");
    }
    println!("to do it: {}", hint::command("run --once"));
    Ok(0)
}

/// What `[limits]` would hold back now of `works` images, read from the ledger's copy.
fn held_by_limits(config: &Config, ctx: &Ctx, works: usize) -> anyhow::Result<Option<String>> {
    let now = crate::clock::now();
    if config.backend == BackendKind::Local {
        return Ok(crate::limits::local(&config.limits, &now)
            .map(|hold| format!("none of them would be optimized now: {hold}")));
    }
    let spend = &ctx.shared.limits.spend;
    let month = now.month_key();
    spend.load(&month, ctx.ledger().credits_used(&month)?);
    Ok(match crate::limits::uploads(&config.limits, spend, &now) {
        Err(hold) => Some(format!("none of them would be sent now: {hold}")),
        Ok(Some(room)) if room < works as u64 => Some(format!(
            "only {room} of them would be sent now: the monthly credit budget has {room} credit(s) left"
        )),
        Ok(_) => None,
    })
}

/// A consistent copy of the ledger at `copy`; false when there is no ledger yet.
/// Read-only: the ledger itself is never written.
fn snapshot(ledger: &Path, copy: &Path) -> anyhow::Result<bool> {
    if !ledger.exists() {
        return Ok(false);
    }
    let conn = Connection::open_with_flags(
        ledger,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("while opening the ledger {} to read it", ledger.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    let target = copy
        .to_str()
        .context("the temporary folder's path is not UTF-8")?;
    conn.execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("while copying the ledger {}", ledger.display()))?;
    Ok(true)
}
