//! Running works through ShortPixel: **upload, record, then wait**.
//!
//! 1. *Upload* (`send.rs`): works go out in requests of one settings profile, streamed
//!    from disk, with `wait = 0`, so the service answers at once. The `concurrency` transfer
//!    slots are held while bytes move, never while the service works.
//! 2. *Record* (`send.rs`): the reply's OriginalURLs are written to the ledger in one
//!    transaction before anything else is done with them. From then on a crash costs no
//!    credit: the next start polls those jobs (G4). What a crash can still cost is the files
//!    whose bytes reached the service while their reply was not recorded yet; that set is
//!    kept as small as the round trip allows (`send::Unrecorded`).
//! 3. *Wait* (`poll.rs`): recorded jobs are asked about by OriginalURL, many per request,
//!    with a long `wait` so the service answers when they are done.
//!
//!    A folder with a `public_url` is sent by URL instead (`by_url.rs`): ShortPixel fetches
//!    each image from the web server, nothing is uploaded; the reply is checked against the
//!    local file (the size fetched) and recorded the same way, and what ShortPixel could not
//!    fetch, or fetched other bytes for, is uploaded instead.
//! 4. *Deliver* (`download.rs`): finished jobs are downloaded (never past their announced
//!    size), verified (G6, extras too) and applied in groups shared by the results (one
//!    flush per group, not per file: `apply::Pending`); a job is forgotten by the commit
//!    that makes its result durable (`apply::Applied::durable`), so a paid result is never
//!    dropped. What is waiting is committed as soon as fewer than [`COMMITS`] commits are
//!    under way (and when full, and when the flow ends): the groups size themselves to what
//!    arrives while the disk is busy, and no result waits for others that may never come.
//!
//! What each answer means is decided in one place (`answer.rs`), and so is every retry
//! (`reply.rs`):
//! [`Flow::try_again`] says whether the next try asks about the same job (free) or uploads
//! again (a new job, which may cost a credit). Credits running out pause every upload behind
//! one api-status watch (`credits.rs`). An invalid key, credits that do not return and a
//! failing ledger end the batch with a [`Fatal`] the daemon matches on.
//!
//! `[limits]` gate every upload in [`Flow::launch`]: inside quiet hours nothing is sent,
//! and a request never holds more files than the monthly credit budget has room for
//! (`crate::limits`). What they hold is left queued with the reason when the flow ends;
//! polls and downloads (already paid for) go on meanwhile.
//!
//! One task (`Flow::drive`) owns all the state; uploads, polls, downloads and the credit
//! watch run as tasks that report back as [`Event`]s. Ledger writes and file reads run on
//! the blocking pool.

mod answer;
mod by_url;
mod credits;
mod download;
mod poll;
mod reply;
mod send;
mod url_reply;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::apply::Pending;
use super::{BatchError, Ctx, Fatal, Tally, Work};
use crate::config::{FolderSettings, Network};
use crate::ledger::{self, State};
use crate::limits::Hold;
use crate::optimize::shortpixel::{wire::Item, ApiError, Client};

/// What every task of one batch shares.
struct Remote {
    ctx: Arc<Ctx>,
    client: Client,
    net: Network,
    /// Transfer slots: at most `concurrency` bodies moving at once.
    slots: Arc<Semaphore>,
    /// Downloaded results waiting to be put in place together.
    pending: Pending,
}

/// Commits of downloaded results under way at once: one writes its files while another
/// waits on the disk.
const COMMITS: usize = 2;

impl Remote {
    fn settings(&self, w: &Work) -> &FolderSettings {
        &self.ctx.folder(w.folder).settings
    }

    /// Runs a ledger write (or any blocking step) on the blocking pool.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Ctx) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me.ctx)).await?
    }
}

/// A recorded job waiting for its result.
struct Job {
    work: Work,
    url: String,
    /// Not asked about before this.
    due: Instant,
}

