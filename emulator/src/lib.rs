//! A loopback emulator of the ShortPixel API for shortpixel-agent's integration tests.
//!
//! It behaves like the service as captured on the wire (see
//! `shared/reference/shortpixel-wire-notes.md`), not like its idealised documentation:
//! string status codes, `text/html` JSON, misspelled size fields, top-level refusals as
//! objects, every upload a new job and a new credit. Images are really shrunk (by the
//! agent's own optimizer crate, `shortpixel-optimizer`) so downloads decode and have the
//! advertised sizes.
//!
//! Its purpose is fault injection: a test queues [`Fault`]s per [`Endpoint`] and then checks
//! how the agent coped, through the request log ([`Emulator::requests`]) and counters.
//!
//! It also serves `reducer.php` by really fetching each URL (from loopback only), and the
//! CDN domain API under [`Emulator::cdn_url`]. [`Site`] is a loopback web server for a
//! folder, for the emulator to fetch from.
//!
//! The server runs on its own thread with its own tokio runtime, so plain synchronous
//! `#[test]`s can use it while they drive the agent as a subprocess. It binds only
//! 127.0.0.1 (a random port unless told otherwise) and stops when the [`Emulator`] drops.
//!
//! ```no_run
//! use shortpixel_emulator::{Emulator, Endpoint, Fault};
//! let emu = Emulator::start_with_key("KEY", 100);
//! emu.inject(Endpoint::Upload, Fault::Http(503), 1);
//! // ... run the agent with api_url = emu.url() ...
//! assert_eq!(emu.credits_used("KEY"), 1);
//! ```

mod by_url;
mod domains;
mod fetch;
mod handlers;
mod hostile;
mod model;
mod parse;
mod recorder;
mod reducer;
mod server;
mod shrink;
mod site;
mod state;
mod wire;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use hostile::ERROR_PAGE_KEY_AT;
pub use model::{DomainShape, Endpoint, Fault, Fetch, Request, UploadedFile};
pub use recorder::Recorder;
pub use site::{Serve, Site};

use handlers::App;
use server::Background;
use state::Shared;

