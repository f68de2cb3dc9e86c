//! Bytes on the wire, bounded: uploads stream from disk, downloads stop at their announced
//! size, and a request that makes no progress is abandoned.
//!
//! - [`FileBody`]: one file part of an upload, read and hashed on a blocking thread in
//!   chunks of [`CHUNK`]. At most two chunks wait in memory per request, whatever the file
//!   sizes. The **last** chunk goes out only once the whole file hashed to the content the
//!   caller expects: a file that changed while it was being sent never reaches the service
//!   whole (the body fails, the request is cut short, no job is made), so the bytes sent are
//!   always the bytes hashed (G3).
//! - [`read_capped`]: a response body read chunk by chunk that stops as soon as it passes
//!   the size the service announced — an endless or oversized body costs that much memory,
//!   not its own size.
//! - With an upload bandwidth limit (`[limits] upload_kbps`), each chunk goes out in pieces
//!   paid for in the process's shared [`Throttle`] before they are sent; still no more
//!   than one chunk per part waits in memory.
//! - [`watched`]: a request is given up when nothing moved (no chunk sent or received) for
//!   the idle time: a laptop that slept or a network that vanished ends in a timeout the
//!   caller can retry, never in a hang.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::limits::Throttle;

/// Bytes read from disk per chunk.
pub const CHUNK: usize = 256 * 1024;

/// Counts chunks moved by a request, for [`watched`].
#[derive(Debug, Default, Clone)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn tick(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `fut` until it ends, or until `progress` has not moved for `idle` (then `None`).
pub async fn watched<F: std::future::Future>(
    fut: F,
    progress: &Progress,
    idle: Duration,
) -> Option<F::Output> {
    tokio::pin!(fut);
    let mut seen = progress.get();
    loop {
        tokio::select! {
            out = &mut fut => return Some(out),
            _ = tokio::time::sleep(idle) => {
                let now = progress.get();
                if now == seen {
                    return None;
                }
                seen = now;
            }
        }
    }
}

/// What a failed file part left behind: which part, and why (read by the client after the
/// request failed, to tell "this file changed" from "the network failed").
pub type PartFailure = Arc<Mutex<Option<(usize, String)>>>;

/// The end of an upload's body: releases its transfer slot and notes the moment, from which
/// the reply is awaited.
#[derive(Debug)]
pub struct BodyEnd {
    slot: Option<OwnedSemaphorePermit>,
    pub at: Arc<Mutex<Option<Instant>>>,
}

impl BodyEnd {
    pub fn new(slot: Option<OwnedSemaphorePermit>) -> BodyEnd {
        BodyEnd {
            slot,
            at: Arc::default(),
        }
    }
    fn reached(&mut self) {
        self.slot = None;
        *self.at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }
}

/// One file part of an upload (see the module doc).
pub struct FileBody {
    size: u64,
    index: usize,
    start: Option<(std::fs::File, String)>,
    rx: Option<mpsc::Receiver<Result<Bytes, String>>>,
    failure: PartFailure,
    progress: Progress,
    /// Only the last part carries it: the body ends when that part ends.
    end: Option<BodyEnd>,
    /// The upload bandwidth limit, when set.
    throttle: Option<Arc<Throttle>>,
    /// The rest of a chunk not yet sent (throttled only).
    rest: Option<Bytes>,
    /// A piece paid for, and the moment it may go.
    paid: Option<(Bytes, Pin<Box<tokio::time::Sleep>>)>,
}

impl FileBody {
    /// `file` is read from where it stands; `hash` is the blake3 hex its bytes must have.
    pub fn new(
        file: std::fs::File,
        size: u64,
        hash: String,
        index: usize,
        failure: PartFailure,
        progress: Progress,
        end: Option<BodyEnd>,
    ) -> FileBody {
        FileBody {
            size,
            index,
            start: Some((file, hash)),
            rx: None,
            failure,
            progress,
            end,
            throttle: None,
            rest: None,
            paid: None,
        }
    }

    /// Sends the file's bytes through `throttle` (when it has a rate).
    pub fn throttled(mut self, throttle: Option<Arc<Throttle>>) -> FileBody {
        self.throttle = throttle;
        self
    }

    /// The next piece of a chunk held back by the throttle: ready, waiting for its moment,
    /// or `None` when no chunk is held.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Option<Poll<Bytes>> {
        loop {
            if let Some((_, sleep)) = self.paid.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Some(Poll::Pending);
                }
                let (piece, _) = self.paid.take().expect("checked above");
                return Some(Poll::Ready(piece));
            }
            let rest = self.rest.as_mut()?;
            let throttle = self.throttle.as_ref()?;
            let n = throttle.piece(CHUNK).min(rest.len());
            let piece = rest.split_to(n);
            if rest.is_empty() {
                self.rest = None;
            }
            match throttle.reserve(n) {
                Some(at) => {
                    self.paid = Some((piece, Box::pin(tokio::time::sleep_until(at.into()))));
                }
                None => return Some(Poll::Ready(piece)),
            }
        }
    }

    fn fail(&self, why: String) -> std::io::Error {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some((self.index, why.clone()));
        std::io::Error::other(why)
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.poll_piece(cx) {
            Some(Poll::Pending) => return Poll::Pending,
            Some(Poll::Ready(piece)) => {
                self.progress.tick();
                return Poll::Ready(Some(Ok(Frame::data(piece))));
            }
            None => {}
        }
        if let Some((file, hash)) = self.start.take() {
            // Started only when the part is reached, so one part is read at a time.
            let (tx, rx) = mpsc::channel(1);
            let size = self.size;
            tokio::task::spawn_blocking(move || produce(file, size, &hash, &tx));
            self.rx = Some(rx);
        }
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(chunk))) => {
                if self.throttle.as_ref().is_some_and(|t| t.rate().is_some()) {
                    self.rest = Some(chunk);
                    // Polled again at once: the first piece is paid for now.
                    return self.poll_frame(cx);
                }
                self.progress.tick();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Some(Err(why))) => {
                self.rx = None;
                Poll::Ready(Some(Err(self.fail(why))))
            }
            Poll::Ready(None) => {
                self.rx = None;
                if let Some(end) = self.end.as_mut() {
                    end.reached();
                }
                Poll::Ready(None)
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.size)
    }
}

