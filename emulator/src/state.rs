//! Everything the emulator remembers between requests: keys and credits, jobs and their
//! results, the per-key cache of URL jobs, CDN domains, queued faults, upload hooks and the
//! request and fetch logs.
//!
//! One `std::sync::Mutex` guards it all. It is never held across an `.await` or while
//! image work or a test hook runs, so the test thread's accessors never wait long.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;

use crate::model::{DomainShape, Endpoint, Fault, Fetch, Request, UploadedFile};
use crate::shrink::Shrunk;

/// A test callback run for each uploaded file before the reply goes out.
pub(crate) type Hook = Arc<dyn Fn(&UploadedFile) + Send + Sync + 'static>;

/// Credits of one API key.
#[derive(Debug, Default)]
pub(crate) struct Account {
    pub quota: u64,
    /// Paid jobs (improved by at least 5 %).
    pub used: u64,
    /// Free jobs (improved by less than 5 %), reported as `APICallsFree`.
    pub free: u64,
}

/// One optimisation job, created by one uploaded file.
#[derive(Debug)]
pub(crate) struct Job {
    pub original: Bytes,
    pub result: Shrunk,
    /// The `lossy` option of the upload (decides which variant the percentage is about).
    pub lossy_mode: u8,
    /// `PercentImprovement` as sent on the wire.
    pub percent: String,
    /// Polls still needed before the job answers Code 2.
    pub polls_left: u32,
    /// When the job's processing ends (see [`State::processing`]).
    pub ready_at: Instant,
    pub timestamp: String,
}

impl Job {
    /// Whether the job still answers Code 1.
    pub fn pending(&self) -> bool {
        self.polls_left > 0 || Instant::now() < self.ready_at
    }
}

#[derive(Default)]
pub(crate) struct State {
    pub keys: HashMap<String, Account>,
    pub jobs: HashMap<String, Job>,
    pub next_job: u64,
    pub pending_polls: u32,
    /// How long each job takes to process after its upload.
    pub processing: Duration,
    /// Added before every request is handled, like a far-away service.
    pub latency: Duration,
    pub max_file_size: Option<u64>,
    pub faults: HashMap<Endpoint, VecDeque<Fault>>,
    /// blake3 hex → per-item status forced on every upload of those bytes.
    pub content_faults: HashMap<String, (i32, String)>,
    pub hooks: Vec<Hook>,
    pub log: Vec<Request>,
    /// (key, fetched URL) → the job its last fetch made: asked again without `refresh`, the
    /// service answers from it, without fetching or charging again.
    pub url_jobs: HashMap<(String, String), String>,
    pub fetches: Vec<Fetch>,
    /// How long one URL fetch may take, body included.
    pub fetch_timeout: Option<Duration>,
    /// CDN domains by name.
    pub domains: HashMap<String, Domain>,
    pub domain_shape: DomainShape,
}

/// A domain known to the CDN domain API.
#[derive(Debug, Default, Clone)]
pub(crate) struct Domain {
    /// The key it is associated with; `None`: added without one (free credits only).
    pub owner: Option<String>,
    /// A status value forced by a test; otherwise it follows the owner's credits.
    pub status: Option<i32>,
}

/// The state plus lock-free counters, shared by the server and the test-facing handle.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// Counts a request as in flight until dropped (also when its future is cancelled).
pub(crate) struct InFlight<'a>(&'a Shared);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    /// Locks the state. A panicking test hook must not wedge every later request, so a
    /// poisoned lock is simply taken over.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(self)
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight.load(Ordering::SeqCst)
    }

    /// Logs a request on arrival (so the log keeps arrival order); returns its index.
    pub fn log_begin(&self, request: Request) -> usize {
        let mut st = self.lock();
        st.log.push(request);
        st.log.len() - 1
    }

    /// Records how a logged request was answered.
    pub fn log_finish(&self, idx: usize, codes: Vec<i32>, http_status: u16) {
        if let Some(r) = self.lock().log.get_mut(idx) {
            r.codes = codes;
            r.http_status = http_status;
        }
    }

    /// Pops the next queued fault for `endpoint` and notes it in the log entry.
    pub fn take_fault(&self, endpoint: Endpoint, idx: usize) -> Option<Fault> {
        let mut st = self.lock();
        let fault = st.faults.get_mut(&endpoint).and_then(VecDeque::pop_front);
        if let Some(r) = st.log.get_mut(idx) {
            r.fault.clone_from(&fault);
        }
        fault
    }

    pub fn hooks(&self) -> Vec<Hook> {
        self.lock().hooks.clone()
    }
}

impl State {
    /// A fresh job id: a sequence number (readable in test failures) plus a hash prefix.
    pub fn next_job_id(&mut self, hash: &str) -> String {
        self.next_job += 1;
        format!("j{:06}-{}", self.next_job, &hash[..hash.len().min(12)])
    }

    /// Credits left for `key`, or `None` if the key is unknown.
    pub fn credits_left(&self, key: &str) -> Option<u64> {
        self.keys.get(key).map(|a| a.quota.saturating_sub(a.used))
    }

    /// Charges one job to `key`: a paid credit when `paid`, else a free one. `false` when a
    /// paid job finds no credit left (or the key is unknown): the job must not be made.
    pub fn charge(&mut self, key: &str, paid: bool) -> bool {
        match self.keys.get_mut(key) {
            Some(a) if paid && a.used >= a.quota => false,
            Some(a) => {
                if paid {
                    a.used += 1;
                } else {
                    a.free += 1;
                }
                true
            }
            None => false,
        }
    }
}
