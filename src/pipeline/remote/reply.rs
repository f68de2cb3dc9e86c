//! What the flow does with each answer, and the one retry budget.
//!
//! Every retry goes through [`Flow::try_again`], whose [`NextTry`] says what the next try
//! does: `PollTheJob` asks about a recorded job again (free), `UploadAgain` sends the file
//! again (a new job: it may cost a credit), `UploadWhenCreditsReturn` sends it once credits
//! are back (the service refused it, so it made no job). All spend the same budget of
//! `max_retries` tries; past it the files are marked failed with the reason, and the next
//! run starts over — by polling, when the job is still recorded. A whole request that
//! failed is not counted against its works when nothing could have reached the service, and
//! a failed poll never is (its jobs are asked about again until `pending_wait`).

use std::time::Instant;

use super::answer::{answer, Answer};
use super::download::Delivery;
use super::send::{NotSent, Outcome};
use super::{pause, Credits, Flow, Job, Work};
use crate::ledger::Outcome as Verdict;
use crate::optimize::shortpixel::{wire::Item, ApiError};
use crate::pipeline::{apply, Fatal};

/// How long a new job waits for others to share its first poll.
const GATHER: std::time::Duration = std::time::Duration::from_millis(200);

/// What the next try of a work does.
#[derive(Debug)]
pub(super) enum NextTry {
    /// Ask about the recorded job at this OriginalURL again: free.
    PollTheJob(String),
    /// Send the file again: a new job, which may cost a credit.
    UploadAgain,
    /// Send the file again once credits are back (uploads are paused meanwhile): the
    /// service refused it for credits, so it made no job.
    UploadWhenCreditsReturn,
}

impl Flow {
    /// The one retry budget (see the module doc). `maintenance` waits longer.
    pub(super) async fn try_again(
        &mut self,
        mut work: Work,
        next: NextTry,
        why: &str,
        maintenance: bool,
    ) -> anyhow::Result<()> {
        work.attempts += 1;
        if work.attempts > self.r.net.max_retries {
            let why = format!("gave up after {} tries: {why}", work.attempts);
            return self
                .r
                .blocking(move |ctx| apply::fail(ctx, &work, &why))
                .await;
        }
        let at = Instant::now() + pause(&self.r.net, work.attempts, maintenance);
        let path = work.files.first().map(|f| f.path.display().to_string());
        match next {
            NextTry::UploadWhenCreditsReturn => self.queue.push_back((work, Instant::now())),
            NextTry::PollTheJob(url) => {
                tracing::warn!("{}: {why}; asking again", path.unwrap_or_default());
                let due = at.max(Instant::now() + self.r.net.poll_interval);
                self.jobs.push(Job { work, url, due });
            }
            NextTry::UploadAgain => {
                tracing::warn!("{}: {why}; sending it again", path.unwrap_or_default());
                self.queue.push_back((work, at));
            }
        }
        Ok(())
    }

    /// Acts on one work's answer. `polled`: the job the answer is about, when it answers a
    /// poll.
    pub(super) async fn on_answer(
        &mut self,
        work: Work,
        answer: Answer,
        polled: Option<String>,
    ) -> anyhow::Result<()> {
        match answer {
            Answer::Ready { url, sel } => self.deliver(work, url, sel),
            Answer::Pending { url } => {
                // After an upload, a short pause gathers the jobs of the uploads around it
                // into one poll; the poll's `wait` does the rest of the waiting.
                let pause = match polled {
                    Some(_) => self.r.net.poll_interval,
                    None => GATHER.min(self.r.net.poll_interval),
                };
                self.jobs.push(Job {
                    work,
                    url,
                    due: Instant::now() + pause,
                });
            }
            Answer::PollAgain(why) => match polled {
                Some(url) => {
                    self.try_again(work, NextTry::PollTheJob(url), &why, false)
                        .await?
                }
                None => {
                    self.try_again(work, NextTry::UploadAgain, &why, false)
                        .await?
                }
            },
            Answer::UploadAgain(why) => {
                if polled.is_some() {
                    let (hash, profile) = (work.hash.clone(), work.profile.clone());
                    self.r
                        .blocking(move |ctx| Ok(ctx.ledger().delete_job(&hash, &profile)?))
                        .await?;
                    tracing::info!(
                        "{}: {why}; uploading it again",
                        work.files[0].path.display()
                    );
                }
                self.try_again(work, NextTry::UploadAgain, &why, false)
                    .await?;
            }
            Answer::Refused(why) => {
                self.r
                    .blocking(move |ctx| apply::verdict(ctx, &work, Verdict::Failed, &why))
                    .await?
            }
            Answer::OutOfCredits(why) => self.out_of_credits(work, polled, &why).await?,
            Answer::InvalidKey(why) => {
                self.halt.get_or_insert(Fatal::InvalidKey(why));
                match polled {
                    Some(url) => self.jobs.push(Job {
                        work,
                        url,
                        due: Instant::now(),
                    }),
                    None => self.left.push(work),
                }
            }
        }
        Ok(())
    }

    /// Credits ran out: every upload pauses while one task watches api-status. The try
    /// counts, so that a file larger than the credits left (-301) cannot loop forever.
    async fn out_of_credits(
        &mut self,
        work: Work,
        polled: Option<String>,
        why: &str,
    ) -> anyhow::Result<()> {
        match polled {
            // A job already paid for: ask again later.
            Some(url) => {
                self.try_again(work, NextTry::PollTheJob(url), why, false)
                    .await?
            }
            None => {
                self.try_again(work, NextTry::UploadWhenCreditsReturn, why, false)
                    .await?
            }
        }
        if self.credits == Credits::Fine && self.halt.is_none() {
            tracing::warn!("{why}: uploads paused, checking api-status");
            self.credits = Credits::Checking;
            let r = self.r.clone();
            self.tasks.spawn(super::credits::watch(r));
        }
        Ok(())
    }

