//! `POST /v2/reducer.php` with `urllist`: the service fetches each URL itself, shrinks what
//! it got like an upload, and answers one item per URL, in request order, with
//! `OriginalURL` = the URL exactly as sent and `OriginalSize` = the bytes it fetched.
//!
//! Choices where the service's behaviour is unknown or impractical to copy:
//! - Results are cached per (key, URL): asked again with `refresh = 0`, the earlier job
//!   answers (one poll closer to ready) without a fetch or a charge; `refresh = 1` fetches
//!   again, makes a new job and charges again. A failed fetch is not cached. A URL listed
//!   twice in one request is fetched once.
//! - A URL equal to an earlier upload's OriginalURL polls that job, as the wire notes say.
//! - Only loopback URLs are fetched (see `fetch`). Per-item codes: -102 invalid URL or
//!   404, -106 not reachable, -111 larger than the cap (`max_file_size`, at most
//!   [`FETCH_CAP`]), -202 not an image, -203 the body broke off, -403 no credit left for a
//!   paid result. -105 (no URL) and -107 (more than 100) refuse the whole request.
//! - Faults: `ItemError` marks every item and fetches nothing; `Bigger` makes new results
//!   larger than their originals; `MissingSizes` answers Code 2 without sizes.

use axum::body::Bytes;
use tokio::task::JoinHandle;

use crate::fetch::{self, Fetched, FETCH_CAP, FETCH_TIMEOUT};
use crate::handlers::App;
use crate::model::{Fault, Fetch};
use crate::parse::{percent_decode, Parsed};
use crate::reducer::{
    array, hold, job_item, make_job, options, poll_job, refuse, Made, Reply, Timing, MAX_URLS,
};
use crate::shrink::{shrink, Shrunk};
use crate::wire::{message, Item};

/// What one `urllist` entry will get.
enum Plan {
    /// A known job: an upload's OriginalURL, or a cached URL without `refresh`.
    Known(String),
    /// Fetch this URL (normalised), then make a job.
    Fetch(String, JoinHandle<(Fetched, Option<Shrunk>)>),
    /// The same URL as an earlier entry of this request: the same answer, one fetch.
    SameAs(usize),
    /// Answer this per-item code.
    Refused(i32),
}

