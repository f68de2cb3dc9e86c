//! The reducer proper: turning uploads into jobs (charging credits) and answering polls,
//! including the faults that change what a job reports (`ItemError`, `Bigger`,
//! `MissingSizes`, `JobGone`).
//!
//! Choices where the service's behaviour is unknown or impractical to copy:
//! - Credits are charged at upload time, and only for results improved by at least 5 %
//!   (smaller improvements count as `APICallsFree`). A file that would cost a credit when
//!   none is left gets a per-item -403; with no credit left at all the whole request is
//!   refused with a top-level -403.
//! - More than 10 files in one upload: top-level -107 ("too many files"), no job created.
//! - A job is ready once `processing` has passed since its upload and it has been polled
//!   `pending_polls` times. `wait` (≤ 30 s) holds an upload or poll until its jobs are ready
//!   or the wait is over, as the service does; `pending_polls` ignores it. Options sent with
//!   a poll are ignored: the job keeps its upload options.
//! - `Fault::Bigger` on a poll changes the job's result but not the credit already charged.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::response::Response;

use crate::handlers::App;
use crate::model::Fault;
use crate::parse::{percent_decode, Parsed};
use crate::shrink::{percent, shrink, ShrinkOptions, Shrunk};
use crate::state::{Job, State};
use crate::wire::{json_reply, message, refusal, timestamp_now, Done, Item};

/// Files per upload request accepted (the official clients never send more).
const MAX_FILES: usize = 10;
/// URLs per poll/`urllist` accepted, as documented.
pub(crate) const MAX_URLS: usize = 100;
/// The longest `wait` the service honours.
const MAX_WAIT_SECS: u32 = 30;

pub(crate) type Reply = (Response, Vec<i32>);

pub(crate) fn refuse(code: i32) -> Reply {
    (refusal(code, message(code)), vec![code])
}

pub(crate) fn array(items: &[Item]) -> Reply {
    (json_reply(&items), items.iter().map(Item::code).collect())
}

/// The upload's options that shape the result.
pub(crate) fn options(p: &Parsed) -> ShrinkOptions {
    let convert = percent_decode(p.fields.get("convertto").map_or("", String::as_str), false);
    let convert = convert.to_ascii_lowercase();
    // "+webp|+avif"; a form-decoded "+" may have become a space.
    let wants = |fmt: &str| {
        convert
            .split('|')
            .any(|t| t.trim().trim_start_matches('+').trim() == fmt)
    };
    let lossy = match p.num("lossy", 1) {
        m @ 0..=2 => m as u8,
        _ => 1,
    };
    ShrinkOptions {
        lossy,
        resize: p.num("resize", 0).min(255) as u8,
        width: p.num("resize_width", 0),
        height: p.num("resize_height", 0),
        webp: wants("webp"),
        avif: wants("avif"),
    }
}

/// How a job answers now: Code 1 while pending, else Code 2 with its URLs and sizes.
pub(crate) fn job_item(base: &str, id: &str, job: &Job, missing_sizes: bool) -> Item {
    let original = (
        Some(format!("{base}/orig/{id}")),
        Some(job.original.len() as u64),
    );
    if job.pending() && !missing_sizes {
        return Item::status(1, message(1)).with_original(original.0, original.1);
    }
    let done = Done {
        dl_base: format!("{base}/dl/{id}"),
        lossy: job.result.lossy.len(),
        lossless: job.result.lossless.len(),
        webp: job.result.webp.as_ref().map(Bytes::len),
        avif: job.result.avif.as_ref().map(Bytes::len),
        percent: &job.percent,
        timestamp: &job.timestamp,
        missing_sizes,
    };
    Item::status(2, message(2))
        .with_original(original.0, original.1)
        .done(&done)
}

/// When new jobs become ready: read once per request, so all its jobs agree.
pub(crate) struct Timing {
    ready_at: Instant,
    polls_left: u32,
    timestamp: String,
}

