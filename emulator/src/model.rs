//! The public vocabulary of the emulator: which endpoint a request hit, the faults a test can
//! inject, and the shape of the request log that tests assert on.

use std::collections::BTreeMap;
use std::time::Duration;

/// The endpoint a request was classified as. Faults are queued per endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /v2/post-reducer.php` carrying files (or carrying neither files nor URLs).
    Upload,
    /// `POST /v2/post-reducer.php` with `file_urls`.
    Poll,
    /// `POST /v2/reducer.php` with `urllist`: the emulator fetches each URL itself (see
    /// [`Fetch`]); a URL equal to an earlier upload's OriginalURL polls that job instead.
    ByUrl,
    /// `GET /dl/{job}/{variant}` (and `GET /orig/{job}`).
    Download,
    /// `POST|GET /v2/api-status.php`.
    ApiStatus,
    /// The CDN domain API (`GET {cdn}/add-domain|read-domain|set-domain|revoke-domain/…`).
    Domain,
}

/// A misbehaviour to play instead of (or on top of) the normal answer.
///
/// A fault that makes no sense for the endpoint it was queued on (e.g. `Truncate` on
/// `Upload`) is still consumed by the next request there, which is then answered normally:
/// that keeps "one queued fault = one request" easy to reason about in tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Top-level `{"Status":{"Code":code,"Message":..}}` object with HTTP 200.
    Refuse { code: i32, message: String },
    /// Normal array reply, but every item carries this status. Uploads create no job and cost
    /// no credit; polls do not advance the job.
    ItemError { code: i32, message: String },
    /// Bare HTTP error status with a short `text/plain` body.
    Http(u16),
    /// Read the request, then close the TCP connection without any HTTP response.
    Drop,
    /// Wait, then answer normally.
    Delay(Duration),
    /// Download: serve only the first half of the bytes (with a matching Content-Length).
    Truncate,
    /// Download: same length, but the start of the file is garbled so it no longer decodes.
    Corrupt,
    /// Upload/Poll: the job's result becomes the original plus trailing padding, i.e. larger
    /// than the original; reply sizes and served bytes stay consistent.
    Bigger,
    /// Download: HTTP 200 `text/html` with the `-302` "no longer available" JSON body.
    Expired,
    /// Upload/Poll: Code "2" with URLs but zero sizes (the "API waiting bug"); a poll answered
    /// this way does not count towards the job becoming ready.
    MissingSizes,
    /// Poll: every item answers -102 and the polled jobs are forgotten.
    JobGone,
    /// Any endpoint: HTTP 200 with this body verbatim (and the service's `text/html` type),
    /// e.g. an error page from a proxy, or JSON of an unexpected shape.
    Body(String),
    // Hostile servers (see `hostile.rs`): what a broken proxy, a captive portal, a server
    // that lies about sizes or a network gone to sleep put on the wire.
    /// Any endpoint: HTTP `status` (301, 302, 307, 308) with `Location` set to `to` followed
    /// by the request's path. Nothing is handled (no job, no credit).
    Redirect { status: u16, to: String },
    /// Any endpoint: HTTP 200 with an HTML error page that quotes the request's `key` field
    /// well past its 100th character, as a proxy echoing the request would.
    ErrorPage,
    /// Download: the bytes, then `extra` more, as a chunked body with no Content-Length.
    Oversize(u64),
    /// Download: a chunked body that never ends.
    Endless,
    /// Upload/Poll: the job's WebP becomes a valid 16×16 WebP (its announced size matching).
    SmallExtra,
    /// Any endpoint: accept the request and fall silent — a download after sending half its
    /// body — for this long, then close the connection without an answer. Uploads stall
    /// after reading the body and before making a job (no credit).
    Stall(Duration),
}

/// One file part of an upload, as seen by the emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// Multipart field name (`file1`, ...).
    pub field: String,
    /// The filename the client put in the part's Content-Disposition.
    pub filename: String,
    /// The value `file_paths` gave for this field ("" when absent).
    pub path_id: String,
    /// blake3 of the uploaded bytes, lowercase hex.
    pub hash: String,
    /// Uploaded byte length.
    pub size: u64,
}

/// One logged HTTP request, including those answered with a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub endpoint: Endpoint,
    /// The `key` field (from the body; for api-status also from the query string), if any.
    pub key: Option<String>,
    /// Non-file fields, raw. JSON bodies: strings as they are, other values as JSON text.
    /// A field repeated in a form (e.g. `file_urls[]`) is stored as a JSON array of strings.
    /// Query parameters of reducer requests appear as `?name` (they are not used as options).
    pub fields: BTreeMap<String, String>,
    pub files: Vec<UploadedFile>,
    /// Poll: the OriginalURLs asked about, in request order (percent-decoded).
    /// ByUrl: the `urllist` entries exactly as sent.
    /// Download: the requested path (`/dl/{job}/{variant}`).
    /// Domain: the requested path, with the key segment replaced by `{key}`.
    pub urls: Vec<String>,
    /// ShortPixel status codes of the reply: one per item for array replies, the single
    /// top-level code for object replies (refusals, api-status, an expired download).
    /// Empty when the reply carried no ShortPixel status: served image bytes, a bare HTTP
    /// error (`Fault::Http`, 404) or a dropped connection — see `http_status` for those.
    pub codes: Vec<i32>,
    /// HTTP status sent; 0 when the connection was dropped or the request is still running.
    pub http_status: u16,
    /// The fault this request consumed, if any.
    pub fault: Option<Fault>,
    /// The request's Content-Type header, raw ("" when absent).
    pub content_type: String,
    /// `post-reducer.php` only: when the request's head arrived (before any configured
    /// latency) and when the whole body had been read — the timeline a bandwidth test
    /// measures.
    pub timing: Option<(std::time::Instant, std::time::Instant)>,
}

/// One URL the emulator fetched for a `reducer.php` request (only real fetches: a result
/// served from the per-key cache makes none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The key of the request that caused it.
    pub key: String,
    /// The URL fetched, after the emulator's normalisation (a wholly encoded URL decoded).
    pub url: String,
    /// 1 when the fetch made a job, else the per-item error code sent for it.
    pub code: i32,
    /// Body bytes read (at most the cap plus one).
    pub bytes: u64,
}

/// How `read-domain` replies are shaped. The vendor page documents the status values but
/// not the reply, so the agent must read each of these the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DomainShape {
    /// `{"Status": 2, "Domain": ..., quota fields}` (what ShortPixel's partners read).
    #[default]
    Number,
    /// `{"Status": "2", ...}`.
    NumericString,
    /// `{"Status": {"Code": "2", "Message": ...}, ...}`.
    CodeObject,
    /// The bare number: `2`.
    Bare,
}
