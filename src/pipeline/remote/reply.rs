//! What one answer means for a work: a job to remember and poll, a result to fetch, or a
//! failure to retry, pause on or record.

use std::sync::Arc;

use super::download::select;
use super::{Next, Remote};
use crate::ledger::{Job, Outcome, State};
use crate::optimize::shortpixel::{wire::Item, ApiError};
use crate::pipeline::apply::{fail, verdict};
use crate::pipeline::{Halt, Work};

impl Remote {
    /// Handles the items of one reply side by side, so that one file's downloads need not
    /// wait for another's. `None`: the reply said nothing of that work (`missing` says so).
    pub(super) async fn handle_all(
        self: &Arc<Self>,
        answers: Vec<(Work, Option<Item>, Option<String>)>,
        missing: &'static str,
    ) -> anyhow::Result<Next> {
        let mut tasks = tokio::task::JoinSet::new();
        for (work, item, polled) in answers {
            let me = self.clone();
            tasks.spawn(async move {
                match item {
                    Some(item) => me.handle_item(work, &item, polled).await,
                    None => me.hiccup(work, polled, missing),
                }
            });
        }
        let mut next = Next::default();
        while let Some(done) = tasks.join_next().await {
            next.merge(done??);
        }
        Ok(next)
    }

    /// What one item of a reply means for its work.
    /// `polled` is the OriginalURL when the item answers a poll: then a hiccup means "poll
    /// again", never "upload again" (that would pay twice, G4).
    pub(super) async fn handle_item(
        &self,
        work: Work,
        item: &Item,
        polled: Option<String>,
    ) -> anyhow::Result<Next> {
        let mut next = Next::default();
        match item.code {
            1 | 2 => {
                let Some(url) = item.original_url.clone() else {
                    return self.hiccup(
                        work,
                        polled,
                        "the service's answer lacked the OriginalURL",
                    );
                };
                if let Some(size) = item.original_size.filter(|s| *s != work.size) {
                    // The service holds a damaged copy: only a new upload can fix that.
                    self.ctx.ledger().delete_job(&work.hash, &work.profile)?;
                    let why = format!(
                        "the upload arrived damaged (the service received {size} of {} bytes)",
                        work.size
                    );
                    return self.transient(work, &why);
                }
                self.ctx.ledger().put_job(&Job {
                    orig_hash: work.hash.clone(),
                    profile: work.profile.clone(),
                    original_url: url.clone(),
                })?;
                let ready = if item.code == 2 {
                    select(item, self.settings(&work), work.size)
                } else {
                    None
                };
                match ready {
                    Some(sel) => return self.deliver(work, url, sel).await,
                    None => {
                        self.ctx
                            .ledger()
                            .set_states(&work.paths(), State::Pending, None)?;
                        next.pending.push((work, url));
                    }
                }
            }
            code if code < 0 => match ApiError::from_code(code, &item.message) {
                e @ ApiError::FileRejected { .. } => {
                    verdict(&self.ctx, &work, Outcome::Failed, &e.to_string())?
                }
                e @ ApiError::OutOfCredits(_) => return self.batch_error(work, &e).await,
                e @ ApiError::InvalidKey(_) => return self.batch_error(work, &e).await,
                ApiError::JobGone => {
                    self.ctx.ledger().delete_job(&work.hash, &work.profile)?;
                    tracing::info!(
                        "ShortPixel lost the job for {}; uploading it again",
                        work.files[0].path.display()
                    );
                    return self.transient(work, "the service lost the job");
                }
                e => return self.hiccup(work, polled, &e.to_string()),
            },
            other => {
                return self.hiccup(
                    work,
                    polled,
                    &format!("the service answered an unknown status {other}"),
                )
            }
        }
        Ok(next)
    }

    /// A passing problem with one item: poll again if it was a poll (the job stays in the
    /// ledger, so even giving up never leads to a second upload), else upload again.
    pub(super) fn hiccup(
        &self,
        work: Work,
        polled: Option<String>,
        why: &str,
    ) -> anyhow::Result<Next> {
        match polled {
            Some(url) => self.again(work, why, "polling again", |next, w| {
                next.pending.push((w, url))
            }),
            None => self.transient(work, why),
        }
    }

    /// A whole request failed: decide for one of its works.
    pub(super) async fn batch_error(&self, work: Work, e: &ApiError) -> anyhow::Result<Next> {
        let mut next = Next::default();
        match e {
            ApiError::OutOfCredits(_) => {
                // Counted like a retry: a file bigger than the credits left (-301) while
                // some credits remain must not loop forever.
                let mut work = work;
                work.attempts += 1;
                if work.attempts <= self.net.max_retries
                    && self.gate.wait(&self.client, &self.net).await
                {
                    next.requeue.push(work);
                } else {
                    self.ctx.tally.set_fatal(Halt::Credits, format!(
                        "{e}; uploads are paused until credits are added (api-status still shows none left)"
                    ));
                    next.left.push(work);
                }
            }
            ApiError::InvalidKey(_) => {
                self.ctx.tally.set_fatal(Halt::Key, e.to_string());
                next.left.push(work);
            }
            e => fail(
                &self.ctx,
                &work,
                &format!("could not send to ShortPixel: {e}"),
            )?,
        }
        Ok(next)
    }

    /// A per-file hiccup: send again later, a bounded number of times.
    pub(super) fn transient(&self, work: Work, why: &str) -> anyhow::Result<Next> {
        self.again(work, why, "trying again", |next, w| next.requeue.push(w))
    }

    /// Counts one more try of `work`: gives up with the reason after `max_retries`, else
    /// hands it to `retry` for the next round.
    pub(super) fn again(
        &self,
        mut work: Work,
        why: &str,
        doing: &str,
        retry: impl FnOnce(&mut Next, Work),
    ) -> anyhow::Result<Next> {
        let mut next = Next::default();
        work.attempts += 1;
        if work.attempts > self.net.max_retries {
            fail(
                &self.ctx,
                &work,
                &format!("gave up after {} tries: {why}", work.attempts),
            )?;
        } else {
            tracing::warn!("{}: {why}; {doing}", work.files[0].path.display());
            retry(&mut next, work);
        }
        Ok(next)
    }
}