/// What a task reports back to the flow.
enum Event {
    Sent(send::Outcome),
    SentByUrl(by_url::Outcome),
    Polled {
        jobs: Vec<Job>,
        out: Result<Vec<Item>, ApiError>,
    },
    Delivered {
        work: Work,
        url: String,
        out: anyhow::Result<download::Delivery>,
    },
    /// A group of results was committed.
    Committed(anyhow::Result<()>),
    Credits(Result<bool, ApiError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credits {
    Fine,
    /// Uploads paused while api-status is watched.
    Checking,
}

struct Flow {
    r: Arc<Remote>,
    /// Works to upload, each not before its instant (a backoff).
    queue: VecDeque<(Work, Instant)>,
    jobs: Vec<Job>,
    tasks: JoinSet<Event>,
    unrecorded: send::Unrecorded,
    polls_out: usize,
    /// Commits of the shared group under way.
    committing: usize,
    credits: Credits,
    /// What `[limits]` hold uploads for, as of the last look.
    hold: Option<Hold>,
    /// Files of this flow's requests counted against the budget until their outcome.
    reserved: u64,
    halt: Option<Fatal>,
    stopping: bool,
    deadline: Instant,
    /// Works not sent (the agent is stopping, or halted): left queued for the next run.
    left: Vec<Work>,
    /// OriginalURLs of jobs made by URL: asked about through `reducer.php`.
    url_jobs: HashSet<String>,
    /// Contents of `public_url` folders to upload all the same (hash, profile): ShortPixel
    /// could not fetch their URL, or fetched other bytes there.
    upload_instead: HashSet<(String, String)>,
}

/// Processes `works` (to upload) and `polls` (jobs recorded earlier) to the end, or until a
/// fatal condition, a stop request, or `pending_wait`.
pub async fn run(
    ctx: Arc<Ctx>,
    works: Vec<Work>,
    polls: Vec<(Work, ledger::Job)>,
) -> Result<(), BatchError> {
    let key = ctx
        .config
        .api_key
        .clone()
        .expect("the shortpixel backend is only chosen with a key");
    let net = ctx.config.network.clone();
    let throttle = ctx.shared.limits.throttle.clone();
    throttle.set_rate(ctx.config.limits.upload_bytes_per_sec());
    let client = Client::new(&ctx.config.api_url, key, &net)
        .map_err(anyhow::Error::from)?
        .throttled(throttle);
    if ctx.shared.limits.spend.needs_load() {
        let c = ctx.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let month = crate::clock::now().month_key();
            let used = c.ledger().credits_used(&month)?;
            c.shared.limits.spend.load(&month, used);
            Ok(())
        })
        .await
        .map_err(anyhow::Error::from)??;
    }
    let now = Instant::now();
    let r = Arc::new(Remote {
        slots: Arc::new(Semaphore::new(ctx.config.concurrency)),
        ctx,
        client,
        net,
        pending: Pending::default(),
    });
    let url_jobs = polls
        .iter()
        .filter(|(_, job)| job.by_url)
        .map(|(_, job)| job.original_url.clone())
        .collect();
    let mut flow = Flow {
        queue: works.into_iter().map(|w| (w, now)).collect(),
        jobs: polls
            .into_iter()
            .map(|(work, job)| Job {
                work,
                url: job.original_url,
                due: now,
            })
            .collect(),
        tasks: JoinSet::new(),
        unrecorded: send::Unrecorded::new(r.ctx.config.concurrency, r.net.max_batch_files),
        polls_out: 0,
        committing: 0,
        credits: Credits::Fine,
        hold: None,
        reserved: 0,
        halt: None,
        stopping: false,
        deadline: now + r.net.pending_wait,
        left: Vec::new(),
        url_jobs,
        upload_instead: HashSet::new(),
        r,
    };
    let driven = flow.drive().await;
    // What was downloaded is put in place whatever ended the flow.
    let r = flow.r.clone();
    let committed = tokio::task::spawn_blocking(move || r.pending.finish(&r.ctx))
        .await
        .map_err(anyhow::Error::from);
    let finished = flow.finish().await;
    // Requests whose outcome never came back (a task that failed): not counted any more.
    flow.r.ctx.shared.limits.spend.settle(flow.reserved, 0);
    driven?;
    committed??;
    finished?;
    match flow.halt {
        Some(fatal) => Err(fatal.into()),
        None => Ok(()),
    }
}

