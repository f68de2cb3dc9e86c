//! Sending by URL, the sibling of `send.rs`: a work of a folder with a `public_url` goes to
//! `reducer.php` as its file's URL, ShortPixel fetches the image from the web server, and
//! nothing is uploaded. The same discipline as uploads:
//! - the reply's jobs are recorded in one transaction before anything else (`record`), with
//!   the content ShortPixel fetched at each URL; a recorded job is asked about again through
//!   its URL without `refresh` (`poll.rs`), never sent again (G4);
//! - `refresh = 1`, which fetches and charges again, goes only with a URL whose content
//!   changed since ShortPixel last fetched it (`Ledger::needs_refresh`);
//! - the result goes the way of an upload's: polled, downloaded, verified (G6), applied (G3).
//!
//! Trust but verify: the file is hashed just before asking (its bytes are what the ledger
//! says) and its stat compared when the reply comes (G3); a job is recorded only for as many
//! bytes as the file holds (`url_reply.rs` reads each item). Other bytes at the URL, a URL
//! ShortPixel cannot fetch, bytes it refused: that file is uploaded instead, with the reason
//! said — for an unreachable URL once per folder, not once per file.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::answer::answer;
use super::url_reply::{judge, size_tells_content, Reply};
use super::{Flow, Remote, Work};
use crate::ledger::{Job, Stat, State};
use crate::optimize::shortpixel::wire::Item;
use crate::pipeline::{apply, Ctx};

/// How a request (or the two requests: `refresh` is per request) ended.
pub(super) struct Outcome {
    pub works: Vec<Work>,
    /// Files taken from the unrecorded budget.
    pub files: usize,
    /// One reply per work; an error: the ledger failed, nothing more can be recorded.
    pub result: anyhow::Result<Vec<Reply>>,
    pub took: Option<Duration>,
}

/// A work ready to be asked for by URL.
struct Asking {
    work: Work,
    url: String,
    refresh: bool,
    /// The stat of `work.files[0]` when it was hashed.
    stat: Stat,
}

impl Flow {
    /// Splits works ready to go into (by URL, to upload): by URL when their folder has a
    /// `public_url`, their format lets the reply be checked, and no earlier answer sent them
    /// to uploads.
    pub(super) fn route(&self, batch: Vec<Work>) -> (Vec<Work>, Vec<Work>) {
        batch.into_iter().partition(|w| {
            size_tells_content(w.format)
                && !self
                    .upload_instead
                    .contains(&(w.hash.clone(), w.profile.clone()))
                && w.files
                    .first()
                    .and_then(|f| url_of(&self.r.ctx, w.folder, &f.path))
                    .is_some()
        })
    }

    /// A request by URL ended: the budget is released, then each work goes where its reply
    /// says.
    pub(super) async fn on_sent_by_url(&mut self, outcome: Outcome) -> anyhow::Result<()> {
        let Outcome {
            works,
            files,
            result,
            took,
        } = outcome;
        let replies = result?;
        self.unrecorded.release(files, took);
        for (mut work, reply) in works.into_iter().zip(replies) {
            let settings = self.r.settings(&work).clone();
            match reply {
                Reply::Recorded(item) => {
                    if let Some(url) = &item.original_url {
                        self.url_jobs.insert(url.clone());
                    }
                    let a = answer(Some(&item), None, &settings, work.size);
                    self.on_answer(work, a, None).await?;
                }
                Reply::Answer(item) => {
                    let a = answer(item.as_ref(), None, &settings, work.size);
                    self.on_answer(work, a, None).await?;
                }
                Reply::UploadInstead { why, unreachable } => {
                    if unreachable {
                        self.unreachable(&work, &why);
                        tracing::debug!(
                            "{}: {why}; uploading it instead",
                            work.files[0].path.display()
                        );
                    } else {
                        tracing::warn!("{why}; uploading it instead");
                    }
                    self.upload_instead
                        .insert((work.hash.clone(), work.profile.clone()));
                    self.queue.push_back((work, Instant::now()));
                }
                Reply::Changed => {
                    // That file was set aside; copies still holding the content go on.
                    work.files.remove(0);
                    if !work.files.is_empty() {
                        self.queue.push_back((work, Instant::now()));
                    }
                }
                Reply::Failed(e) => self.upload_failed(work, &e, true).await?,
            }
        }
        Ok(())
    }

    /// Says once per folder and batch that ShortPixel cannot fetch its images.
    fn unreachable(&self, work: &Work, why: &str) {
        let folder = self.r.ctx.folder(work.folder);
        let base = folder
            .public_url
            .as_ref()
            .map(|u| u.to_string())
            .unwrap_or_default();
        if self
            .r
            .ctx
            .first_time(&format!("unreachable {}", folder.path.display()))
        {
            tracing::warn!(
                "{}: ShortPixel cannot fetch this folder's images from its public_url {base} ({why}); they are uploaded instead — check that the web server publishes the folder there",
                folder.path.display()
            );
        }
    }
}

