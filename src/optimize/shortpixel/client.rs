//! HTTP calls to the ShortPixel API: upload (multipart POST Reducer, streamed from disk),
//! poll (`file_urls`, with a long `wait`), download (capped at the announced size), and
//! api-status. Each call is one attempt; the pipeline decides what to try again.
//!
//! - **The key (G8)** travels only in request bodies — never in a URL, so never in an error
//!   message — and any text from the service is scrubbed of it before it is shown. API calls
//!   never follow a redirect: following one would send the request, key included, wherever
//!   `Location` points; a 3xx is reported in words instead. Downloads follow redirects: they
//!   carry no key.
//! - **Uploads** (`upload.rs`) stream from disk: see there.
//! - **Nothing hangs**: a request with no progress for `network.timeout` is abandoned (a
//!   poll is allowed its `wait` on top), and a download stops at its announced size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::multipart::Form;
use reqwest::redirect::Policy;
use serde_json::json;
use tokio::sync::Semaphore;

use super::stream::{read_capped, watched, Capped, Progress};
use super::wire::{self, Item, Reply};
use super::{scrub, transport, ApiError};
use crate::config::{ApiKey, Compression, Convert, FolderSettings, Network, ResizeMode};
use crate::dashboard::metrics::{self, Call};

const PLUGIN_VERSION: &str = "SPA01";

/// The most a reply (a JSON list of results, an error page) may weigh.
const REPLY_LIMIT: u64 = 4 * 1024 * 1024;

/// Why a download failed.
#[derive(Debug)]
pub enum DownloadError {
    Api(ApiError),
    /// The body was longer than announced; reading stopped there.
    TooLong(u64),
}

/// Credits as api-status reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Credits {
    pub used: u64,
    pub quota: u64,
    pub one_time_used: u64,
    pub one_time_quota: u64,
    pub remaining: u64,
    pub unlimited: bool,
}

#[derive(Clone)]
pub struct Client {
    /// API calls: never redirected.
    pub(super) api: reqwest::Client,
    /// Downloads: redirects followed (no key is ever in them).
    files: reqwest::Client,
    pub(super) base: String,
    pub(super) key: ApiKey,
    pub(super) idle: Duration,
    /// The upload bandwidth limit every upload body of the process shares.
    pub(super) throttle: Option<std::sync::Arc<crate::limits::Throttle>>,
}

impl Client {
    pub fn new(base: &str, key: ApiKey, net: &Network) -> Result<Client, ApiError> {
        let build = |redirects: Policy| {
            reqwest::Client::builder()
                .connect_timeout(net.timeout.min(Duration::from_secs(30)))
                .user_agent(concat!("shortpixel-agent/", env!("CARGO_PKG_VERSION")))
                .redirect(redirects)
                .build()
                .map_err(|e| ApiError::Refused(format!("cannot set up HTTPS: {e}")))
        };
        Ok(Client {
            api: build(Policy::none())?,
            files: build(Policy::limited(5))?,
            base: base.trim_end_matches('/').to_string(),
            key,
            idle: net.timeout,
            throttle: None,
        })
    }

    /// Uploads from this client send their file bytes through `throttle` (`[limits]
    /// upload_kbps`).
    pub fn throttled(mut self, throttle: std::sync::Arc<crate::limits::Throttle>) -> Client {
        self.throttle = Some(throttle);
        self
    }

    /// Options common to uploads and polls, as (field, value) pairs.
    pub(super) fn options(&self, s: &FolderSettings, wait: u32) -> Vec<(&'static str, String)> {
        let lossy = match s.compression {
            Compression::Lossless => "0",
            Compression::Lossy => "1",
            Compression::Glossy => "2",
        };
        let mut o = vec![
            ("plugin_version", PLUGIN_VERSION.to_string()),
            ("lossy", lossy.to_string()),
            ("wait", wait.to_string()),
            ("cmyk2rgb", "1".to_string()),
            ("keep_exif", u8::from(s.keep_exif).to_string()),
            ("refresh", "0".to_string()),
        ];
        match s.resize {
            None => o.push(("resize", "0".into())),
            Some(r) => {
                let mode = match r.mode {
                    ResizeMode::Outer => "1",
                    ResizeMode::Inner => "3",
                };
                o.push(("resize", mode.into()));
                o.push(("resize_width", r.width.to_string()));
                o.push(("resize_height", r.height.to_string()));
            }
        }
        // Ask for conversions only when they will be saved: they cost time at the service.
        let convert: Vec<&str> = s
            .convert
            .iter()
            .map(|c| match c {
                Convert::Webp => "+webp",
                Convert::Avif => "+avif",
            })
            .collect();
        if !convert.is_empty() {
            o.push(("convertto", convert.join("|")));
        }
        o
    }

