//! One batch: scan part of the tree, follow what vanished, plan, process. `run --once` is one
//! batch over every folder; the daemon runs a batch per set of settled changes, per
//! reconcile, and per re-poll of pending results.
//!
//! Scans use their own ledger connection, so hashing a big folder never holds the shared
//! ledger lock that uploads in flight need to record their jobs.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use super::{follow, Ctx};
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

pub async fn run(ctx: Arc<Ctx>, scope: Scope) -> anyhow::Result<BatchEnd> {
    let config = ctx.config.clone();
    let (rows, gone, changing) =
        tokio::task::spawn_blocking(move || scan(&config, scope)).await??;
    let mut plan = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            follow::gone(&ctx, &gone)?;
            super::plan(&ctx, rows)
        })
        .await??
    };
    let mut end = BatchEnd {
        deferred: std::mem::take(&mut plan.deferred),
    };
    end.deferred.extend(changing);
    let todo: usize = plan
        .works
        .iter()
        .chain(plan.polls.iter().map(|(w, _)| w))
        .map(|w| w.files.len())
        .sum();
    ctx.tally.expect(todo as u64);
    if todo > 0 {
        tracing::info!("{todo} file(s) to optimize");
    }
    super::process(ctx.clone(), plan).await?;
    end.deferred.extend(ctx.take_again());
    Ok(end)
}

/// The rows to plan, per folder; the rows of files that are gone; files still being written.
type Scanned = (Vec<(usize, Vec<FileRow>)>, Vec<FileRow>, Vec<PathBuf>);

fn scan(config: &crate::config::Config, scope: Scope) -> anyhow::Result<Scanned> {
    let mut ledger = Ledger::open(&config.ledger)?;
    let mut rows = Vec::new();
    let mut gone = Vec::new();
    let mut changing = Vec::new();
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
        if !report.changing.is_empty() {
            tracing::info!(
                "{} file(s) were still changing while being read (a copy in progress?); they are left as they are and looked at again once quiet (by the daemon, or by the next run)",
                report.changing.len()
            );
        }
        changing.extend(report.changing);
        rows.push((i, report.files));
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
    Ok((rows, gone, changing))
}