impl Flow {
    async fn drive(&mut self) -> Result<(), BatchError> {
        loop {
            if !self.stopping && self.r.ctx.stopping() {
                self.stopping = true;
                tracing::info!("stopping: uploads in flight are recorded, nothing new is sent");
            }
            self.commit_waiting();
            self.launch();
            if self.tasks.is_empty() && self.nothing_to_start() {
                return Ok(());
            }
            let wake = self.next_wake();
            tokio::select! {
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => {
                    let event = done.map_err(anyhow::Error::from)?;
                    self.on_event(event).await?;
                }
                _ = sleep_until(wake), if wake.is_some() => {}
                _ = self.r.ctx.shared.stop.wait(), if !self.stopping => {}
            }
        }
    }

    /// Whether, with no task running, nothing is left that could start later.
    fn nothing_to_start(&self) -> bool {
        let uploads = self.queue.is_empty() || !self.may_upload() || self.hold.is_some();
        let polls = self.jobs.is_empty() || !self.may_poll();
        uploads && polls
    }

    fn may_upload(&self) -> bool {
        !self.stopping && self.halt.is_none()
    }

    fn may_poll(&self) -> bool {
        !self.stopping
            && !matches!(self.halt, Some(Fatal::InvalidKey(_)))
            && Instant::now() < self.deadline
    }

    /// Starts what can start now: uploads while the unrecorded budget allows, polls while
    /// fewer than `concurrency` are out.
    fn launch(&mut self) {
        let now = Instant::now();
        while self.may_upload() && self.credits == Credits::Fine && !self.queue.is_empty() {
            let Some(allowed) = self.limits_allow() else {
                break;
            };
            let room = self
                .unrecorded
                .room()
                .min(self.r.net.max_batch_files)
                .min(allowed);
            let batch = send::next_batch(&mut self.queue, now, room, self.r.net.max_batch_bytes);
            if batch.is_empty() {
                break;
            }
            self.r.ctx.shared.limits.spend.reserve(batch.len() as u64);
            self.reserved += batch.len() as u64;
            let (by_url, upload) = self.route(batch);
            if !upload.is_empty() {
                self.unrecorded.take(upload.len());
                let r = self.r.clone();
                self.tasks
                    .spawn(async move { Event::Sent(send::send(r, upload).await) });
            }
            if !by_url.is_empty() {
                self.unrecorded.take(by_url.len());
                let r = self.r.clone();
                self.tasks
                    .spawn(async move { Event::SentByUrl(by_url::send(r, by_url).await) });
            }
        }
        while self.may_poll() && self.polls_out < self.r.ctx.config.concurrency {
            let due = poll::take_due(&mut self.jobs, now, poll::MAX_URLS);
            if due.is_empty() {
                break;
            }
            // Jobs made by URL are asked about through the URL: one request per kind.
            let (by_url, file_urls): (Vec<Job>, Vec<Job>) = due
                .into_iter()
                .partition(|j| self.url_jobs.contains(&j.url));
            for (jobs, by_url) in [(file_urls, false), (by_url, true)] {
                if !jobs.is_empty() {
                    self.polls_out += 1;
                    self.tasks.spawn(poll::poll(self.r.clone(), jobs, by_url));
                }
            }
        }
    }

    /// The next instant something becomes startable (a backoff ends, a job is due, the
    /// deadline passes); `None` when only a task can change anything.
    fn next_wake(&self) -> Option<Instant> {
        let mut wake: Vec<Instant> = Vec::new();
        if self.may_upload()
            && self.credits == Credits::Fine
            && self.hold.is_none()
            && self.unrecorded.room() > 0
        {
            wake.extend(self.queue.iter().map(|(_, at)| *at).min());
        }
        if self.may_poll() && !self.jobs.is_empty() {
            if self.polls_out < self.r.ctx.config.concurrency {
                wake.extend(self.jobs.iter().map(|j| j.due).min());
            }
            wake.push(self.deadline);
        }
        wake.into_iter().min()
    }