    /// Asks about jobs by OriginalURL; the service may hold the request up to `wait` seconds
    /// until they are done.
    pub async fn poll(
        &self,
        urls: &[String],
        s: &FolderSettings,
        wait: u32,
    ) -> Result<Vec<Item>, ApiError> {
        let mut body = self.json_body(s, wait);
        let file_urls: serde_json::Map<String, serde_json::Value> = urls
            .iter()
            .enumerate()
            .map(|(i, u)| (format!("url{}", i + 1), json!(u)))
            .collect();
        body.insert("file_urls".into(), serde_json::Value::Object(file_urls));
        let started = Instant::now();
        let out = self.post_json("post-reducer.php", body, wait).await;
        metrics::observe(Call::Poll, started, &out);
        out
    }

    /// The key and the options, as the start of a JSON request body.
    pub(super) fn json_body(
        &self,
        s: &FolderSettings,
        wait: u32,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut body = serde_json::Map::new();
        body.insert("key".into(), json!(self.key.expose()));
        for (k, v) in self.options(s, wait) {
            body.insert(k.into(), json!(v));
        }
        body
    }

    /// POSTs a JSON body to `/v2/{endpoint}` and reads the items of the reply; the service
    /// may hold it `wait` seconds, on top of the idle time allowed.
    pub(super) async fn post_json(
        &self,
        endpoint: &str,
        body: serde_json::Map<String, serde_json::Value>,
        wait: u32,
    ) -> Result<Vec<Item>, ApiError> {
        let url = format!("{}/v2/{endpoint}", self.base);
        let req = self.api.post(&url).json(&serde_json::Value::Object(body));
        let progress = Progress::default();
        let idle = self.idle + Duration::from_secs(wait.into());
        watched(
            self.items(req, &url, "the request", &progress),
            &progress,
            idle,
        )
        .await
        .unwrap_or_else(|| Err(self.stalled("the request", idle)))
        .map(|(items, _)| items)
    }

    pub(super) async fn items(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        what: &str,
        progress: &Progress,
    ) -> Result<(Vec<Item>, Instant), ApiError> {
        let (body, answered) = self.answer(req, url, what, progress).await?;
        match wire::parse(&body).map_err(|e| self.not_a_reply(e, &body))? {
            // Per-item messages end up in the ledger and in status: scrub them too (G8).
            Reply::Items(items) => Ok((
                items
                    .into_iter()
                    .map(|mut it| {
                        if it.code < 0 {
                            metrics::api_error(it.code);
                        }
                        it.message = self.scrub(&it.message);
                        it
                    })
                    .collect(),
                answered,
            )),
            Reply::Refused { code, message } => {
                metrics::api_error(code);
                Err(ApiError::from_code(code, &self.scrub(&message)))
            }
        }
    }

    /// Sends an API call and reads its answer's text (and when it began to arrive): never
    /// redirected, at most [`REPLY_LIMIT`] bytes.
    async fn answer(
        &self,
        req: reqwest::RequestBuilder,
        url: &str,
        what: &str,
        progress: &Progress,
    ) -> Result<(String, Instant), ApiError> {
        let resp = req
            .send()
            .await
            .map_err(|e| transport::failure(what, url, e))?;
        let answered = Instant::now();
        let status = resp.status();
        if status.is_redirection() {
            return Err(self.redirected(status.as_u16(), &resp));
        }
        if let Some(e) = transport::proxy_refused(url, status.as_u16()) {
            return Err(e);
        }
        let body = match read_capped(resp, REPLY_LIMIT, progress).await {
            Ok(b) => b,
            Err(Capped::TooLong { limit }) => {
                return Err(ApiError::Transient(format!(
                    "{what}: the service's answer was longer than {limit} bytes"
                )))
            }
            Err(Capped::Transfer(why)) => {
                return Err(ApiError::Transient(format!(
                    "{what}: the answer broke off ({why})"
                )))
            }
        };
        if !status.is_success() {
            return Err(ApiError::from_http(status.as_u16()));
        }
        Ok((String::from_utf8_lossy(&body).into_owned(), answered))
    }

    /// Downloads a result of at most `limit` bytes (its announced size). The body must be
    /// image bytes: a `-302` JSON body (expired URL) arrives with HTTP 200 and is reported as
    /// [`ApiError::Expired`]. A transfer slot is held while the body arrives.
    pub async fn download(
        &self,
        url: &str,
        limit: u64,
        slots: &Arc<Semaphore>,
    ) -> Result<Vec<u8>, DownloadError> {
        let started = Instant::now();
        let out = self.download_once(url, limit, slots).await;
        metrics::observe(Call::Download, started, &out);
        out
    }