/// Reads `file` in chunks, hashing as it goes; sends each chunk once the next one is read,
/// and the last one only if the whole file has `size` bytes hashing to `hash`.
fn produce(
    mut file: std::fs::File,
    size: u64,
    hash: &str,
    tx: &mpsc::Sender<Result<Bytes, String>>,
) {
    let mut hasher = blake3::Hasher::new();
    let mut held: Option<Bytes> = None;
    let mut total = 0u64;
    loop {
        let mut buf = vec![0u8; CHUNK];
        let n = match crate::open::read_full(&mut file, &mut buf) {
            Ok(n) => n,
            Err(e) => {
                let _ = tx.blocking_send(Err(format!("cannot read the file: {e}")));
                return;
            }
        };
        if n == 0 {
            break;
        }
        buf.truncate(n);
        hasher.update(&buf);
        total += n as u64;
        if let Some(prev) = held.replace(Bytes::from(buf)) {
            if tx.blocking_send(Ok(prev)).is_err() {
                return; // the request was dropped
            }
        }
    }
    let whole = total == size && hasher.finalize().to_hex().as_str() == hash;
    let last = if whole {
        held.map(Ok)
    } else {
        Some(Err(
            "it changed while it was being sent; the new content will be processed".to_string(),
        ))
    };
    if let Some(last) = last {
        let _ = tx.blocking_send(last);
    }
}

/// Why a capped read stopped short of a body.
#[derive(Debug)]
pub enum Capped {
    /// More than `limit` bytes arrived (or were announced): the rest was not read.
    TooLong { limit: u64 },
    /// The connection failed or stalled mid-body.
    Transfer(String),
}

/// Reads a response body, at most `limit` bytes: a body announcing more, or sending more, is
/// refused as soon as that is known. Each chunk counts as progress for [`watched`].
pub async fn read_capped(
    mut resp: reqwest::Response,
    limit: u64,
    progress: &Progress,
) -> Result<Vec<u8>, Capped> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(Capped::TooLong { limit });
    }
    let mut out = Vec::with_capacity(limit.min(16 * 1024 * 1024) as usize);
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                progress.tick();
                if out.len() as u64 + chunk.len() as u64 > limit {
                    return Err(Capped::TooLong { limit });
                }
                out.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(out),
            Err(e) => return Err(Capped::Transfer(e.without_url().to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(mut body: FileBody) -> (Vec<u8>, Option<String>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            use http_body_util::BodyExt;
            let mut out = Vec::new();
            while let Some(frame) = body.frame().await {
                match frame {
                    Ok(f) => out.extend_from_slice(f.data_ref().unwrap()),
                    Err(e) => return (out, Some(e.to_string())),
                }
            }
            (out, None)
        })
    }

    fn body_of(path: &std::path::Path, hash: &str, size: u64) -> (FileBody, PartFailure) {
        let failure = PartFailure::default();
        let file = std::fs::File::open(path).unwrap();
        let body = FileBody::new(
            file,
            size,
            hash.to_string(),
            3,
            failure.clone(),
            Progress::default(),
            None,
        );
        (body, failure)
    }

    #[test]
    fn the_bytes_sent_are_the_bytes_hashed() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 1, CHUNK - 1, CHUNK, 3 * CHUNK + 5] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let p = dir.path().join("f");
            std::fs::write(&p, &bytes).unwrap();
            let hash = blake3::hash(&bytes).to_hex().to_string();
            let (body, failure) = body_of(&p, &hash, size as u64);
            let (sent, err) = drain(body);
            assert_eq!(err, None, "{size} bytes");
            assert_eq!(sent, bytes, "{size} bytes");
            assert!(failure.lock().unwrap().is_none());
        }
    }

    #[test]
    fn g3_a_file_that_is_not_the_hashed_content_never_goes_out_whole() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let recorded: Vec<u8> = vec![1; 2 * CHUNK + 10];
        let hash = blake3::hash(&recorded).to_hex().to_string();
        let mut edited = recorded.clone();
        *edited.last_mut().unwrap() = 2;
        std::fs::write(&p, &edited).unwrap();
        let (body, failure) = body_of(&p, &hash, recorded.len() as u64);
        let (sent, err) = drain(body);
        assert!(err.unwrap().contains("changed"));
        assert!(
            sent.len() < recorded.len(),
            "the last chunk was sent: {} bytes",
            sent.len()
        );
        assert_eq!(failure.lock().unwrap().as_ref().map(|f| f.0), Some(3));

        // A file that grew is caught the same way.
        std::fs::write(&p, [recorded.as_slice(), b"more"].concat()).unwrap();
        let (body, _) = body_of(&p, &hash, recorded.len() as u64);
        assert!(drain(body).1.is_some());
    }
}
