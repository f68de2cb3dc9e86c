//! Running works through ShortPixel. The loop, in rounds:
//!
//! 1. upload what needs uploading, in batches (≤ `max_batch_files`, ≤ `max_batch_bytes`,
//!    one settings profile per request), `concurrency` requests at a time;
//! 2. Code 2 → download, verify (G6), apply; Code 1 → remember the OriginalURL in the
//!    ledger (G4) and poll it in later rounds, never uploading it again;
//! 3. poll pending jobs every `poll_interval` until `pending_wait` runs out; what is still
//!    pending then stays in the ledger for the next run.
//!
//! Reactions to the service (SPEC §4): transient errors retry with backoff; -403/-301 pause
//! every upload behind one [`CreditGate`] that watches api-status; -401 stops the run; a
//! refused image fails alone.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use super::apply::{self, fail, read_original, verdict};
use super::{Ctx, Halt, Work};
use crate::config::{Compression, Convert, FolderSettings, Network};
use crate::content::Format;
use crate::ledger::{Job, Outcome, State};
use crate::optimize::shortpixel::{
    client::backoff, retry, wire::Item, ApiError, Client, UploadFile,
};
use crate::optimize::Delivered;
use crate::verify::{self, Rejection};

struct Remote {
    ctx: Arc<Ctx>,
    client: Client,
    net: Network,
    gate: CreditGate,
}

/// Where each work goes after a round.
#[derive(Default)]
struct Next {
    pending: Vec<(Work, String)>,
    requeue: Vec<Work>,
    /// Not attempted because the run is stopping (bad key, no credits).
    left: Vec<Work>,
}

impl Next {
    fn merge(&mut self, o: Next) {
        self.pending.extend(o.pending);
        self.requeue.extend(o.requeue);
        self.left.extend(o.left);
    }
}

pub async fn run(
    ctx: Arc<Ctx>,
    works: Vec<Work>,
    polls: Vec<(Work, String)>,
) -> anyhow::Result<()> {
    let key = ctx
        .config
        .api_key
        .clone()
        .expect("the shortpixel backend is only chosen with a key");
    let net = ctx.config.network.clone();
    let client = Client::new(&ctx.config.api_url, key, &net)?;
    let r = Arc::new(Remote {
        ctx,
        client,
        net,
        gate: CreditGate::default(),
    });
    let deadline = Instant::now() + r.net.pending_wait;
    let mut uploads = works;
    let mut pending = polls;
    let mut left = Vec::new();
    loop {
        if r.ctx.stopping() {
            left.append(&mut uploads);
            r.count_pending(&pending);
            break;
        }
        if !uploads.is_empty() {
            let next = r.clone().upload_round(std::mem::take(&mut uploads)).await?;
            pending.extend(next.pending);
            uploads = next.requeue;
            left.extend(next.left);
        }
        if r.ctx.tally.fatal().is_some() {
            left.append(&mut uploads);
            break;
        }
        if !uploads.is_empty() {
            let attempt = uploads.iter().map(|w| w.attempts).max().unwrap_or(0);
            r.nap(backoff(r.net.retry_base, attempt, false)).await;
            continue;
        }
        if pending.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            r.count_pending(&pending);
            break;
        }
        r.nap(r.net.poll_interval).await;
        if r.ctx.stopping() {
            continue;
        }
        let next = r.clone().poll_round(std::mem::take(&mut pending)).await?;
        pending = next.pending;
        uploads = next.requeue;
        left.extend(next.left);
    }
    let reason = match r.ctx.tally.fatal() {
        Some(fatal) => fatal,
        None if r.ctx.stopping() => {
            "not sent yet: the agent stopped; the next start sends it".into()
        }
        None => "waiting".into(),
    };
    for w in &left {
        r.ctx
            .ledger()
            .set_states(&w.paths(), State::Queued, Some(&reason))?;
    }
    Ok(())
}