impl Timing {
    pub fn now(app: &App) -> Timing {
        let st = app.shared.lock();
        Timing {
            ready_at: Instant::now() + st.processing,
            polls_left: st.pending_polls,
            timestamp: timestamp_now(),
        }
    }
}

/// A shrunk original, not yet a job.
pub(crate) struct Made {
    pub original: Bytes,
    pub result: Shrunk,
    pub lossy_mode: u8,
}

/// Charges `key` for a result and stores it as a new job (`Fault::Bigger` makes its result
/// larger first). `None` when a paid result finds no credit left: no job, no charge.
pub(crate) fn make_job(
    st: &mut State,
    key: &str,
    mut made: Made,
    timing: &Timing,
    fault: Option<&Fault>,
) -> Option<String> {
    if fault == Some(&Fault::Bigger) {
        made.result.make_bigger(&made.original);
    }
    let pct = percent(
        made.original.len(),
        made.result.primary(made.lossy_mode).len(),
    );
    let paid = pct.parse::<f64>().unwrap_or(0.0) >= 5.0;
    if !st.charge(key, paid) {
        return None;
    }
    let id = st.next_job_id(blake3::hash(&made.original).to_hex().as_str());
    let job = Job {
        original: made.original,
        result: made.result,
        lossy_mode: made.lossy_mode,
        percent: pct,
        polls_left: timing.polls_left,
        ready_at: timing.ready_at,
        timestamp: timing.timestamp.clone(),
    };
    st.jobs.insert(id.clone(), job);
    Some(id)
}

/// What happens to one uploaded file before the state is touched.
enum Prep {
    Refused(i32, String),
    Work(tokio::task::JoinHandle<Option<Shrunk>>),
}

pub(crate) async fn upload(app: &App, p: Parsed, fault: Option<Fault>) -> Reply {
    let key = p.key().unwrap_or_default();
    let (credits, max_size) = {
        let st = app.shared.lock();
        (st.credits_left(&key), st.max_file_size)
    };
    let Some(credits) = credits else {
        return refuse(-401);
    };
    if p.files.is_empty() {
        return refuse(-109);
    }
    if p.files.len() > MAX_FILES {
        return refuse(-107);
    }
    if credits == 0 {
        return refuse(-403);
    }
    if let Some(Fault::ItemError { code, message }) = &fault {
        let items: Vec<Item> = p
            .files
            .iter()
            .map(|(f, _)| {
                Item::status(*code, message)
                    .with_key(Some(&f.field))
                    .with_original(None, Some(f.size))
            })
            .collect();
        return array(&items);
    }

    // Shrink all files at once on the blocking pool, then collect in request order.
    let opts = options(&p);
    let mut prepared = Vec::with_capacity(p.files.len());
    for (file, bytes) in &p.files {
        let forced = app.shared.lock().content_faults.get(&file.hash).cloned();
        prepared.push(match forced {
            Some((code, msg)) => Prep::Refused(code, msg),
            None if max_size.is_some_and(|m| file.size > m) => {
                Prep::Refused(-111, message(-111).into())
            }
            None => {
                let (bytes, opts) = (bytes.clone(), opts.clone());
                Prep::Work(tokio::task::spawn_blocking(move || shrink(&bytes, &opts)))
            }
        });
    }
    let mut outcomes = Vec::with_capacity(prepared.len());
    for prep in prepared {
        outcomes.push(match prep {
            Prep::Refused(code, msg) => Err((code, msg)),
            Prep::Work(task) => match task.await {
                Ok(Some(result)) => Ok(result),
                _ => Err((-202, message(-202).to_owned())),
            },
        });
    }

    let timing = Timing::now(app);
    // Per file: the new job's id, or the item refusing it.
    let mut answers: Vec<Result<String, Item>> = Vec::with_capacity(outcomes.len());
    {
        let mut st = app.shared.lock();
        for ((file, bytes), outcome) in p.files.iter().zip(outcomes) {
            let refused =
                |code: i32, msg: &str| Item::status(code, msg).with_original(None, Some(file.size));
            answers.push(match outcome {
                Err((code, msg)) => Err(refused(code, &msg)),
                Ok(result) => {
                    let made = Made {
                        original: bytes.clone(),
                        result,
                        lossy_mode: opts.lossy,
                    };
                    make_job(&mut st, &key, made, &timing, fault.as_ref())
                        .ok_or_else(|| refused(-403, message(-403)))
                }
            });
        }
    }
    let ids: Vec<&str> = answers.iter().filter_map(|a| a.as_deref().ok()).collect();
    hold(app, &p, &ids).await;
    let st = app.shared.lock();
    let items: Vec<Item> = p
        .files
        .iter()
        .zip(answers)
        .map(|((file, _), answer)| {
            let item = match answer {
                Ok(id) => match st.jobs.get(&id) {
                    Some(job) => job_item(&app.base, &id, job, fault == Some(Fault::MissingSizes)),
                    None => Item::status(-102, message(-102)),
                },
                Err(item) => item,
            };
            item.with_key(Some(&file.field))
        })
        .collect();
    drop(st);
    array(&items)
}

