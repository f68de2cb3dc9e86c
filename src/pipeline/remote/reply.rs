//! What each answer means for a work (SPEC §4), and the one retry budget.
//!
//! [`answer`] reads one item of a reply — to an upload or to a poll — and says what it
//! means; it is pure, so every code's reaction is tested without a server. The flow then
//! acts on it. Every retry goes through [`Flow::try_again`], whose [`NextTry`] says what the
//! next try does: `PollTheJob` asks about a recorded job again (free), `UploadAgain` sends
//! the file again (a new job: it may cost a credit). Both spend the same budget of
//! `max_retries` tries; past it the files are marked failed with the reason, and the next
//! run starts over — by polling, when the job is still recorded.

use std::time::Instant;

use super::download::Delivery;
use super::send::{NotSent, Outcome};
use super::{pause, Credits, Flow, Job, Work};
use crate::config::{Compression, Convert, FolderSettings};
use crate::ledger::Outcome as Verdict;
use crate::optimize::shortpixel::{wire::Item, ApiError};
use crate::pipeline::{apply, Fatal};

/// How long a new job waits for others to share its first poll.
const GATHER: std::time::Duration = std::time::Duration::from_millis(200);

/// What to download for a finished item.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Selection {
    /// `None`: the service could not make it smaller.
    pub main: Option<(String, u64)>,
    pub extras: Vec<(Convert, String, u64)>,
}

/// What one item means for its work.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
    /// Finished: fetch these.
    Ready {
        url: String,
        sel: Selection,
    },
    /// Scheduled or still processing: ask again later.
    Pending {
        url: String,
    },
    /// Ask about the same job again: a passing problem with this answer.
    PollAgain(String),
    /// The service has no usable job for these bytes (it lost the job, got a damaged copy,
    /// said nothing of the file): only a new upload helps.
    UploadAgain(String),
    /// The image itself was refused: a verdict on the content.
    Refused(String),
    OutOfCredits(String),
    InvalidKey(String),
}

