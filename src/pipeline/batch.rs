//! One batch: scan part of the tree, follow what vanished, plan, process. `run --once` is one
//! batch over every folder; the daemon runs a batch per set of settled changes, per
//! reconcile, and per re-poll of pending results.
//!
//! Scans use their own ledger connection, so hashing a big folder never holds the shared
//! ledger lock that uploads in flight need to record their jobs.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::{follow, BatchError, Ctx};
use crate::ledger::{FileRow, Ledger};
use crate::scan::{self, Leftovers};

/// What a batch looks at.
#[derive(Debug, Clone)]
pub enum Scope {
    /// Whole folders (by index), walked from their roots.
    Folders(Vec<usize>, Leftovers),
    /// Some paths of one folder: files, folders, or paths that are gone.
    Paths(usize, Vec<PathBuf>),
}

/// What the caller needs to know when a batch ends (the counts are in `ctx.tally`).
#[derive(Debug)]
pub struct BatchEnd {
    /// Files whose content another batch was working on: to be looked at again.
    pub deferred: Vec<PathBuf>,
}

/// Runs one batch. A [`BatchError::Fatal`] stops (or pauses) the agent; the counts of what
/// was done before are in `ctx.tally` either way.
pub async fn run(ctx: Arc<Ctx>, scope: Scope) -> Result<BatchEnd, BatchError> {
    let config = ctx.config.clone();
    let scanned = tokio::task::spawn_blocking(move || scan(&config, scope))
        .await
        .map_err(anyhow::Error::from)??;
    let Scanned {
        roots,
        skip,
        gone,
        changing,
        skipped,
    } = scanned;
    // Not images: recorded by the scan, counted in the summary like files processing skips.
    super::Tally::add(&ctx.tally.skipped, skipped as u64);
    let todo = {
        let ctx = ctx.clone();
        let roots = roots.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            follow::gone(&ctx, &gone)?;
            let ledger = ctx.ledger();
            let mut n = 0;
            for (_, root) in &roots {
                n += ledger.work_under_count(root)?;
            }
            Ok(n)
        })
        .await
        .map_err(anyhow::Error::from)??
    };
    let mut end = BatchEnd { deferred: changing };
    ctx.tally.expect(todo);
    if todo > 0 {
        tracing::info!("{todo} file(s) to optimize");
    }
    // The work flows from the ledger a page at a time: planned, processed, then the next.
    // A content met again on a later page finds the earlier page's result (or its pending
    // job) in the ledger, so it is never paid for twice (G4).
    let few = todo <= 4 * PAGE as u64;
    for (folder, root) in roots {
        let mut after = Vec::new();
        while !ctx.stopping() {
            let (plan, last, full) = {
                let (ctx, root, skip) = (ctx.clone(), root.clone(), skip.clone());
                tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                    let rows = ctx.ledger().work_under_page(&root, &after, PAGE, few)?;
                    let full = rows.len() == PAGE;
                    let last = rows.last().map(|r| crate::names::bytes(&r.path).to_vec());
                    let rows: Vec<FileRow> = rows
                        .into_iter()
                        .filter(|r| !skip.iter().any(|s| r.path.starts_with(s)))
                        .collect();
                    Ok((super::plan(&ctx, vec![(folder, rows)])?, last, full))
                })
                .await
                .map_err(anyhow::Error::from)??
            };
            ctx.tally
                .unexpect((plan.deferred.len() + plan.passed) as u64);
            end.deferred.extend(plan.deferred.iter().cloned());
            super::process(ctx.clone(), plan).await?;
            ctx.release_claims();
            match last {
                Some(l) if full => after = l,
                _ => break,
            }
        }
    }
    end.deferred.extend(ctx.take_again());
    if !ctx.tally.is_empty() {
        // The dashboard's chart: a point per folder whose totals changed.
        if let Err(e) = ctx.ledger().record_history(crate::ledger::now()) {
            tracing::warn!("cannot record the saving over time: {e}");
        }
    }
    Ok(end)
}

/// Rows planned and processed at once: bounds a batch's memory whatever the folder's size,
/// and is big enough that each page keeps every transfer slot and core busy.
const PAGE: usize = 2048;

/// What a scan leaves for the batch: the roots to read work from (per folder), paths whose
/// rows must not be worked on (unreadable folders, files still being written), the rows of
/// files that are gone, and the files still being written.
struct Scanned {
    roots: Vec<(usize, PathBuf)>,
    skip: Arc<Vec<PathBuf>>,
    gone: Vec<FileRow>,
    changing: Vec<PathBuf>,
    /// New contents the scan recorded as skipped.
    skipped: usize,
}

fn scan(config: &crate::config::Config, scope: Scope) -> anyhow::Result<Scanned> {
    let mut ledger = Ledger::open(&config.ledger)?;
    let mut roots = Vec::new();
    let mut skip = Vec::new();
    let mut gone = Vec::new();
    let mut changing = Vec::new();
    let mut skipped = 0;
    // A whole-folder scan always says what it found; the daemon's small scans only when
    // something changed.
    let whole = matches!(scope, Scope::Folders(..));
    let mut one = |i: usize, report: scan::ScanReport| {
        for p in &report.problems {
            tracing::warn!("{p}");
        }
        if whole || report.hashed > 0 || !report.forgotten.is_empty() {
            tracing::info!(
                "{}: {} new or changed, {} gone, {} unchanged",
                config.folders[i].path.display(),
                report.hashed,
                report.forgotten.len(),
                report.unchanged
            );
        }
        gone.extend(report.forgotten);
        skipped += report.skipped;
        if !report.changing.is_empty() {
            tracing::info!(
                "{} file(s) were still changing while being read (a copy in progress?); they are left as they are and looked at again once quiet (by the daemon, or by the next run)",
                report.changing.len()
            );
        }
        skip.extend(report.unreadable);
        skip.extend(report.changing.iter().cloned());
        changing.extend(report.changing);
        roots.extend(report.roots.into_iter().map(|r| (i, r)));
    };
    match scope {
        Scope::Folders(folders, leftovers) => {
            for i in folders {
                let folder = &config.folders[i];
                let report = scan::scan_folder(&mut ledger, folder, leftovers)
                    .with_context(|| format!("while scanning {}", folder.path.display()))?;
                if leftovers == Leftovers::Remove {
                    follow::remove_mirror_leftovers(folder);
                }
                one(i, report);
            }
            // After a whole walk: what nothing needs any more leaves the ledger.
            let c = ledger.compact(crate::ledger::now())?;
            if c != crate::ledger::Compacted::default() {
                tracing::debug!("ledger compacted: {c:?}");
            }
        }
        Scope::Paths(i, paths) => {
            let folder = &config.folders[i];
            let report = scan::scan_paths(&mut ledger, folder, &paths)
                .with_context(|| format!("while scanning {}", folder.path.display()))?;
            one(i, report);
        }
    }
    Ok(Scanned {
        roots,
        skip: Arc::new(skip),
        gone,
        changing,
        skipped,
    })
}
