//! Upload, then record: one request of works, streamed from disk with `wait = 0`, and its
//! reply's jobs written to the ledger in one transaction before anything else happens.
//!
//! The moment that can cost a credit twice is the one between the service receiving a
//! whole body and the agent recording the reply: a crash then loses the OriginalURLs of a
//! job the service made (and charged). Everything here keeps that moment short and its
//! stake small:
//! - the service answers at once (`wait = 0`), and the reply is recorded right away on the
//!   blocking pool, before its results are looked at;
//! - [`Unrecorded`] bounds how many files may be in that moment at all: one when replies
//!   come back quickly, more only as the round trip grows, so uploads still keep pace;
//! - a file opened for sending is checked as it streams (`stream::FileBody`): one that
//!   changed never reaches the service whole, so it costs nothing.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Remote, Work};
use crate::content::Format;
use crate::ledger::{Job, State};
use crate::optimize::shortpixel::{wire::Item, ApiError, UploadError, UploadFile};
use crate::pipeline::apply;

/// Answers this quick need no second file in flight: one at a time is already 50 a second.
const QUICK: Duration = Duration::from_millis(20);
/// Files a second that uploads need not go faster than: past [`QUICK`], the unrecorded
/// budget grows with the round trip only as far as this pace needs.
const PACE: f64 = 2000.0;
/// Full requests per transfer slot that may await their answer at once.
const REQUESTS_PER_SLOT: usize = 3;

/// Files whose bytes may be at the service while their reply is not recorded: what a crash
/// at this instant would cost. One file while the service answers within [`QUICK`] of the
/// body going out; past that, [`PACE`] files a second of the extra wait (160 at 100 ms, so
/// a far-away service is not fed one file per round trip; for photos of a few megabytes the
/// upload bandwidth, not this pace, keeps the set small); never more than
/// [`REQUESTS_PER_SLOT`] full requests per transfer slot (`concurrency`), so a lower
/// `concurrency` also bounds what a crash can cost. The round trip counted is the
/// service's (body out → answer in), not the agent's own recording: a busy machine is not
/// helped by more files in flight.
#[derive(Debug)]
pub(super) struct Unrecorded {
    now: usize,
    limit: usize,
    most: usize,
    round_trip: Option<Duration>,
}

impl Unrecorded {
    /// For `slots` transfer slots and requests of at most `batch` files.
    pub(super) fn new(slots: usize, batch: usize) -> Unrecorded {
        Unrecorded {
            now: 0,
            limit: 1,
            most: (REQUESTS_PER_SLOT * slots * batch).max(1),
            round_trip: None,
        }
    }

    /// How many more files may go now (at least one when none is out).
    pub(super) fn room(&self) -> usize {
        if self.now == 0 {
            self.limit.max(1)
        } else {
            self.limit.saturating_sub(self.now)
        }
    }

    pub(super) fn take(&mut self, files: usize) {
        self.now += files;
    }

    /// `files` are recorded (or known not to have gone); `took` is how long their reply
    /// took after the body went out, when it came.
    pub(super) fn release(&mut self, files: usize, took: Option<Duration>) {
        self.now = self.now.saturating_sub(files);
        if let Some(took) = took {
            let rt = match self.round_trip {
                None => took,
                Some(prev) => (prev * 3 + took) / 4,
            };
            self.round_trip = Some(rt);
            let beyond = rt.saturating_sub(QUICK).as_secs_f64();
            self.limit = ((beyond * PACE).ceil() as usize).clamp(1, self.most);
        }
    }
}

/// The next request: works whose backoff is over, of the profile of the first of them, at
/// most `files` of them and `max_bytes` together (a single larger file goes alone). Taken
/// out of `queue` in order.
pub(super) fn next_batch(
    queue: &mut VecDeque<(Work, Instant)>,
    now: Instant,
    files: usize,
    max_bytes: u64,
) -> Vec<Work> {
    let Some(profile) = queue
        .iter()
        .find(|(_, at)| *at <= now)
        .map(|(w, _)| w.profile.clone())
    else {
        return Vec::new();
    };
    let mut batch: Vec<Work> = Vec::new();
    let mut bytes = 0u64;
    let mut i = 0;
    while i < queue.len() && batch.len() < files {
        let (w, at) = &queue[i];
        let fits = batch.is_empty() || bytes + w.size <= max_bytes;
        if *at <= now && w.profile == profile && fits {
            let (w, _) = queue.remove(i).expect("index in range");
            bytes += w.size;
            batch.push(w);
        } else {
            i += 1;
        }
    }
    batch
}

/// How a request ended.
pub(super) struct Outcome {
    pub works: Vec<Work>,
    pub files: usize,
    pub result: Result<Sent, NotSent>,
}

impl Outcome {
    /// Jobs the service made of this request (each counted as a credit in the ledger).
    pub fn paid(&self) -> usize {
        self.result.as_ref().map_or(0, |s| s.paid)
    }
}

/// The reply: per work, its item (`None`: the reply said nothing of it). Every job among
/// them is already recorded.
pub(super) struct Sent {
    pub items: Vec<Option<Item>>,
    pub took: Option<Duration>,
    /// Jobs recorded (and counted as credits).
    pub paid: usize,
}