    async fn on_event(&mut self, event: Event) -> anyhow::Result<()> {
        match event {
            Event::Sent(outcome) => {
                self.settle(outcome.files, outcome.paid());
                self.on_sent(outcome).await
            }
            Event::SentByUrl(outcome) => {
                // Counted as paid: every job made (one ShortPixel held already is free, and
                // the ledger does not count it; here it stays counted until the process ends).
                let made = outcome.result.as_ref().map_or(0, |replies| {
                    replies
                        .iter()
                        .filter(|r| matches!(r, url_reply::Reply::Recorded(_)))
                        .count()
                });
                self.settle(outcome.files, made);
                self.on_sent_by_url(outcome).await
            }
            Event::Polled { jobs, out } => {
                self.polls_out -= 1;
                self.on_polled(jobs, out).await
            }
            Event::Delivered { work, url, out } => {
                self.commit_waiting();
                self.on_delivered(work, url, out?).await
            }
            Event::Committed(done) => {
                self.committing -= 1;
                self.commit_waiting();
                done
            }
            Event::Credits(back) => self.on_credits(back),
        }
    }

    /// Leaves what was not done in the ledger: unsent works queued (with the reason),
    /// recorded jobs pending (the next run polls them).
    async fn finish(&mut self) -> anyhow::Result<()> {
        self.left.extend(self.queue.drain(..).map(|(w, _)| w));
        let reason = match (&self.halt, &self.hold) {
            (Some(fatal), _) => fatal.to_string(),
            (None, _) if self.stopping => {
                "not sent yet: the agent stopped; the next start sends it".into()
            }
            (None, Some(hold)) if !self.left.is_empty() => {
                let n: usize = self.left.iter().map(|w| w.files.len()).sum();
                Tally::add(&self.r.ctx.tally.held, n as u64);
                tracing::info!("{n} file(s) not sent: {hold}");
                hold.to_string()
            }
            (None, _) => "waiting".into(),
        };
        let left = std::mem::take(&mut self.left);
        self.r
            .blocking(move |ctx| {
                let paths: Vec<_> = left.iter().flat_map(|w| w.paths()).collect();
                ctx.ledger()
                    .set_states(&paths, State::Queued, Some(&reason))?;
                Ok(())
            })
            .await?;
        if !self.jobs.is_empty() {
            let n: usize = self.jobs.iter().map(|j| j.work.files.len()).sum();
            Tally::add(&self.r.ctx.tally.pending, n as u64);
            tracing::info!("{n} file(s) still being processed by ShortPixel; they are collected later without uploading again");
        }
        Ok(())
    }
}

impl Flow {
    /// Commits the results waiting in the shared group, unless [`COMMITS`] are under way
    /// (the end of one calls this again).
    fn commit_waiting(&mut self) {
        if self.committing >= COMMITS || !self.r.pending.is_waiting() {
            return;
        }
        self.committing += 1;
        let r = self.r.clone();
        self.tasks.spawn(async move {
            let done = tokio::task::spawn_blocking(move || r.pending.commit_waiting(&r.ctx));
            Event::Committed(done.await.map_err(anyhow::Error::from).and_then(|c| c))
        });
    }

    /// A request of `files` ended with `paid` jobs made: its reservation becomes the count.
    fn settle(&mut self, files: usize, paid: usize) {
        let spend = &self.r.ctx.shared.limits.spend;
        spend.settle(files as u64, paid as u64);
        self.reserved -= files as u64;
    }

    /// How many files `[limits]` let go now (`usize::MAX`: no budget), or `None` while they
    /// hold uploads (the reason kept in `hold`).
    fn limits_allow(&mut self) -> Option<usize> {
        if self.r.ctx.shared.limits.paused() {
            self.hold = Some(crate::limits::Hold::Paused);
            return None;
        }
        let limits = &self.r.ctx.config.limits;
        if limits.quiet_hours.is_none() && limits.monthly_credits.is_none() {
            // A pause seen earlier is over.
            self.hold = None;
            return Some(usize::MAX);
        }
        let now = crate::clock::now();
        match crate::limits::uploads(limits, &self.r.ctx.shared.limits.spend, &now) {
            Ok(room) => {
                self.hold = None;
                Some(room.map_or(usize::MAX, |r| r.try_into().unwrap_or(usize::MAX)))
            }
            Err(hold) => {
                self.hold = Some(hold);
                None
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// How long before try number `attempts + 1`.
fn pause(net: &Network, attempts: u32, maintenance: bool) -> Duration {
    crate::optimize::shortpixel::client::backoff(
        net.retry_base,
        attempts.saturating_sub(1),
        maintenance,
    )
}