impl Remote {
    /// Sleeps, or less if the agent is asked to stop.
    async fn nap(&self, d: std::time::Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.ctx.shared.stop.wait() => {}
        }
    }

    /// Results still being processed stay in the ledger; the next run polls them.
    fn count_pending(&self, pending: &[(Work, String)]) {
        if pending.is_empty() {
            return;
        }
        let n: usize = pending.iter().map(|(w, _)| w.files.len()).sum();
        crate::pipeline::Tally::add(&self.ctx.tally.pending, n as u64);
        tracing::info!("{n} file(s) still being processed by ShortPixel; they are collected later without uploading again");
    }

    fn settings(&self, w: &Work) -> &FolderSettings {
        &self.ctx.folder(w.folder).settings
    }

    async fn upload_round(self: Arc<Self>, works: Vec<Work>) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let limit = Arc::new(tokio::sync::Semaphore::new(self.ctx.config.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for batch in batches(works, &self.net) {
            let permit = limit.clone().acquire_owned().await?;
            let me = self.clone();
            tasks.spawn(async move {
                let _permit = permit;
                me.upload_batch(batch).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            next.merge(done??);
        }
        Ok(next)
    }

    async fn upload_batch(self: Arc<Self>, batch: Vec<Work>) -> anyhow::Result<Next> {
        let mut next = Next::default();
        if self.ctx.tally.fatal().is_some() || self.ctx.stopping() {
            next.left = batch;
            return Ok(next);
        }
        let mut works = Vec::new();
        let mut files = Vec::new();
        for work in batch {
            match read_original(&work) {
                Some(bytes) => {
                    let n = files.len() + 1;
                    files.push(UploadFile {
                        // Opaque and unique: the service only echoes it back (never a local path).
                        id: format!("c-{}", &work.hash[..32]),
                        filename: format!("file{n}.{}", ext(work.format)),
                        mime: work.format.mime(),
                        bytes,
                    });
                    works.push(work);
                }
                None => apply::changed_all(&self.ctx, &work)?,
            }
        }
        if works.is_empty() {
            return Ok(next);
        }
        let paths: Vec<_> = works.iter().flat_map(|w| w.paths()).collect();
        self.ctx
            .ledger()
            .set_states(&paths, State::Uploading, None)?;
        let settings = self.settings(&works[0]).clone();
        let n = files.len() as u64;
        let reply = retry(&self.net, "upload", || {
            crate::pipeline::Tally::add(&self.ctx.tally.uploads, n);
            let files = files.clone();
            self.client
                .upload(files, &settings, self.net.server_wait_secs)
        })
        .await;
        match reply {
            Ok(items) => {
                let answers = works
                    .into_iter()
                    .enumerate()
                    .map(|(i, work)| {
                        let key = format!("file{}", i + 1);
                        let item = items
                            .iter()
                            .find(|it| it.key.as_deref() == Some(&key))
                            // By position only when the reply has no keys and one item per file.
                            .or_else(|| {
                                (items.len() == n as usize)
                                    .then(|| items.get(i).filter(|it| it.key.is_none()))
                                    .flatten()
                            })
                            .cloned();
                        (work, item, None)
                    })
                    .collect();
                next.merge(
                    self.handle_all(answers, "the service did not answer for this file")
                        .await?,
                );
            }
            Err(e) => {
                for work in works {
                    next.merge(self.batch_error(work, &e).await?);
                }
            }
        }
        Ok(next)
    }

    async fn poll_round(self: Arc<Self>, pending: Vec<(Work, String)>) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let mut by_profile: BTreeMap<String, Vec<(Work, String)>> = BTreeMap::new();
        for p in pending {
            by_profile.entry(p.0.profile.clone()).or_default().push(p);
        }
        let limit = Arc::new(tokio::sync::Semaphore::new(self.ctx.config.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for (_, group) in by_profile {
            let mut group = group.into_iter().peekable();
            while group.peek().is_some() {
                let chunk: Vec<_> = group.by_ref().take(10).collect();
                let permit = limit.clone().acquire_owned().await?;
                let me = self.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    me.poll_chunk(chunk).await
                });
            }
        }
        while let Some(done) = tasks.join_next().await {
            next.merge(done??);
        }
        Ok(next)
    }

    async fn poll_chunk(self: Arc<Self>, chunk: Vec<(Work, String)>) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let urls: Vec<String> = chunk.iter().map(|(_, u)| u.clone()).collect();
        let settings = self.settings(&chunk[0].0).clone();
        let reply = retry(&self.net, "poll", || self.client.poll(&urls, &settings, 0)).await;
        match reply {
            Ok(items) => {
                let answers = chunk
                    .into_iter()
                    .map(|(work, url)| {
                        // Only the OriginalURL identifies a polled job: a guess by position
                        // could put one photo's result on another (same size, same camera).
                        let item = items
                            .iter()
                            .find(|it| it.original_url.as_deref() == Some(url.as_str()))
                            .cloned();
                        (work, item, Some(url))
                    })
                    .collect();
                next.merge(self.handle_all(answers, "no answer for this job").await?);
            }
            Err(ApiError::InvalidKey(m)) => {
                self.ctx
                    .tally
                    .set_fatal(Halt::Key, ApiError::InvalidKey(m).to_string());
                next.pending = chunk;
            }
            Err(e) => {
                tracing::warn!("poll failed: {e}; trying again later");
                next.pending = chunk;
            }
        }
        Ok(next)
    }

    /// Handles the items of one reply side by side, so that one file's downloads need not
    /// wait for another's. `None`: the reply said nothing of that work (`missing` says so).
    async fn handle_all(
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
    async fn handle_item(
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
    fn hiccup(&self, work: Work, polled: Option<String>, why: &str) -> anyhow::Result<Next> {
        match polled {
            Some(url) => self.again(work, why, "polling again", |next, w| {
                next.pending.push((w, url))
            }),
            None => self.transient(work, why),
        }
    }

    /// A whole request failed: decide for one of its works.
    async fn batch_error(&self, work: Work, e: &ApiError) -> anyhow::Result<Next> {
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
    fn transient(&self, work: Work, why: &str) -> anyhow::Result<Next> {
        self.again(work, why, "trying again", |next, w| next.requeue.push(w))
    }

    /// Counts one more try of `work`: gives up with the reason after `max_retries`, else
    /// hands it to `retry` for the next round.
    fn again(
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

    /// Downloads, verifies and applies a finished job.
    async fn deliver(&self, work: Work, url: String, sel: Selection) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let Some(original) = read_original(&work) else {
            apply::changed_all(&self.ctx, &work)?;
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
    async fn fetch(
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
async fn check_off_reactor(
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
enum Fetch {
    NotSmaller,
    Expired,
    Rejected(String),
}

/// What to download for a finished item.
struct Selection {
    /// `None`: the service could not make it smaller.
    main: Option<(String, u64)>,
    extras: Vec<(Convert, String, u64)>,
}

/// Picks the URLs the settings ask for; `None` when the item is not really finished (a
/// Code 2 with sizes missing, the "API waiting bug").
fn select(item: &Item, s: &FolderSettings, orig_size: u64) -> Option<Selection> {
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

/// Splits works into requests: one profile each, ≤ max files, ≤ max bytes (a single larger
/// file goes alone).
fn batches(mut works: Vec<Work>, net: &Network) -> Vec<Vec<Work>> {
    works.sort_by(|a, b| a.profile.cmp(&b.profile));
    let mut out: Vec<Vec<Work>> = Vec::new();
    let mut bytes = 0u64;
    for w in works {
        let fits = out.last().is_some_and(|b: &Vec<Work>| {
            b.len() < net.max_batch_files
                && b[0].profile == w.profile
                && bytes + w.size <= net.max_batch_bytes
        });
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += w.size;
        out.last_mut().expect("just pushed").push(w);
    }
    out
}

fn ext(f: Format) -> &'static str {
    match f {
        Format::Jpeg => "jpg",
        other => other.as_str(),
    }
}

/// One gate for the whole run: when credits run out, every upload waits here while one
/// task watches api-status; if they do not come back in time the run stops uploading.
#[derive(Default)]
struct CreditGate {
    lock: tokio::sync::Mutex<Option<Instant>>,
    exhausted: std::sync::atomic::AtomicBool,
}

impl CreditGate {
    async fn wait(&self, client: &Client, net: &Network) -> bool {
        use std::sync::atomic::Ordering;
        let mut last_ok = self.lock.lock().await;
        if self.exhausted.load(Ordering::Relaxed) {
            return false;
        }
        // Another upload just saw credits come back: no need to ask again.
        if last_ok.is_some_and(|t| t.elapsed() < net.poll_interval) {
            return true;
        }
        tracing::warn!("out of ShortPixel credits: uploads paused, checking api-status");
        let deadline = Instant::now() + net.credits_wait;
        loop {
            match client.credits().await {
                Ok(c) if c.unlimited || c.remaining > 0 => {
                    tracing::info!(
                        "{} ShortPixel credits available again; resuming uploads",
                        c.remaining
                    );
                    *last_ok = Some(Instant::now());
                    return true;
                }
                Ok(_) => {}
                Err(ApiError::InvalidKey(_)) => break,
                Err(e) => tracing::warn!("credit check failed: {e}"),
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(net.poll_interval.max(std::time::Duration::from_millis(100))).await;
        }
        self.exhausted.store(true, Ordering::Relaxed);
        false
    }
}