    async fn download_once(
        &self,
        url: &str,
        limit: u64,
        slots: &Arc<Semaphore>,
    ) -> Result<Vec<u8>, DownloadError> {
        let progress = Progress::default();
        let fetch =
            async {
                let resp =
                    self.files.get(url).send().await.map_err(|e| {
                        DownloadError::Api(transport::failure("the download", url, e))
                    })?;
                let status = resp.status();
                if !status.is_success() {
                    return Err(DownloadError::Api(ApiError::from_http(status.as_u16())));
                }
                let _slot = slots.clone().acquire_owned().await;
                read_capped(resp, limit, &progress)
                    .await
                    .map_err(|e| match e {
                        Capped::TooLong { limit } => DownloadError::TooLong(limit),
                        Capped::Transfer(why) => DownloadError::Api(ApiError::Transient(format!(
                            "the download broke off ({why})"
                        ))),
                    })
            };
        let bytes = watched(fetch, &progress, self.idle)
            .await
            .unwrap_or_else(|| Err(DownloadError::Api(self.stalled("the download", self.idle))))?;
        if bytes.first() == Some(&b'{') {
            if let Ok(Reply::Refused { code, message }) =
                wire::parse(&String::from_utf8_lossy(&bytes))
            {
                return Err(DownloadError::Api(match code {
                    -302 => ApiError::Expired,
                    _ => ApiError::from_code(code, &self.scrub(&message)),
                }));
            }
        }
        Ok(bytes)
    }

    pub async fn credits(&self) -> Result<Credits, ApiError> {
        let started = Instant::now();
        let out = self.credits_once().await;
        metrics::observe(Call::Credits, started, &out);
        out
    }

    async fn credits_once(&self) -> Result<Credits, ApiError> {
        let form = Form::new().text("key", self.key.expose().to_string());
        let url = format!("{}/v2/api-status.php", self.base);
        let req = self.api.post(&url).multipart(form);
        let progress = Progress::default();
        let (body, _) = watched(
            self.answer(req, &url, "the credit check", &progress),
            &progress,
            self.idle,
        )
        .await
        .unwrap_or_else(|| Err(self.stalled("the credit check", self.idle)))?;
        let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
            ApiError::Transient("the credit check answered something that is not JSON".into())
        })?;
        let code = num(&v["Status"]["Code"]).unwrap_or(2.0) as i64;
        if code < 0 {
            let msg = v["Status"]["Message"].as_str().unwrap_or("").to_string();
            return Err(ApiError::from_code(code, &self.scrub(&msg)));
        }
        let get = |k: &str| num(&v[k]).unwrap_or(0.0) as u64;
        let unlimited = matches!(&v["Unlimited"], serde_json::Value::Bool(true))
            || v["Unlimited"].as_str() == Some("true");
        let (used, quota) = (get("APICallsMade"), get("APICallsQuota"));
        let (ot_used, ot_quota) = (get("APICallsMadeOneTime"), get("APICallsQuotaOneTime"));
        Ok(Credits {
            used,
            quota,
            one_time_used: ot_used,
            one_time_quota: ot_quota,
            remaining: quota.saturating_sub(used) + ot_quota.saturating_sub(ot_used),
            unlimited,
        })
    }

    pub(super) fn stalled(&self, what: &str, idle: Duration) -> ApiError {
        ApiError::Transient(format!(
            "{what} timed out: nothing moved for {}s (network.timeout_secs)",
            idle.as_secs()
        ))
    }

    /// A 3xx from the API: not followed (see the module doc), named by where it pointed.
    fn redirected(&self, status: u16, resp: &reqwest::Response) -> ApiError {
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|l| l.to_str().ok())
            .map(|l| transport::origin(&resp.url().join(l).map(String::from).unwrap_or_default()))
            .unwrap_or_else(|| "nowhere".into());
        ApiError::Refused(self.scrub(&format!(
            "the service answered with a redirect (HTTP {status}) to {to}; API calls are never \
             redirected, so nothing was sent there (check api_url)"
        )))
    }

    /// Removes the key from text that came from elsewhere (G8).
    fn scrub(&self, text: &str) -> String {
        scrub::scrub(text, self.key.expose())
    }

    /// A body that is not a reply, quoted in part: scrubbed whole, then shortened (G8).
    fn not_a_reply(&self, e: wire::NotAReply, body: &str) -> ApiError {
        let what = match e {
            wire::NotAReply::NotJson => "something that is not JSON",
            wire::NotAReply::Unexpected => "an unexpected JSON value",
        };
        let head = scrub::excerpt(body.trim(), self.key.expose(), 120);
        ApiError::Transient(format!("the service answered {what}: {head:?}"))
    }
}

/// What went wrong with a request that got no answer, in a few words (see `transport` for
/// the whole story, proxies and TLS included).
pub(super) fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    }
}

fn num(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The wait before try number `attempt + 1`: `base · 2^attempt`, at most 5 minutes (three
/// times longer for maintenance), with ±50 % jitter so that many agents do not retry in step.
pub fn backoff(base: Duration, attempt: u32, maintenance: bool) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(Duration::from_secs(300));
    let factor = if maintenance { 3.0 } else { 1.0 };
    capped.mul_f64(factor * (0.5 + fastrand::f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let b = Duration::from_millis(100);
        for _ in 0..50 {
            let d0 = backoff(b, 0, false);
            assert!(d0 >= Duration::from_millis(50) && d0 <= Duration::from_millis(150));
            let d3 = backoff(b, 3, false);
            assert!(d3 >= Duration::from_millis(400) && d3 <= Duration::from_millis(1200));
            assert!(backoff(b, 40, false) <= Duration::from_secs(450));
        }
    }
}
