//! Running works through the built-in optimizer: `concurrency` images at a time, each on a
//! blocking thread so the async reactor never stalls on pixel work. Their results share
//! groups (`apply::apply_later`), all committed before `run` returns, even when it fails.
//! Inside quiet hours with `quiet_hours_local = false` no image starts: the rest stays
//! queued with the reason.

use std::sync::Arc;

use super::apply::{self, read_original, verdict};
use super::{budget, Ctx, Work};
use crate::config::{Compression, Convert};
use crate::content::Format;
use crate::ledger::Outcome;
use crate::optimize::local::{self, LocalError};
use crate::optimize::Delivered;
use crate::verify;

pub async fn run(ctx: Arc<Ctx>, works: Vec<Work>) -> anyhow::Result<()> {
    let pending = Arc::new(apply::Pending::default());
    let ran = optimize_all(&ctx, works, &pending).await;
    // What was optimized is put in place whatever ended the run.
    let finished = tokio::task::spawn_blocking(move || pending.finish(&ctx)).await?;
    ran.and(finished)
}

async fn optimize_all(
    ctx: &Arc<Ctx>,
    works: Vec<Work>,
    pending: &Arc<apply::Pending>,
) -> anyhow::Result<()> {
    let limit = Arc::new(tokio::sync::Semaphore::new(ctx.config.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let limits = &ctx.config.limits;
    let may_hold = limits.quiet_hours.is_some() && !limits.quiet_hours_local;
    let mut works = works.into_iter();
    while let Some(work) = works.next() {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => p?,
            _ = ctx.shared.stop.wait() => break,
        };
        if ctx.stopping() {
            break; // what is left stays queued for the next start
        }
        if let Some(hold) = may_hold
            .then(|| crate::limits::local(limits, &crate::clock::now()))
            .flatten()
        {
            let left: Vec<Work> = std::iter::once(work).chain(works).collect();
            let ctx = ctx.clone();
            tokio::task::spawn_blocking(move || held(&ctx, &left, &hold)).await??;
            break;
        }
        let (ctx, pending) = (ctx.clone(), pending.clone());
        tasks.spawn_blocking(move || {
            let _permit = permit;
            one(&ctx, &work, &pending)
        });
    }
    let mut first = Ok(());
    while let Some(done) = tasks.join_next().await {
        if let (Ok(()), Err(e)) = (&first, done.map_err(anyhow::Error::from).and_then(|r| r)) {
            first = Err(e);
        }
    }
    first
}

/// Leaves `works` queued with the reason `[limits]` hold them for.
fn held(ctx: &Ctx, works: &[Work], hold: &crate::limits::Hold) -> anyhow::Result<()> {
    let paths: Vec<_> = works.iter().flat_map(Work::paths).collect();
    let reason = hold.to_string();
    ctx.ledger()
        .set_states(&paths, crate::ledger::State::Queued, Some(&reason))?;
    super::Tally::add(&ctx.tally.held, paths.len() as u64);
    tracing::info!("{} file(s) not optimized now: {reason}", paths.len());
    Ok(())
}

fn one(ctx: &Ctx, work: &Work, pending: &apply::Pending) -> anyhow::Result<()> {
    let Some(original) = read_original(work) else {
        return apply::changed_all(ctx, work);
    };
    let settings = &ctx.folder(work.folder).settings;
    // Admitted by its size in memory, read from the header; a header that cannot be read
    // is refused by the optimizer itself, at no cost.
    let dims = verify::dimensions(&original, work.format).unwrap_or((0, 0));
    let _memory = ctx.shared.memory.take(budget::cost(
        dims,
        original.len() as u64,
        settings.compression != Compression::Lossless,
    ));
    // What the codecs log while they work is about this file.
    let about = work.files.first().map(|f| crate::logging::about(&f.path));
    let optimized = local::optimize(&original, work.format, settings);
    drop(about);
    match optimized {
        Ok(produced) => {
            // The optimizer may have turned the pixels upright (EXIF orientation), so the
            // dimensions to expect are the ones it encoded.
            let dims = Some(produced.dims);
            let main = match verify::check(&produced.main, work.format, dims, None, work.size) {
                Ok(()) => Some(produced.main),
                Err(verify::Rejection::NotSmaller { .. }) => None,
                Err(r) => {
                    return verdict(ctx, work, Outcome::Failed, &format!("result rejected: {r}"))
                }
            };
            let name = work.files.first().map(|f| f.path.display().to_string());
            for note in &produced.notes {
                tracing::info!("{}: {note}", name.as_deref().unwrap_or(&work.hash));
            }
            let extras = produced
                .extras
                .into_iter()
                .filter(|(kind, b)| {
                    let format = match kind {
                        Convert::Webp => Format::Webp,
                        Convert::Avif => Format::Avif,
                    };
                    verify::check_decodes(b, format, dims).is_ok()
                })
                .collect();
            apply::apply_later(ctx, work, &Delivered { main, extras }, pending)
        }
        Err(LocalError::Skip(why)) => verdict(ctx, work, Outcome::Unsupported, &why),
        Err(LocalError::Bad(why)) => verdict(ctx, work, Outcome::Failed, &why),
    }
}