pub(crate) async fn reduce(app: &App, p: &Parsed, fault: Option<Fault>) -> Reply {
    let key = p.key().unwrap_or_default();
    let (known_key, max_size, timeout) = {
        let st = app.shared.lock();
        let timeout = st.fetch_timeout.unwrap_or(FETCH_TIMEOUT);
        (st.keys.contains_key(&key), st.max_file_size, timeout)
    };
    if !known_key {
        return refuse(-401);
    }
    if p.raw_urls.is_empty() {
        return refuse(-105);
    }
    if p.raw_urls.len() > MAX_URLS {
        return refuse(-107);
    }
    if let Some(Fault::ItemError { code, message }) = &fault {
        let items: Vec<Item> = p
            .raw_urls
            .iter()
            .map(|u| Item::status(*code, message).with_original(Some(u.clone()), None))
            .collect();
        return array(&items);
    }
    let refresh = p.num("refresh", 0) == 1;
    let cap = max_size.map_or(FETCH_CAP, |m| m.min(FETCH_CAP));
    let opts = options(p);
    let orig_prefix = format!("{}/orig/", app.base);
    let mut targets: Vec<Option<String>> = Vec::with_capacity(p.raw_urls.len());
    let plans: Vec<Plan> = p
        .raw_urls
        .iter()
        .map(|entry| {
            let st = app.shared.lock();
            let url = fetch::target(entry);
            let target = url.as_ref().ok().map(ToString::to_string);
            let earlier = targets.iter().position(|t| t.is_some() && *t == target);
            targets.push(target);
            if let Some(j) = earlier {
                return Plan::SameAs(j);
            }
            let decoded = percent_decode(entry, false);
            if let Some(id) = decoded
                .strip_prefix(&orig_prefix)
                .filter(|id| st.jobs.contains_key(*id))
            {
                return Plan::Known(id.to_owned());
            }
            let url = match url {
                Ok(url) => url,
                Err(code) => return Plan::Refused(code),
            };
            let cached = st
                .url_jobs
                .get(&(key.clone(), url.to_string()))
                .filter(|id| st.jobs.contains_key(*id));
            match cached {
                Some(id) if !refresh => Plan::Known(id.clone()),
                _ => {
                    let (client, opts) = (app.fetcher.clone(), opts.clone());
                    let target = url.to_string();
                    Plan::Fetch(
                        target,
                        tokio::spawn(async move {
                            let fetched = fetch::fetch(&client, url, cap, timeout).await;
                            let shrunk = match &fetched.body {
                                Ok(bytes) => {
                                    let bytes = bytes.clone();
                                    tokio::task::spawn_blocking(move || shrink(&bytes, &opts))
                                        .await
                                        .ok()
                                        .flatten()
                                }
                                Err(_) => None,
                            };
                            (fetched, shrunk)
                        }),
                    )
                }
            }
        })
        .collect();

    let timing = Timing::now(app);
    // Per entry: the job that answers it, or the code refusing it.
    let mut answers: Vec<Result<(String, bool), i32>> = Vec::with_capacity(plans.len());
    for plan in plans {
        answers.push(match plan {
            Plan::Known(id) => Ok((id, true)),
            Plan::SameAs(j) => answers[j].clone().map(|(id, _)| (id, false)),
            Plan::Refused(code) => Err(code),
            Plan::Fetch(target, task) => {
                let (fetched, shrunk) = match task.await {
                    Ok(done) => done,
                    Err(_) => (
                        Fetched {
                            body: Err(-203),
                            bytes_read: 0,
                        },
                        None,
                    ),
                };
                let made = made(fetched.body.clone(), shrunk, opts.lossy);
                let mut st = app.shared.lock();
                let outcome = made.and_then(|made| {
                    make_job(&mut st, &key, made, &timing, fault.as_ref()).ok_or(-403)
                });
                if let Ok(id) = &outcome {
                    st.url_jobs
                        .insert((key.clone(), target.clone()), id.clone());
                }
                st.fetches.push(Fetch {
                    key: key.clone(),
                    url: target,
                    code: outcome.as_ref().map_or_else(|c| *c, |_| 1),
                    bytes: fetched.bytes_read,
                });
                outcome.map(|id| (id, false))
            }
        });
    }
    let ids: Vec<&str> = answers
        .iter()
        .filter_map(|a| a.as_ref().ok().map(|(id, _)| id.as_str()))
        .collect();
    hold(app, p, &ids).await;

    let mut st = app.shared.lock();
    let missing_sizes = fault == Some(Fault::MissingSizes);
    let mut items = Vec::with_capacity(answers.len());
    for (entry, answer) in p.raw_urls.iter().zip(answers) {
        let mut item = match answer {
            Err(code) => Item::status(code, message(code)),
            Ok((id, known)) => match st.jobs.get_mut(&id) {
                None => Item::status(-102, message(-102)),
                Some(job) if missing_sizes => job_item(&app.base, &id, job, true),
                Some(job) if known => poll_job(&app.base, &id, job, fault.as_ref()),
                Some(job) => job_item(&app.base, &id, job, false),
            },
        };
        // "OriginalURL: the original URL provided in the API call", whatever job answers.
        item.original_url = Some(entry.clone());
        items.push(item);
    }
    drop(st);
    array(&items)
}

/// A fetched body, shrunk, as a job to make; or the per-item code.
fn made(body: Result<Bytes, i32>, shrunk: Option<Shrunk>, lossy_mode: u8) -> Result<Made, i32> {
    let original = body?;
    let result = shrunk.ok_or(-202)?;
    Ok(Made {
        original,
        result,
        lossy_mode,
    })
}
