//! Deciding what each scanned file needs, without sending anything. This is where G4 and
//! G5 are kept: content the agent wrote is recognised by hash and left alone; content whose
//! result is known is served from that result; content with a remote job still pending is
//! polled, never uploaded again.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::{apply, Ctx, Work};
use crate::content::Format;
use crate::ledger::{FileRow, Job, Outcome, State};

/// What remains to be done after the plan.
#[derive(Debug, Default)]
pub struct Plan {
    /// Contents to optimize (upload, or compute locally).
    pub works: Vec<Work>,
    /// Contents with a job pending at ShortPixel, and the job.
    pub polls: Vec<(Work, Job)>,
    /// Files whose content another batch is working on: to be planned again after it.
    pub deferred: Vec<std::path::PathBuf>,
    /// Rows that turned out to need nothing (a verdict already known for their content).
    pub passed: usize,
}

/// Plans the scanned rows of each folder (`rows[i]` belongs to folder `i`).
pub fn plan(ctx: &Ctx, rows: Vec<(usize, Vec<FileRow>)>) -> anyhow::Result<Plan> {
    let backend = ctx.config.backend;
    let mut groups: BTreeMap<(String, String), Work> = BTreeMap::new();
    let mut passed = 0;
    for (folder_idx, files) in rows {
        let profile = ctx.folder(folder_idx).settings.profile(backend);
        for row in files {
            if !needs_work(ctx, &row, &profile)? {
                passed += 1;
                continue;
            }
            let Some(format) = row.format.as_deref().and_then(Format::parse) else {
                passed += 1;
                continue;
            };
            let key = (row.hash.clone(), profile.clone());
            groups
                .entry(key)
                .or_insert_with(|| Work {
                    hash: row.hash.clone(),
                    profile: profile.clone(),
                    format,
                    size: row.stat.size,
                    folder: folder_idx,
                    files: Vec::new(),
                    attempts: 0,
                })
                .files
                .push(row);
        }
    }

    let mut plan = Plan {
        passed,
        ..Plan::default()
    };
    for (_, work) in groups {
        if !ctx.claim(&work.hash, &work.profile) {
            plan.deferred.extend(work.paths());
            continue;
        }
        if settle_from_ledger(ctx, &work)? {
            continue;
        }
        let job = ctx.ledger().job(&work.hash, &work.profile)?;
        match job {
            Some(job) => {
                ctx.ledger()
                    .set_states(&work.paths(), State::Pending, None)?;
                plan.polls.push((work, job));
            }
            None => {
                ctx.ledger()
                    .set_states(&work.paths(), State::Queued, None)?;
                plan.works.push(work);
            }
        }
    }
    Ok(plan)
}

/// Whether a file's recorded state calls for work at all.
fn needs_work(ctx: &Ctx, row: &FileRow, profile: &str) -> anyhow::Result<bool> {
    Ok(match row.state {
        State::Optimized | State::Restored | State::Skipped => false,
        State::Failed if row.hash.is_empty() => false,
        State::Failed => {
            // Permanent verdicts on this content are not retried until it changes.
            let verdict = ctx.ledger().result(&row.hash, profile)?;
            !matches!(
                verdict.map(|r| r.outcome),
                Some(Outcome::Failed | Outcome::Unsupported)
            )
        }
        State::New | State::Queued | State::Uploading | State::Pending => true,
    })
}

/// Settles a work from what the ledger already knows; true when nothing is left to do.
fn settle_from_ledger(ctx: &Ctx, work: &Work) -> anyhow::Result<bool> {
    // Bytes the agent wrote itself (renamed, moved or copied results): never again (G4, G5).
    let output = ctx.ledger().output(&work.hash)?;
    if let Some(out) = output {
        let ledger = ctx.ledger();
        for f in &work.files {
            ledger.set_content(
                &f.path,
                f.stat,
                &f.hash,
                State::Optimized,
                Some(&out.orig_hash),
                Some(out.orig_size),
                Some(f.stat.size),
            )?;
        }
        tracing::info!(
            "{} file(s) already optimized by the agent (recognised by content)",
            work.files.len()
        );
        return Ok(true);
    }
    let known = ctx.ledger().result(&work.hash, &work.profile)?;
    let Some(result) = known else {
        return Ok(false);
    };
    match result.outcome {
        Outcome::Optimized => {
            let Some(opt_hash) = result.opt_hash.as_deref() else {
                return Ok(false);
            };
            // The kept copy first (verified on read), else any tracked file holding it.
            let bytes = match ctx.backups.read(opt_hash) {
                Ok(b) => Some(b),
                Err(_) => ctx
                    .ledger()
                    .path_with_hash(opt_hash)?
                    .and_then(|p| crate::open::read_regular(&p).ok())
                    .map(|(b, _)| b)
                    .filter(|b| crate::content::hash_bytes(b) == opt_hash),
            };
            match bytes {
                Some(b) => {
                    tracing::info!(
                        "reusing the known result for {} copy(ies)",
                        work.files.len()
                    );
                    apply::apply(
                        ctx,
                        work,
                        &crate::optimize::Delivered {
                            main: Some(b),
                            extras: vec![],
                        },
                    )?;
                    Ok(true)
                }
                // The result is nowhere on disk any more; it has to be made again.
                None => Ok(false),
            }
        }
        Outcome::AlreadyOptimal => {
            apply::apply(
                ctx,
                work,
                &crate::optimize::Delivered {
                    main: None,
                    extras: vec![],
                },
            )?;
            Ok(true)
        }
        Outcome::Failed | Outcome::Unsupported => {
            let state = if result.outcome == Outcome::Failed {
                State::Failed
            } else {
                State::Skipped
            };
            ctx.ledger()
                .set_states(&work.paths(), state, result.reason.as_deref())?;
            let counter = if state == State::Failed {
                &ctx.tally.failed
            } else {
                &ctx.tally.skipped
            };
            counter.fetch_add(work.files.len() as u64, Ordering::Relaxed);
            Ok(true)
        }
    }
}