pub(super) enum NotSent {
    /// The request failed; `body_sent`: the service may have got it whole.
    Failed { error: ApiError, body_sent: bool },
    /// `works[index]` changed while it was being sent (it was taken out, its file is queued
    /// again as new): nothing reached the service.
    Changed { index: usize },
    /// The ledger failed: nothing can be recorded.
    Ledger(anyhow::Error),
}

/// Sends one request and records its reply. Works whose files all changed or vanished are
/// set aside as new before anything is sent.
pub(super) async fn send(r: Arc<Remote>, works: Vec<Work>) -> Outcome {
    let files = works.len();
    let slot = r.slots.clone().acquire_owned().await.ok();
    let opened = match r.blocking(move |ctx| open(ctx, works)).await {
        Ok(o) => o,
        Err(e) => {
            return Outcome {
                works: Vec::new(),
                files,
                result: Err(NotSent::Ledger(e)),
            }
        }
    };
    let (works, uploads): (Vec<Work>, Vec<UploadFile>) = opened.into_iter().unzip();
    if works.is_empty() {
        return Outcome {
            works,
            files,
            result: Ok(Sent {
                items: Vec::new(),
                took: None,
                paid: 0,
            }),
        };
    }
    let settings = r.settings(&works[0]).clone();
    crate::pipeline::Tally::add(&r.ctx.tally.uploads, works.len() as u64);
    let result = match r.client.upload(uploads, &settings, slot).await {
        Ok(sent) => {
            let items = match_items(&sent.items, works.len());
            match record(&r, &works, &items).await {
                Ok(paid) => {
                    let ms = |d: Option<Duration>| d.unwrap_or_default().as_secs_f64() * 1000.0;
                    tracing::debug!(
                        "{} file(s) sent: answered {:.1} ms and recorded {:.1} ms after the body went out",
                        works.len(),
                        ms(sent.round_trip()),
                        ms(sent.body_end.map(|t| t.elapsed())),
                    );
                    Ok(Sent {
                        items,
                        took: sent.round_trip(),
                        paid,
                    })
                }
                Err(e) => Err(NotSent::Ledger(e)),
            }
        }
        Err(UploadError::Api { error, body_sent }) => Err(NotSent::Failed { error, body_sent }),
        Err(UploadError::File { index, why }) => {
            let path = works[index].files[0].path.clone();
            tracing::info!("{}: {why}", path.display());
            Err(NotSent::Changed { index })
        }
    };
    Outcome {
        works,
        files,
        result,
    }
}

/// Opens one file of each work for sending: the first that is still a regular file of the
/// recorded size (its content is checked as it streams). Works with none are set aside as
/// new; the others are marked `uploading`.
fn open(ctx: &crate::pipeline::Ctx, works: Vec<Work>) -> anyhow::Result<Vec<(Work, UploadFile)>> {
    let mut out = Vec::new();
    let mut gone: Vec<Work> = Vec::new();
    for mut work in works {
        let found = work.files.iter().enumerate().find_map(|(i, f)| {
            crate::open::open_regular(&f.path)
                .ok()
                .filter(|(_, meta)| meta.len() == work.size)
                .map(|(file, _)| (i, file))
        });
        match found {
            Some((i, file)) => {
                // The file sent goes first: a change found while streaming names it.
                work.files.swap(0, i);
                let upload = UploadFile {
                    // Opaque and unique: the service only echoes it back (never a path).
                    id: format!("c-{}", &work.hash[..32.min(work.hash.len())]),
                    filename: format!("file{}.{}", out.len() + 1, ext(work.format)),
                    mime: work.format.mime(),
                    file,
                    size: work.size,
                    hash: work.hash.clone(),
                };
                out.push((work, upload));
            }
            None => gone.push(work),
        }
    }
    for work in &gone {
        apply::changed_all(ctx, work)?;
    }
    let sending: Vec<PathBuf> = out.iter().flat_map(|(w, _)| w.paths()).collect();
    ctx.ledger().set_states(&sending, State::Uploading, None)?;
    Ok(out)
}

/// Each work's item: by its part name (`fileN`), or by position only when the reply has no
/// names and one item per file.
pub(super) fn match_items(items: &[Item], works: usize) -> Vec<Option<Item>> {
    let unnamed = items.len() == works && items.iter().all(|it| it.key.is_none());
    (0..works)
        .map(|i| {
            let key = format!("file{}", i + 1);
            items
                .iter()
                .find(|it| it.key.as_deref() == Some(key.as_str()))
                .or_else(|| unnamed.then(|| &items[i]))
                .cloned()
        })
        .collect()
}

