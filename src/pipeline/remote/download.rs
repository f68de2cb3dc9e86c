//! Delivering a finished job: download its results (never past their announced size),
//! verify them (G6: whole, decodable, the expected format and dimensions, smaller — the
//! WebP/AVIF extras too), and hand them to a group shared with other results
//! (`apply::apply_paid`), whose commit forgets the job once the result is durable.
//!
//! Transfer problems (a drop, a short or overlong body, bytes that do not decode) are
//! fetched again, a bounded number of times; an expired link sends the job back to be asked
//! about again (fresh links, no upload); a verdict on the bytes fails the file with the
//! reason while the job stays recorded.

use std::io::BufReader;
use std::sync::Arc;

use super::answer::Selection;
use super::{pause, Event, Flow, Remote, Work};
use crate::config::Convert;
use crate::content::Format;
use crate::optimize::shortpixel::{ApiError, DownloadError};
use crate::optimize::Delivered;
use crate::pipeline::apply;
use crate::verify::{self, Rejection};

/// How a delivery ended.
#[derive(Debug)]
pub(super) enum Delivery {
    /// Applied, recorded as already optimal, or set aside because the file changed.
    Done,
    /// A download link had expired: ask about the job again.
    Expired,
    /// The result failed G6 after every try.
    Rejected(String),
}

impl Flow {
    /// Starts the delivery of a finished job.
    pub(super) fn deliver(&mut self, work: Work, url: String, sel: Selection) {
        let r = self.r.clone();
        self.tasks.spawn(async move {
            let out = deliver(&r, &work, sel).await;
            Event::Delivered { work, url, out }
        });
    }
}

async fn deliver(r: &Arc<Remote>, work: &Work, sel: Selection) -> anyhow::Result<Delivery> {
    let w = work.clone();
    let Some(dims) = tokio::task::spawn_blocking(move || original_dimensions(&w)).await? else {
        // No file holds the content any more: the new content is processed on its own.
        let w = work.clone();
        r.blocking(move |ctx| apply::changed_all(ctx, &w)).await?;
        return Ok(Delivery::Done);
    };
    let orig = dims.map(|d| verify::expected_dimensions(d, r.settings(work).resize));
    let main = match sel.main {
        None => None,
        Some((url, size)) => match fetch(r, &url, size, work.format, orig, work.size).await {
            Ok(bytes) => Some(bytes),
            Err(Fetch::NotSmaller) => None,
            Err(Fetch::Expired) => return Ok(Delivery::Expired),
            Err(Fetch::Rejected(why)) => return Ok(Delivery::Rejected(why)),
        },
    };
    let mut extras = Vec::new();
    for (convert, url, size) in sel.extras {
        let format = match convert {
            Convert::Webp => Format::Webp,
            Convert::Avif => Format::Avif,
        };
        // G6 for extras: the dimensions of the main result, and smaller than the original.
        match fetch(r, &url, size, format, orig, work.size).await {
            Ok(bytes) => extras.push((convert, bytes)),
            Err(Fetch::Expired) => return Ok(Delivery::Expired),
            Err(e) => tracing::warn!(
                "{}: the {} copy is not written: {}",
                work.files[0].path.display(),
                format.as_str(),
                e.why()
            ),
        }
    }
    // Put in place by a group shared with other results, whose commit forgets the job once
    // the result is durable; the flow commits a group nobody fills any more.
    let (me, w) = (r.clone(), work.clone());
    let delivered = Delivered { main, extras };
    tokio::task::spawn_blocking(move || apply::apply_paid(&me.ctx, &w, &delivered, &me.pending))
        .await??;
    Ok(Delivery::Done)
}

/// The dimensions of the original (`Some(None)` for a format whose header is not read),
/// from the first of the work's files that still holds its content, read through one
/// descriptor without loading it whole; `None` when none does (G3 is checked again when
/// the result is applied).
fn original_dimensions(work: &Work) -> Option<Option<(u32, u32)>> {
    use std::io::{Seek, SeekFrom};
    work.files.iter().find_map(|file| {
        let (mut fd, meta) = crate::open::open_regular(&file.path).ok()?;
        let same = crate::open::hash_reader(&mut fd, meta.len()).ok()? == work.hash;
        if !same {
            return None;
        }
        let Some(f) = work.format.image_format() else {
            return Some(None);
        };
        fd.seek(SeekFrom::Start(0)).ok()?;
        Some(
            image::ImageReader::with_format(BufReader::new(fd), f)
                .into_dimensions()
                .ok(),
        )
    })
}

#[derive(Debug)]
enum Fetch {
    NotSmaller,
    Expired,
    Rejected(String),
}

impl Fetch {
    fn why(&self) -> String {
        match self {
            Fetch::NotSmaller => "it is not smaller than the original".into(),
            Fetch::Expired => "its link expired".into(),
            Fetch::Rejected(why) => why.clone(),
        }
    }
}

/// Downloads one result of `size` bytes and checks it, fetching again after transfer
/// problems.
async fn fetch(
    r: &Arc<Remote>,
    url: &str,
    size: u64,
    format: Format,
    dims: Option<(u32, u32)>,
    orig: u64,
) -> Result<Vec<u8>, Fetch> {
    let mut attempt = 0;
    loop {
        let why = match r.client.download(url, size, &r.slots).await {
            Ok(bytes) => match check(bytes, format, dims, size, orig).await {
                Ok(bytes) => return Ok(bytes),
                Err(Rejection::NotSmaller { .. }) => return Err(Fetch::NotSmaller),
                Err(e) if e.is_transfer_problem() => e.to_string(),
                Err(e) => return Err(Fetch::Rejected(e.to_string())),
            },
            Err(DownloadError::TooLong(limit)) => format!(
                "the download was longer than the {limit} bytes announced; reading stopped there"
            ),
            Err(DownloadError::Api(ApiError::Expired)) => return Err(Fetch::Expired),
            Err(DownloadError::Api(e)) if e.is_transient() => e.to_string(),
            Err(DownloadError::Api(e)) => return Err(Fetch::Rejected(e.to_string())),
        };
        attempt += 1;
        if attempt > r.net.max_retries {
            return Err(Fetch::Rejected(why));
        }
        tracing::warn!("download: {why}; fetching it again");
        tokio::time::sleep(pause(&r.net, attempt, false)).await;
    }
}

/// G6's check decodes the image: CPU work, so it runs on the blocking pool.
async fn check(
    bytes: Vec<u8>,
    format: Format,
    dims: Option<(u32, u32)>,
    size: u64,
    orig: u64,
) -> Result<Vec<u8>, Rejection> {
    tokio::task::spawn_blocking(move || {
        verify::check(&bytes, format, dims, Some(size), orig).map(|()| bytes)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}
