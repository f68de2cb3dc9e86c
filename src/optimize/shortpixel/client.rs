//! HTTP calls to the ShortPixel API: upload (multipart POST Reducer), poll (`file_urls`),
//! download, and api-status. Each call is one attempt; [`retry`] wraps calls that may be
//! repeated. The key travels only in request bodies (never in a URL, so never in an error
//! message), and any text from the service is scrubbed of it before it is shown (G8).

use std::time::Duration;

use reqwest::multipart::{Form, Part};
use serde_json::json;

use super::scrub;
use super::wire::{self, Item, Reply};
use super::ApiError;
use crate::config::{ApiKey, Compression, Convert, FolderSettings, Network, ResizeMode};

const PLUGIN_VERSION: &str = "SPA01";

/// A file to upload: its bytes and an opaque id echoed back in `file_paths`.
#[derive(Clone)]
pub struct UploadFile {
    pub id: String,
    pub filename: String,
    pub mime: &'static str,
    pub bytes: Vec<u8>,
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
    http: reqwest::Client,
    base: String,
    key: ApiKey,
}

impl Client {
    pub fn new(base: &str, key: ApiKey, net: &Network) -> Result<Client, ApiError> {
        let http = reqwest::Client::builder()
            .timeout(net.timeout)
            .connect_timeout(net.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("shortpixel-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Fatal(format!("cannot set up HTTPS: {e}")))?;
        Ok(Client {
            http,
            base: base.to_string(),
            key,
        })
    }

    /// Options common to uploads and polls, as (field, value) pairs.
    fn options(&self, s: &FolderSettings, wait: u32) -> Vec<(&'static str, String)> {
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

    pub async fn upload(
        &self,
        files: Vec<UploadFile>,
        s: &FolderSettings,
        wait: u32,
    ) -> Result<Vec<Item>, ApiError> {
        let mut form = Form::new().text("key", self.key.expose().to_string());
        for (k, v) in self.options(s, wait) {
            form = form.text(k, v);
        }
        let paths: serde_json::Map<String, serde_json::Value> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("file{}", i + 1), json!(f.id)))
            .collect();
        form = form.text("file_paths", serde_json::Value::Object(paths).to_string());
        for (i, f) in files.into_iter().enumerate() {
            let part = Part::bytes(f.bytes)
                .file_name(f.filename)
                .mime_str(f.mime)
                .map_err(|e| ApiError::Fatal(e.to_string()))?;
            form = form.part(format!("file{}", i + 1), part);
        }
        let req = self
            .http
            .post(format!("{}/v2/post-reducer.php", self.base))
            .multipart(form);
        self.items(req).await
    }

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
        self.post_json("post-reducer.php", body).await
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

    /// POSTs a JSON body to `/v2/{endpoint}` and reads the items of the reply.
    pub(super) async fn post_json(
        &self,
        endpoint: &str,
        body: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Vec<Item>, ApiError> {
        let req = self
            .http
            .post(format!("{}/v2/{endpoint}", self.base))
            .json(&serde_json::Value::Object(body));
        self.items(req).await
    }

    async fn items(&self, req: reqwest::RequestBuilder) -> Result<Vec<Item>, ApiError> {
        let resp = req.send().await.map_err(|e| transport("the request", e))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| transport("the reply", e))?;
        if !status.is_success() {
            return Err(ApiError::from_http(status.as_u16()));
        }
        match wire::parse(&body).map_err(|e| self.not_a_reply(e, &body))? {
            // Per-item messages end up in the ledger and in status: scrub them too (G8).
            Reply::Items(items) => Ok(items
                .into_iter()
                .map(|mut it| {
                    it.message = self.scrub(&it.message);
                    it
                })
                .collect()),
            Reply::Refused { code, message } => {
                Err(ApiError::from_code(code, &self.scrub(&message)))
            }
        }
    }

    /// Downloads a result. The body must be image bytes: a `-302` JSON body (expired URL)
    /// arrives with HTTP 200 and is reported as [`ApiError::Expired`].
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, ApiError> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| transport("the download", e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ApiError::from_http(status.as_u16()));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| transport("the download", e))?;
        if bytes.first() == Some(&b'{') {
            if let Ok(Reply::Refused { code, message }) =
                wire::parse(&String::from_utf8_lossy(&bytes))
            {
                return Err(match code {
                    -302 => ApiError::Expired,
                    _ => ApiError::from_code(code, &self.scrub(&message)),
                });
            }
        }
        Ok(bytes.to_vec())
    }

    pub async fn credits(&self) -> Result<Credits, ApiError> {
        let form = Form::new().text("key", self.key.expose().to_string());
        let resp = self
            .http
            .post(format!("{}/v2/api-status.php", self.base))
            .multipart(form)
            .send()
            .await
            .map_err(|e| transport("the credit check", e))?;
        let status = resp.status();
        let body = resp
            .text()
            .await
            .map_err(|e| transport("the credit check", e))?;
        if !status.is_success() {
            return Err(ApiError::from_http(status.as_u16()));
        }
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

fn num(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn transport(what: &str, e: reqwest::Error) -> ApiError {
    // reqwest's own text names the URL, which never holds the key.
    let kind = failure_kind(&e);
    ApiError::Transient(format!("{what} {kind}: {}", e.without_url()))
}

/// What went wrong with a request that got no answer, in words.
pub(super) fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the connection failed"
    }
}

/// Runs `op` until it succeeds or fails for a reason retrying cannot fix. Transient errors
/// wait `base · 2^n` with ±50 % jitter (longer for maintenance), at most `max_retries` times.
pub async fn retry<T, F, Fut>(net: &Network, what: &str, mut op: F) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut attempt = 0u32;
    loop {
        match op().await {
            Err(e) if e.is_transient() && attempt < net.max_retries => {
                let delay = backoff(net.retry_base, attempt, e.is_maintenance());
                tracing::warn!("{what}: {e}; retrying in {:.1}s", delay.as_secs_f64());
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

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