/// Records every job of a reply (Code 1 or 2 with an OriginalURL, for the bytes sent) in
/// one transaction, and marks their files pending. Returns how many were recorded.
async fn record(r: &Arc<Remote>, works: &[Work], items: &[Option<Item>]) -> anyhow::Result<usize> {
    let jobs: Vec<(Job, Vec<PathBuf>)> = works
        .iter()
        .zip(items)
        .filter_map(|(w, it)| {
            let it = it.as_ref()?;
            let url = it.original_url.clone()?;
            let whole = it.original_size.is_none_or(|s| s == w.size);
            ((it.code == 1 || it.code == 2) && whole).then(|| {
                let job = Job {
                    orig_hash: w.hash.clone(),
                    profile: w.profile.clone(),
                    original_url: url,
                    by_url: false,
                };
                (job, w.paths())
            })
        })
        .collect();
    if jobs.is_empty() {
        return Ok(0);
    }
    let n = jobs.len();
    r.blocking(move |ctx| Ok(ctx.ledger().record_jobs(&jobs)?))
        .await?;
    Ok(n)
}

fn ext(f: Format) -> &'static str {
    match f {
        Format::Jpeg => "jpg",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{FileRow, Stat};

    fn work(hash: &str, profile: &str, size: u64) -> Work {
        Work {
            hash: hash.into(),
            profile: profile.into(),
            format: Format::Jpeg,
            size,
            folder: 0,
            files: vec![FileRow::seen(
                PathBuf::from(format!("/p/{hash}.jpg")),
                PathBuf::from("/p"),
                Stat {
                    size,
                    mtime_ns: 0,
                    inode: 1,
                },
                hash.into(),
                Some("jpeg".into()),
                State::Queued,
            )],
            attempts: 0,
        }
    }

    fn hashes(b: &[Work]) -> Vec<&str> {
        b.iter().map(|w| w.hash.as_str()).collect()
    }

    #[test]
    fn batches_hold_one_profile_and_respect_files_bytes_and_backoff() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let mut q: VecDeque<(Work, Instant)> = [
            (work("a", "p1", 10), later),
            (work("b", "p1", 10), now),
            (work("c", "p2", 10), now),
            (work("d", "p1", 10), now),
            (work("e", "p1", 10), now),
        ]
        .into();
        // The first ready work sets the profile; the one still backing off waits.
        assert_eq!(hashes(&next_batch(&mut q, now, 2, 1000)), ["b", "d"]);
        assert_eq!(hashes(&next_batch(&mut q, now, 10, 1000)), ["c"]);
        assert_eq!(hashes(&next_batch(&mut q, now, 10, 1000)), ["e"]);
        assert!(next_batch(&mut q, now, 10, 1000).is_empty());
        assert_eq!(hashes(&next_batch(&mut q, later, 10, 1000)), ["a"]);

        // Bytes: a file larger than the limit still goes, alone.
        let mut q: VecDeque<(Work, Instant)> = [
            (work("big", "p", 500), now),
            (work("s1", "p", 60), now),
            (work("s2", "p", 60), now),
        ]
        .into();
        assert_eq!(hashes(&next_batch(&mut q, now, 10, 100)), ["big"]);
        assert_eq!(hashes(&next_batch(&mut q, now, 10, 100)), ["s1"]);
        assert_eq!(hashes(&next_batch(&mut q, now, 10, 100)), ["s2"]);
    }

    #[test]
    fn unrecorded_budget_is_one_file_for_quick_answers_and_grows_with_a_long_round_trip() {
        let mut u = Unrecorded::new(8, 10);
        assert_eq!(u.room(), 1);
        u.take(1);
        assert_eq!(u.room(), 0);
        u.release(1, Some(Duration::from_micros(300)));
        assert_eq!(u.room(), 1);
        // A nearby service: one file at a time, whatever a busy machine adds.
        for _ in 0..20 {
            u.release(0, Some(Duration::from_millis(15)));
        }
        assert_eq!(u.room(), 1);
        // A far one: enough files in flight to keep a pace of 2000 a second.
        for _ in 0..20 {
            u.release(0, Some(Duration::from_millis(100)));
        }
        assert_eq!(u.room(), 160);
        u.take(155);
        assert_eq!(u.room(), 5);
        for _ in 0..20 {
            u.release(0, Some(Duration::from_secs(30)));
        }
        assert_eq!(u.room(), 3 * 8 * 10 - 155);
        // One slot, requests of five: at most fifteen files, however far the service.
        let mut low = Unrecorded::new(1, 5);
        for _ in 0..20 {
            low.release(0, Some(Duration::from_millis(300)));
        }
        assert_eq!(low.room(), 15);
    }

    #[test]
    fn items_match_by_part_name_and_by_position_only_without_names() {
        let named = |k: &str, code| Item {
            key: Some(k.into()),
            code,
            ..Item::default()
        };
        let got = match_items(&[named("file2", 2), named("file1", 1)], 3);
        assert_eq!(got[0].as_ref().map(|i| i.code), Some(1));
        assert_eq!(got[1].as_ref().map(|i| i.code), Some(2));
        assert!(
            got[2].is_none(),
            "no guess for a file the reply did not name"
        );

        let unnamed = |code| Item {
            code,
            ..Item::default()
        };
        let got = match_items(&[unnamed(1), unnamed(2)], 2);
        assert_eq!(got[1].as_ref().map(|i| i.code), Some(2));
        // One item for two files: which one it answers cannot be known.
        assert!(match_items(&[unnamed(1)], 2).iter().all(Option::is_none));
    }
}