/// Reads `item` (`None`: the reply said nothing of this work) as the answer to an upload of
/// `size` bytes, or to a poll of the job `polled`.
pub(super) fn answer(
    item: Option<&Item>,
    polled: Option<&str>,
    settings: &FolderSettings,
    size: u64,
) -> Answer {
    // A hiccup: a poll asks again about the same job, never uploads (G4).
    let hiccup = |why: String| match polled {
        Some(_) => Answer::PollAgain(why),
        None => Answer::UploadAgain(why),
    };
    let Some(item) = item else {
        return hiccup("the service's answer said nothing of this file".into());
    };
    match item.code {
        1 | 2 => {
            let Some(url) = item.original_url.clone() else {
                return hiccup("the service's answer lacked the OriginalURL".into());
            };
            if let Some(got) = item.original_size.filter(|s| *s != size) {
                return Answer::UploadAgain(format!(
                    "the upload arrived damaged (the service received {got} of {size} bytes)"
                ));
            }
            match (item.code, select(item, settings, size)) {
                (2, Some(sel)) => Answer::Ready { url, sel },
                _ => Answer::Pending { url },
            }
        }
        code if code < 0 => match ApiError::from_code(code, &item.message) {
            e @ ApiError::FileRejected { .. } => Answer::Refused(e.to_string()),
            e @ ApiError::OutOfCredits(_) => Answer::OutOfCredits(e.to_string()),
            e @ ApiError::InvalidKey(_) => Answer::InvalidKey(e.to_string()),
            e @ ApiError::JobGone => Answer::UploadAgain(e.to_string()),
            e => hiccup(e.to_string()),
        },
        other => hiccup(format!("the service answered an unknown status {other}")),
    }
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

/// What the next try of a work does.
#[derive(Debug)]
pub(super) enum NextTry {
    /// Ask about the recorded job at this OriginalURL again: free.
    PollTheJob(String),
    /// Send the file again: a new job, which may cost a credit.
    UploadAgain,
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
        mut work: Work,
        polled: Option<String>,
        why: &str,
    ) -> anyhow::Result<()> {
        if let Some(url) = polled {
            // A job already paid for: ask again later.
            return self
                .try_again(work, NextTry::PollTheJob(url), why, false)
                .await;
        }
        work.attempts += 1;
        if work.attempts > self.r.net.max_retries {
            let why = format!("gave up after {} tries: {why}", work.attempts);
            return self
                .r
                .blocking(move |ctx| apply::fail(ctx, &work, &why))
                .await;
        }
        self.queue.push_back((work, Instant::now()));
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

    /// A whole upload request failed: decide for one of its works.
    async fn upload_failed(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(convert: Vec<Convert>, compression: Compression) -> FolderSettings {
        FolderSettings {
            compression,
            convert,
            keep_exif: false,
            resize: None,
        }
    }

    fn done(lossy: u64) -> Item {
        Item {
            code: 2,
            original_url: Some("http://sp/o1".into()),
            original_size: Some(1000),
            lossy_url: Some("http://sp/l".into()),
            lossless_url: Some("http://sp/ll".into()),
            lossy_size: Some(lossy),
            lossless_size: Some(900),
            webp_lossy_url: Some("http://sp/w".into()),
            webp_lossy_size: Some(300),
            percent: Some(60.0),
            ..Item::default()
        }
    }

    #[test]
    fn urls_are_chosen_by_compression_and_asked_extras() {
        let s = settings(vec![], Compression::Lossy);
        let sel = select(&done(400), &s, 1000).unwrap();
        assert_eq!(sel.main, Some(("http://sp/l".into(), 400)));
        assert!(sel.extras.is_empty(), "WebP not asked for");

        let s = settings(vec![Convert::Webp], Compression::Lossless);
        let sel = select(&done(400), &s, 1000).unwrap();
        assert_eq!(sel.main, Some(("http://sp/ll".into(), 900)));
        // Lossless WebP was not made: none to fetch, the main result still counts.
        assert!(sel.extras.is_empty());

        let s = settings(vec![Convert::Webp], Compression::Glossy);
        let sel = select(&done(400), &s, 1000).unwrap();
        assert_eq!(
            sel.extras,
            vec![(Convert::Webp, "http://sp/w".to_string(), 300)]
        );
    }

    #[test]
    fn a_result_not_smaller_is_not_fetched_and_missing_sizes_mean_not_done() {
        let s = settings(vec![], Compression::Lossy);
        assert_eq!(select(&done(1000), &s, 1000).unwrap().main, None);
        let mut zero = done(400);
        zero.percent = Some(0.0);
        assert_eq!(select(&zero, &s, 1000).unwrap().main, None);
        // The "API waiting bug": Code 2 without sizes is still pending.
        assert_eq!(select(&done(0), &s, 1000), None);
        let mut webp_unsized = done(400);
        webp_unsized.webp_lossy_size = None;
        let s = settings(vec![Convert::Webp], Compression::Lossy);
        assert_eq!(select(&webp_unsized, &s, 1000), None);
        assert!(matches!(
            answer(Some(&webp_unsized), Some("u"), &s, 1000),
            Answer::Pending { .. }
        ));
    }

    #[test]
    fn every_code_has_its_reaction_and_a_poll_never_uploads_on_a_hiccup() {
        let s = settings(vec![], Compression::Lossy);
        let coded = |code: i64| Item {
            code,
            message: "m".into(),
            original_url: Some("http://sp/o1".into()),
            ..Item::default()
        };
        let up = |it: &Item| answer(Some(it), None, &s, 1000);
        let poll = |it: &Item| answer(Some(it), Some("http://sp/o1"), &s, 1000);

        assert!(matches!(up(&done(400)), Answer::Ready { .. }));
        assert!(matches!(up(&coded(1)), Answer::Pending { .. }));
        for c in [-201, -202, -111] {
            assert!(matches!(poll(&coded(c)), Answer::Refused(_)), "{c}");
        }
        for c in [-403, -301] {
            assert!(matches!(up(&coded(c)), Answer::OutOfCredits(_)), "{c}");
        }
        assert!(matches!(poll(&coded(-401)), Answer::InvalidKey(_)));
        // -102 on a poll: the job is gone, only an upload helps.
        assert!(matches!(poll(&coded(-102)), Answer::UploadAgain(_)));
        // Passing trouble: a poll asks again, an upload sends again.
        for c in [-404, -500, -112, -303, -305, 7] {
            assert!(matches!(poll(&coded(c)), Answer::PollAgain(_)), "{c}");
            assert!(matches!(up(&coded(c)), Answer::UploadAgain(_)), "{c}");
        }
        assert!(matches!(
            answer(None, Some("http://sp/o1"), &s, 1000),
            Answer::PollAgain(_)
        ));
        let mut no_url = coded(1);
        no_url.original_url = None;
        assert!(matches!(poll(&no_url), Answer::PollAgain(_)));
        // The service holds a damaged copy: a new upload is the only fix.
        let mut damaged = coded(1);
        damaged.original_size = Some(999);
        assert!(matches!(poll(&damaged), Answer::UploadAgain(_)));
    }
}