    pub(super) fn on_credits(&mut self, back: Result<bool, ApiError>) -> anyhow::Result<()> {
        self.credits = Credits::Fine;
        match back {
            Ok(true) => {}
            Ok(false) => {
                self.halt.get_or_insert(Fatal::NoCredits(
                    "out of ShortPixel credits; uploads are paused until credits are added (api-status still shows none left)".into(),
                ));
            }
            Err(e) => {
                self.halt.get_or_insert(Fatal::InvalidKey(e.to_string()));
            }
        }
        Ok(())
    }

    /// An upload ended: the budget is released, then each work goes where its answer says.
    pub(super) async fn on_sent(&mut self, outcome: Outcome) -> anyhow::Result<()> {
        let Outcome {
            works,
            files,
            result,
        } = outcome;
        match result {
            Ok(sent) => {
                self.unrecorded.release(files, sent.took);
                for (work, item) in works.into_iter().zip(sent.items) {
                    let settings = self.r.settings(&work).clone();
                    let a = answer(item.as_ref(), None, &settings, work.size);
                    self.on_answer(work, a, None).await?;
                }
            }
            Err(NotSent::Ledger(e)) => return Err(e),
            Err(NotSent::Changed { index }) => {
                self.unrecorded.release(files, None);
                for (i, mut work) in works.into_iter().enumerate() {
                    if i == index {
                        let changed = Work {
                            files: vec![work.files.remove(0)],
                            ..work.clone()
                        };
                        self.r
                            .blocking(move |ctx| apply::changed_all(ctx, &changed))
                            .await?;
                        if work.files.is_empty() {
                            continue;
                        }
                    }
                    // Nothing reached the service whole: sending again is free.
                    self.queue.push_back((work, Instant::now()));
                }
            }
            Err(NotSent::Failed { error, body_sent }) => {
                self.unrecorded.release(files, None);
                for work in works {
                    self.upload_failed(work, &error, body_sent).await?;
                }
            }
        }
        Ok(())
    }

    /// A whole upload request (or request by URL) failed: decide for one of its works.
    pub(super) async fn upload_failed(
        &mut self,
        work: Work,
        e: &ApiError,
        body_sent: bool,
    ) -> anyhow::Result<()> {
        match e {
            ApiError::OutOfCredits(m) => self.out_of_credits(work, None, m).await,
            ApiError::InvalidKey(_) => {
                self.halt.get_or_insert(Fatal::InvalidKey(e.to_string()));
                self.left.push(work);
                Ok(())
            }
            e if e.is_transient() => {
                let why = if body_sent {
                    format!("{e} (the service may have received it)")
                } else {
                    e.to_string()
                };
                self.try_again(work, NextTry::UploadAgain, &why, e.is_maintenance())
                    .await
            }
            e => {
                let why = format!("could not send to ShortPixel: {e}");
                self.r
                    .blocking(move |ctx| apply::fail(ctx, &work, &why))
                    .await
            }
        }
    }

    /// A poll ended. A failed request costs nothing: its jobs are asked about again after a
    /// pause, until `pending_wait` (a network that comes back finds them all recorded).
    pub(super) async fn on_polled(
        &mut self,
        jobs: Vec<Job>,
        out: Result<Vec<Item>, ApiError>,
    ) -> anyhow::Result<()> {
        match out {
            Ok(items) => {
                for job in jobs {
                    // Only the OriginalURL identifies a polled job: a guess by position could
                    // put one photo's result on another.
                    let item = items
                        .iter()
                        .find(|it| it.original_url.as_deref() == Some(job.url.as_str()));
                    let settings = self.r.settings(&job.work).clone();
                    let a = answer(item, Some(&job.url), &settings, job.work.size);
                    self.on_answer(job.work, a, Some(job.url)).await?;
                }
            }
            Err(ApiError::InvalidKey(m)) => {
                self.halt
                    .get_or_insert(Fatal::InvalidKey(ApiError::InvalidKey(m).to_string()));
                self.jobs.extend(jobs);
            }
            Err(e) if e.is_transient() || matches!(e, ApiError::OutOfCredits(_)) => {
                if !self.stopping {
                    tracing::warn!("poll failed: {e}; asking again later");
                }
                let at = Instant::now()
                    + pause(&self.r.net, 1, e.is_maintenance()).max(self.r.net.poll_interval);
                self.jobs
                    .extend(jobs.into_iter().map(|j| Job { due: at, ..j }));
            }
            Err(e) => {
                let why = format!("could not ask ShortPixel about the result: {e}");
                for job in jobs {
                    self.try_again(job.work, NextTry::PollTheJob(job.url), &why, false)
                        .await?;
                }
            }
        }
        Ok(())
    }

    pub(super) async fn on_delivered(
        &mut self,
        work: Work,
        url: String,
        delivery: Delivery,
    ) -> anyhow::Result<()> {
        match delivery {
            Delivery::Done => Ok(()),
            // Fresh links come from asking about the job again: no new upload.
            Delivery::Expired => {
                let why = "the download link expired";
                self.try_again(work, NextTry::PollTheJob(url), why, false)
                    .await
            }
            Delivery::Rejected(why) => {
                // The job stays recorded: the next run fetches it again, without paying.
                let why = format!("result rejected: {why}");
                self.r
                    .blocking(move |ctx| apply::fail(ctx, &work, &why))
                    .await
            }
        }
    }
}