/// Holds a request while its jobs are processing, for at most its `wait` seconds.
pub(crate) async fn hold(app: &App, p: &Parsed, ids: &[&str]) {
    let wait = Duration::from_secs(u64::from(p.num("wait", 0).min(MAX_WAIT_SECS)));
    let latest = {
        let st = app.shared.lock();
        ids.iter()
            .filter_map(|id| st.jobs.get(*id))
            .map(|j| j.ready_at)
            .max()
    };
    if let Some(latest) = latest {
        let until = latest.min(Instant::now() + wait);
        tokio::time::sleep_until(until.into()).await;
    }
}

/// One poll of a known job: `Fault::Bigger` changes its result, and it is one poll closer
/// to ready.
pub(crate) fn poll_job(base: &str, id: &str, job: &mut Job, fault: Option<&Fault>) -> Item {
    if fault == Some(&Fault::Bigger) {
        let original = job.original.clone();
        job.result.make_bigger(&original);
        job.percent = percent(original.len(), job.result.primary(job.lossy_mode).len());
    }
    job.polls_left = job.polls_left.saturating_sub(1);
    job_item(base, id, job, false)
}

pub(crate) async fn poll(app: &App, p: &Parsed, fault: Option<Fault>) -> Reply {
    let key = p.key().unwrap_or_default();
    if app.shared.lock().credits_left(&key).is_none() {
        return refuse(-401);
    }
    if p.urls.len() > MAX_URLS {
        return refuse(-107);
    }
    let prefix = format!("{}/orig/", app.base);
    let ids: Vec<&str> = p
        .urls
        .iter()
        .filter_map(|u| u.strip_prefix(&prefix))
        .collect();
    hold(app, p, &ids).await;
    let mut st = app.shared.lock();
    let mut items = Vec::with_capacity(p.urls.len());
    for url in &p.urls {
        let gone = || Item::status(-102, message(-102)).with_original(Some(url.clone()), None);
        let id = url
            .strip_prefix(&prefix)
            .filter(|id| st.jobs.contains_key(*id));
        let item = match (&fault, id) {
            (Some(Fault::ItemError { code, message }), _) => {
                Item::status(*code, message).with_original(Some(url.clone()), None)
            }
            (Some(Fault::JobGone), Some(id)) => {
                st.jobs.remove(id);
                gone()
            }
            (_, None) => gone(),
            (Some(Fault::MissingSizes), Some(id)) => job_item(&app.base, id, &st.jobs[id], true),
            (_, Some(id)) => {
                let Some(job) = st.jobs.get_mut(id) else {
                    continue;
                };
                poll_job(&app.base, id, job, fault.as_ref())
            }
        };
        items.push(item);
    }
    drop(st);
    array(&items)
}