/// The public URL of `path`, a file of folder `folder`, when the folder has one.
fn url_of(ctx: &Ctx, folder: usize, path: &Path) -> Option<String> {
    let folder = ctx.folder(folder);
    folder.public_url.as_ref()?.url_of(&folder.path, path)
}

/// Asks ShortPixel for `works` by URL (one request per `refresh` value) and records the
/// reply's jobs.
pub(super) async fn send(r: Arc<Remote>, works: Vec<Work>) -> Outcome {
    let files = works.len();
    let failed = |e| Outcome {
        works: Vec::new(),
        files,
        result: Err(e),
        took: None,
    };
    let asking = match r.blocking(move |ctx| prepare(ctx, works)).await {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    crate::pipeline::Tally::add(&r.ctx.tally.uploads, asking.len() as u64);
    let (fresh, again): (Vec<Asking>, Vec<Asking>) = asking.into_iter().partition(|a| a.refresh);
    let (mut works, mut replies, mut took) = (Vec::new(), Vec::new(), None);
    for group in [again, fresh] {
        let Some(first) = group.first() else {
            continue;
        };
        let settings = r.settings(&first.work).clone();
        let refresh = first.refresh;
        let urls: Vec<String> = group.iter().map(|a| a.url.clone()).collect();
        let started = Instant::now();
        let reply = r.client.by_url(&urls, &settings, 0, refresh).await;
        took = took.max(Some(started.elapsed()));
        match reply {
            Ok(items) => match r.blocking(move |ctx| record(ctx, group, &items)).await {
                Ok(done) => {
                    for (w, reply) in done {
                        works.push(w);
                        replies.push(reply);
                    }
                }
                Err(e) => return failed(e),
            },
            Err(e) => {
                for a in group {
                    works.push(a.work);
                    replies.push(Reply::Failed(e.clone()));
                }
            }
        }
    }
    Outcome {
        works,
        files,
        result: Ok(replies),
        took,
    }
}

/// Finds, for each work, a file that still holds its content (hashed now: what ShortPixel
/// fetches must be what the ledger says), puts it first, and decides `refresh`. Works no
/// file holds any more are set aside as new; the others are marked `uploading`.
fn prepare(ctx: &Ctx, works: Vec<Work>) -> anyhow::Result<Vec<Asking>> {
    let mut out = Vec::new();
    let mut gone = Vec::new();
    for mut work in works {
        let found = work.files.iter().enumerate().find_map(|(i, f)| {
            let url = url_of(ctx, work.folder, &f.path)?;
            let (mut fd, meta) = crate::open::open_regular(&f.path).ok()?;
            let same = meta.len() == work.size
                && crate::open::hash_reader(&mut fd, meta.len()).ok()? == work.hash;
            same.then(|| (i, url, Stat::of(&meta)))
        });
        match found {
            Some((i, url, stat)) => {
                work.files.swap(0, i);
                let refresh = ctx.ledger().needs_refresh(&url, &work.hash)?;
                out.push(Asking {
                    work,
                    url,
                    refresh,
                    stat,
                });
            }
            None => gone.push(work),
        }
    }
    for work in &gone {
        apply::changed_all(ctx, work)?;
    }
    let sending: Vec<_> = out.iter().flat_map(|a| a.work.paths()).collect();
    ctx.ledger().set_states(&sending, State::Uploading, None)?;
    Ok(out)
}

/// Reads the reply for each work and records every job for the file's own bytes in one
/// transaction, before anything else; files that changed meanwhile are then set aside.
fn record(ctx: &Ctx, group: Vec<Asking>, items: &[Item]) -> anyhow::Result<Vec<(Work, Reply)>> {
    let mut jobs = Vec::new();
    let mut changed = Vec::new();
    let mut out = Vec::new();
    for a in group {
        let item = items
            .iter()
            .find(|it| it.original_url.as_deref() == Some(a.url.as_str()));
        let path = a.work.files[0].path.display().to_string();
        let mut reply = judge(item, &path, &a.url, a.work.size);
        if let Reply::Recorded(_) = reply {
            let now = std::fs::symlink_metadata(&a.work.files[0].path).map(|m| Stat::of(&m));
            if now.ok() == Some(a.stat) {
                let job = Job {
                    orig_hash: a.work.hash.clone(),
                    profile: a.work.profile.clone(),
                    original_url: a.url.clone(),
                    by_url: true,
                };
                jobs.push((job, a.work.paths()));
            } else {
                // The file changed after it was hashed: what was fetched may be the new
                // bytes, and its result must not be taken for the old ones (G3).
                changed.push(Work {
                    files: vec![a.work.files[0].clone()],
                    ..a.work.clone()
                });
                reply = Reply::Changed;
            }
        }
        out.push((a.work, reply));
    }
    if !jobs.is_empty() {
        ctx.ledger().record_jobs(&jobs)?;
    }
    for work in &changed {
        apply::changed_all(ctx, work)?;
    }
    Ok(out)
}
