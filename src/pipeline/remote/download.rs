//! Fetching a finished job's results and checking them (G6) before they are applied.

use super::{Next, Remote};
use crate::config::{Compression, Convert, FolderSettings};
use crate::content::Format;
use crate::ledger::State;
use crate::optimize::shortpixel::{client::backoff, wire::Item, ApiError};
use crate::optimize::Delivered;
use crate::pipeline::apply::{self, fail, read_original};
use crate::pipeline::Work;
use crate::verify::{self, Rejection};

impl Remote {
    /// Downloads, verifies and applies a finished job.
    pub(super) async fn deliver(
        &self,
        work: Work,
        url: String,
        sel: Selection,
    ) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let Some(original) = read_original(&work) else {
            self.ctx
                .ledger()
                .set_states(&work.paths(), State::New, Some(apply::CHANGED))?;
            return Ok(next);
        };
        let settings = self.settings(&work);
        let dims = verify::dimensions(&original, work.format)
            .map(|d| verify::expected_dimensions(d, settings.resize));
        let main = match sel.main {
            None => None,
            Some((dl, size)) => match self.fetch(&dl, size, work.format, dims, work.size).await {
                Ok(bytes) => Some(bytes),
                Err(Fetch::NotSmaller) => None,
                Err(Fetch::Expired) => {
                    // Fresh links come from polling the job again (no new upload), but a
                    // service that keeps handing out dead links must not keep us forever.
                    let mut work = work;
                    work.attempts += 1;
                    if work.attempts > self.net.max_retries {
                        let why = format!(
                            "result rejected: the download link expired {} times in a row; the job is kept and retried next run",
                            work.attempts
                        );
                        fail(&self.ctx, &work, &why)?;
                    } else {
                        self.ctx
                            .ledger()
                            .set_states(&work.paths(), State::Pending, None)?;
                        next.pending.push((work, url));
                    }
                    return Ok(next);
                }
                Err(Fetch::Rejected(why)) => {
                    fail(&self.ctx, &work, &format!("result rejected: {why}"))?;
                    return Ok(next);
                }
            },
        };
        let mut extras = Vec::new();
        for (convert, dl, size) in sel.extras {
            let format = match convert {
                Convert::Webp => Format::Webp,
                Convert::Avif => Format::Avif,
            };
            match self.fetch(&dl, size, format, None, u64::MAX).await {
                Ok(bytes) => extras.push((convert, bytes)),
                Err(e) => tracing::warn!(
                    "{} {}: not saved: {e:?}",
                    work.files[0].path.display(),
                    format.as_str()
                ),
            }
        }
        let ctx = self.ctx.clone();
        let (hash, profile) = (work.hash.clone(), work.profile.clone());
        let applied = tokio::task::spawn_blocking(move || {
            apply::apply(&ctx, &work, &Delivered { main, extras })
        })
        .await??;
        if applied.durable() {
            self.ctx.ledger().delete_job(&hash, &profile)?;
        } else {
            // Neither kept nor in place (a full disk): the job stays, so the next run fetches
            // the paid result again instead of uploading again (G4).
            tracing::warn!(
                "the result is kept at ShortPixel for the next run: it could not be stored here"
            );
        }
        Ok(next)
    }

    /// Downloads one result and checks it, retrying transfer problems.
    pub(super) async fn fetch(
        &self,
        url: &str,
        size: u64,
        format: Format,
        dims: Option<(u32, u32)>,
        orig: u64,
    ) -> Result<Vec<u8>, Fetch> {
        let mut attempt = 0;
        loop {
            let why = match self.client.download(url).await {
                Ok(bytes) => match check_off_reactor(bytes, format, dims, size, orig).await {
                    (bytes, Ok(())) => return Ok(bytes),
                    (_, Err(Rejection::NotSmaller { .. })) => return Err(Fetch::NotSmaller),
                    (_, Err(r)) if r.is_transfer_problem() => r.to_string(),
                    (_, Err(r)) => return Err(Fetch::Rejected(r.to_string())),
                },
                Err(ApiError::Expired) => return Err(Fetch::Expired),
                Err(e) if e.is_transient() => e.to_string(),
                Err(e) => return Err(Fetch::Rejected(e.to_string())),
            };
            if attempt >= self.net.max_retries {
                return Err(Fetch::Rejected(why));
            }
            tracing::warn!("download: {why}; retrying");
            tokio::time::sleep(backoff(self.net.retry_base, attempt, false)).await;
            attempt += 1;
        }
    }
}

/// G6's check decodes the image: CPU work, so it runs on the blocking pool.
pub(super) async fn check_off_reactor(
    bytes: Vec<u8>,
    format: Format,
    dims: Option<(u32, u32)>,
    size: u64,
    orig: u64,
) -> (Vec<u8>, Result<(), Rejection>) {
    tokio::task::spawn_blocking(move || {
        let r = verify::check(&bytes, format, dims, Some(size), orig);
        (bytes, r)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

#[derive(Debug)]
pub(super) enum Fetch {
    NotSmaller,
    Expired,
    Rejected(String),
}

/// What to download for a finished item.
pub(super) struct Selection {
    /// `None`: the service could not make it smaller.
    main: Option<(String, u64)>,
    extras: Vec<(Convert, String, u64)>,
}

/// Picks the URLs the settings ask for; `None` when the item is not really finished (a
/// Code 2 with sizes missing, the "API waiting bug").
pub(super) fn select(item: &Item, s: &FolderSettings, orig_size: u64) -> Option<Selection> {
    let lossless = s.compression == Compression::Lossless;
    let pick = |lossy: (&Option<String>, Option<u64>),
                lossless_: (&Option<String>, Option<u64>)| {
        if lossless {
            (lossless_.0.clone(), lossless_.1)
        } else {
            (lossy.0.clone(), lossy.1)
        }
    };
    let (url, size) = pick(
        (&item.lossy_url, item.lossy_size),
        (&item.lossless_url, item.lossless_size),
    );
    let size = size.filter(|s| *s > 0)?;
    let url = url?;
    let not_smaller = item.percent == Some(0.0) || size >= orig_size;
    let mut extras = Vec::new();
    for c in &s.convert {
        let (u, sz) = match c {
            Convert::Webp => pick(
                (&item.webp_lossy_url, item.webp_lossy_size),
                (&item.webp_lossless_url, item.webp_lossless_size),
            ),
            Convert::Avif => pick(
                (&item.avif_lossy_url, item.avif_lossy_size),
                (&item.avif_lossless_url, item.avif_lossless_size),
            ),
        };
        match (u, sz.filter(|s| *s > 0)) {
            (Some(u), Some(sz)) => extras.push((*c, u, sz)),
            (Some(_), None) => return None,
            (None, _) => {} // the service made none (e.g. it would be bigger)
        }
    }
    Some(Selection {
        main: if not_smaller { None } else { Some((url, size)) },
        extras,
    })
}