/// A running emulator. Dropping it stops the server and frees the port.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _server: Background,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("url", &self.url())
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts on a random port with no API keys (every key is refused with -401).
    ///
    /// # Panics
    /// If no loopback port can be bound or no thread started — tests cannot go on then.
    pub fn start() -> Emulator {
        Self::start_on(0).expect("start the ShortPixel emulator")
    }

    /// Starts on a random port with one key and its quota.
    pub fn start_with_key(key: &str, quota: u64) -> Emulator {
        let emu = Self::start();
        emu.add_key(key, quota);
        emu
    }

    /// Starts on 127.0.0.1:`port` (0 = random). Returns once the socket is listening.
    pub fn start_on(port: u16) -> std::io::Result<Emulator> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = App {
            shared: shared.clone(),
            base: format!("http://{addr}").into(),
            fetcher: fetch::client()?,
        };
        let server_shared = shared.clone();
        let server = Background::spawn("shortpixel-emulator", listener, move |listener, rx| {
            server::serve(listener, handlers::router(app), Some(server_shared), rx)
        })?;
        Ok(Emulator {
            shared,
            addr,
            _server: server,
        })
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base of the CDN domain API (the agent's `cdn_api_url`): `{url}/cdn`.
    pub fn cdn_url(&self) -> String {
        format!("{}/cdn", self.url())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Adds a key (or resets the quota of an existing one, keeping its usage).
    pub fn add_key(&self, key: &str, quota: u64) {
        self.shared
            .lock()
            .keys
            .entry(key.to_owned())
            .or_default()
            .quota = quota;
    }

    /// Changes a key's monthly quota, e.g. to "top up" while the agent waits for credits.
    pub fn set_quota(&self, key: &str, quota: u64) {
        self.add_key(key, quota);
    }

    /// Paid credits used by `key` (jobs improved by at least 5 %); 0 for an unknown key.
    pub fn credits_used(&self, key: &str) -> u64 {
        self.shared.lock().keys.get(key).map_or(0, |a| a.used)
    }

    /// 0: uploads answer Code 2 at once. n ≥ 1: uploads answer Code 1 and each job turns
    /// Code 2 on its n-th poll. Applies to jobs created afterwards.
    pub fn pending_polls(&self, n: u32) {
        self.shared.lock().pending_polls = n;
    }

    /// Every job takes this long to process after its upload: until then it answers Code 1,
    /// and an upload or poll sent with `wait` is held until it is ready (at most `wait`).
    /// With a processing time set, uploads are answered at once and results computed in
    /// the background, as the service does (see `reducer`).
    pub fn processing_time(&self, d: Duration) {
        self.shared.lock().processing = d;
    }

    /// Every request (uploads, polls, downloads, api-status) waits this long before it is
    /// handled, like a service far away.
    pub fn latency(&self, d: Duration) {
        self.shared.lock().latency = d;
    }

    /// Uploaded files larger than this get a per-item -111 "File too big".
    pub fn max_file_size(&self, bytes: u64) {
        self.shared.lock().max_file_size = Some(bytes);
    }

    /// Queues `fault` for the next `times` requests to `endpoint` (FIFO per endpoint).
    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: usize) {
        let mut st = self.shared.lock();
        let queue = st.faults.entry(endpoint).or_default();
        queue.extend(std::iter::repeat_n(fault, times));
    }

    /// Every upload of the bytes with this blake3 hash gets this per-item status.
    pub fn fail_content(&self, blake3_hex: &str, code: i32, message: &str) {
        self.shared
            .lock()
            .content_faults
            .insert(blake3_hex.to_ascii_lowercase(), (code, message.to_owned()));
    }

    /// Calls `hook` for each uploaded file after it was received and before the reply is
    /// sent (also for requests answered with a fault). Runs on a worker thread.
    pub fn on_upload(&self, hook: impl Fn(&UploadedFile) + Send + Sync + 'static) {
        self.shared.lock().hooks.push(Arc::new(hook));
    }

    /// Every request so far, in arrival order, including faulted ones.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.lock().log.clone()
    }

    /// Number of files uploaded (not requests), faulted requests included.
    pub fn uploads(&self) -> usize {
        self.count(|r| {
            matches!(r.endpoint, Endpoint::Upload)
                .then_some(r.files.len())
                .unwrap_or(0)
        })
    }

    /// Each upload request's file bytes, with when its head arrived and when its whole body
    /// had been read, in arrival order.
    pub fn upload_timeline(&self) -> Vec<(Instant, Instant, u64)> {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| matches!(r.endpoint, Endpoint::Upload))
            .filter_map(|r| {
                let (began, read) = r.timing?;
                Some((began, read, r.files.iter().map(|f| f.size).sum()))
            })
            .collect()
    }

    /// Number of uploaded files with this blake3 hash.
    pub fn uploads_of(&self, blake3_hex: &str) -> usize {
        let hash = blake3_hex.to_ascii_lowercase();
        self.count(|r| r.files.iter().filter(|f| f.hash == hash).count())
    }

    /// Number of OriginalURLs asked about by poll requests (faulted ones included).
    pub fn polls(&self) -> usize {
        self.count(|r| {
            matches!(r.endpoint, Endpoint::Poll)
                .then_some(r.urls.len())
                .unwrap_or(0)
        })
    }

    /// Every URL fetched for `reducer.php` so far (results served from the cache made none).
    pub fn fetches(&self) -> Vec<Fetch> {
        self.shared.lock().fetches.clone()
    }

    /// Number of URL fetches made (each a new job and, when it shrank, a credit).
    pub fn url_fetches(&self) -> usize {
        self.shared.lock().fetches.len()
    }

    /// How long one URL fetch may take, body included (default 30 s).
    pub fn fetch_timeout(&self, d: Duration) {
        self.shared.lock().fetch_timeout = Some(d);
    }

    /// Adds a CDN domain, associated with `owner` (or with no account).
    pub fn add_domain(&self, domain: &str, owner: Option<&str>) {
        self.shared
            .lock()
            .domains
            .entry(domain.to_ascii_lowercase())
            .or_default()
            .owner = owner.map(str::to_owned);
    }

    /// `None`: the domain is unknown; `Some(None)`: known but associated with no account.
    pub fn domain_owner(&self, domain: &str) -> Option<Option<String>> {
        let st = self.shared.lock();
        st.domains
            .get(&domain.to_ascii_lowercase())
            .map(|d| d.owner.clone())
    }

    /// Forces the status value `read-domain` reports for a known domain (2, 1, -1, -2, -3,
    /// or anything else); otherwise it follows the owner's credits.
    pub fn set_domain_status(&self, domain: &str, status: i32) {
        if let Some(d) = self
            .shared
            .lock()
            .domains
            .get_mut(&domain.to_ascii_lowercase())
        {
            d.status = Some(status);
        }
    }

    /// How `read-domain` replies are shaped from now on.
    pub fn domain_shape(&self, shape: DomainShape) {
        self.shared.lock().domain_shape = shape;
    }

    /// Bytes handed out by streamed bodies (`Fault::Oversize`, `Endless`, `Stall`): how much
    /// of an overlong body a client read before it stopped (plus what socket buffers held).
    pub fn bytes_streamed(&self) -> u64 {
        self.shared
            .streamed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Highest number of requests the server was handling at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight()
    }

    fn count(&self, per_request: impl Fn(&Request) -> usize) -> usize {
        self.shared.lock().log.iter().map(per_request).sum()
    }
}
