//! The JSON shapes the emulator sends, copied from what the real service puts on the wire
//! rather than from its documentation: `text/html` content type, `Status.Code` as a string
//! in items, misspelled `Loseless` size fields next to the correct ones, `TimeStamp`,
//! `"NA"` for unrequested variants, and top-level refusals as an object, not an array.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

/// What the real service labels its JSON with.
pub(crate) const JSON_CONTENT_TYPE: &str = "text/html; charset=UTF-8";

/// Status codes used by the emulator, with the service's messages.
pub(crate) fn message(code: i32) -> &'static str {
    match code {
        1 => "Image scheduled for processing.",
        2 => "Success",
        -102 => "Invalid URL. Please make sure the URL is properly urlencoded and points to a valid image file.",
        -105 => "URL is missing for the call.",
        -106 => "URL is inaccessible from our server(s) due to access restrictions.",
        -107 => "Too many files in a POST, the maximum allowed is 10.",
        -109 => "The uploaded files are not present.",
        -110 => "Upload error",
        -111 => "File too big",
        -202 => "Invalid image or unsupported image format",
        -203 => "Could not download file.",
        -302 => "The file is no longer available.",
        -401 => "Invalid API key",
        -403 => "Quota exceeded. You need to subscribe to a larger plan or to buy an additional one time package to increase your quota.",
        -404 => "The maximum number of URLs in the optimization queue reached. Please try again in a minute.",
        -500 => "API is in maintenance mode. Please come back later.",
        _ => "Error",
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct Status {
    #[serde(rename = "Code")]
    pub code: Value,
    #[serde(rename = "Message")]
    pub message: String,
}

/// One element of an array reply. Absent fields are left out, as on Code 1 and error items.
#[derive(Debug, Serialize)]
#[rustfmt::skip]
pub(crate) struct Item {
    #[serde(rename = "Status")] pub status: Status,
    #[serde(rename = "Key", skip_serializing_if = "Option::is_none")] pub key: Option<String>,
    #[serde(rename = "OriginalURL", skip_serializing_if = "Option::is_none")] pub original_url: Option<String>,
    #[serde(rename = "LossyURL", skip_serializing_if = "Option::is_none")] pub lossy_url: Option<String>,
    #[serde(rename = "LosslessURL", skip_serializing_if = "Option::is_none")] pub lossless_url: Option<String>,
    #[serde(rename = "WebPLossyURL", skip_serializing_if = "Option::is_none")] pub webp_lossy_url: Option<String>,
    #[serde(rename = "WebPLosslessURL", skip_serializing_if = "Option::is_none")] pub webp_lossless_url: Option<String>,
    #[serde(rename = "AVIFLossyURL", skip_serializing_if = "Option::is_none")] pub avif_lossy_url: Option<String>,
    #[serde(rename = "AVIFLosslessURL", skip_serializing_if = "Option::is_none")] pub avif_lossless_url: Option<String>,
    #[serde(rename = "OriginalSize", skip_serializing_if = "Option::is_none")] pub original_size: Option<u64>,
    #[serde(rename = "LossySize", skip_serializing_if = "Option::is_none")] pub lossy_size: Option<String>,
    #[serde(rename = "LoselessSize", skip_serializing_if = "Option::is_none")] pub loseless_size: Option<String>,
    #[serde(rename = "LosslessSize", skip_serializing_if = "Option::is_none")] pub lossless_size: Option<String>,
    #[serde(rename = "WebPLossySize", skip_serializing_if = "Option::is_none")] pub webp_lossy_size: Option<String>,
    #[serde(rename = "WebPLoselessSize", skip_serializing_if = "Option::is_none")] pub webp_loseless_size: Option<String>,
    #[serde(rename = "WebPLosslessSize", skip_serializing_if = "Option::is_none")] pub webp_lossless_size: Option<String>,
    #[serde(rename = "AVIFLossySize", skip_serializing_if = "Option::is_none")] pub avif_lossy_size: Option<String>,
    #[serde(rename = "AVIFLoselessSize", skip_serializing_if = "Option::is_none")] pub avif_loseless_size: Option<String>,
    #[serde(rename = "AVIFLosslessSize", skip_serializing_if = "Option::is_none")] pub avif_lossless_size: Option<String>,
    #[serde(rename = "PercentImprovement", skip_serializing_if = "Option::is_none")] pub percent: Option<String>,
    #[serde(rename = "TimeStamp", skip_serializing_if = "Option::is_none")] pub timestamp: Option<String>,
}

impl Item {
    /// An item with only a status (codes as strings, as the service sends them).
    pub fn status(code: i32, msg: &str) -> Item {
        Item {
            status: Status {
                code: Value::String(code.to_string()),
                message: msg.to_owned(),
            },
            key: None,
            original_url: None,
            lossy_url: None,
            lossless_url: None,
            webp_lossy_url: None,
            webp_lossless_url: None,
            avif_lossy_url: None,
            avif_lossless_url: None,
            original_size: None,
            lossy_size: None,
            loseless_size: None,
            lossless_size: None,
            webp_lossy_size: None,
            webp_loseless_size: None,
            webp_lossless_size: None,
            avif_lossy_size: None,
            avif_loseless_size: None,
            avif_lossless_size: None,
            percent: None,
            timestamp: None,
        }
    }

    pub fn with_key(mut self, key: Option<&str>) -> Item {
        self.key = key.map(str::to_owned);
        self
    }

    pub fn with_original(mut self, url: Option<String>, size: Option<u64>) -> Item {
        self.original_url = url;
        self.original_size = size;
        self
    }

    /// The numeric code of this item, for the request log.
    pub fn code(&self) -> i32 {
        match &self.status.code {
            Value::String(s) => s.parse().unwrap_or(0),
            v => v.as_i64().unwrap_or(0) as i32,
        }
    }
}

/// The sizes and URLs of a finished job, as filled into a Code 2 item.
pub(crate) struct Done<'a> {
    /// `{base}/dl/{job}`; variant names are appended.
    pub dl_base: String,
    pub lossy: usize,
    pub lossless: usize,
    pub webp: Option<usize>,
    pub avif: Option<usize>,
    pub percent: &'a str,
    pub timestamp: &'a str,
    /// `Fault::MissingSizes`: URLs present, sizes zero or missing.
    pub missing_sizes: bool,
}

impl Item {
    pub fn done(mut self, d: &Done<'_>) -> Item {
        let url = |v: &str| Some(format!("{}/{v}", d.dl_base));
        let size = |n: usize| {
            Some(if d.missing_sizes {
                "0".to_owned()
            } else {
                n.to_string()
            })
        };
        // An unrequested variant is "NA"; a requested one loses its size in the waiting bug.
        let extra = |n: Option<usize>| match n {
            None => Some("NA".to_owned()),
            Some(_) if d.missing_sizes => None,
            Some(n) => Some(n.to_string()),
        };
        let na_or = |n: Option<usize>, v: &str| {
            if n.is_some() {
                url(v)
            } else {
                Some("NA".to_owned())
            }
        };
        self.lossy_url = url("lossy");
        self.lossless_url = url("lossless");
        self.webp_lossy_url = na_or(d.webp, "webp-lossy");
        self.webp_lossless_url = na_or(d.webp, "webp-lossless");
        self.avif_lossy_url = na_or(d.avif, "avif-lossy");
        self.avif_lossless_url = na_or(d.avif, "avif-lossless");
        self.lossy_size = size(d.lossy);
        self.loseless_size = size(d.lossless);
        self.lossless_size = size(d.lossless);
        self.webp_lossy_size = extra(d.webp);
        self.webp_loseless_size = extra(d.webp);
        self.webp_lossless_size = extra(d.webp);
        self.avif_lossy_size = extra(d.avif);
        self.avif_loseless_size = extra(d.avif);
        self.avif_lossless_size = extra(d.avif);
        self.percent = Some(if d.missing_sizes { "0" } else { d.percent }.to_owned());
        self.timestamp = Some(d.timestamp.to_owned());
        self
    }
}

/// Any JSON body with the service's content type and HTTP 200.
pub(crate) fn json_reply(body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).unwrap_or_else(|_| "[]".to_owned());
    ([(header::CONTENT_TYPE, JSON_CONTENT_TYPE)], text).into_response()
}

/// `Fault::Body`: any text, HTTP 200, the service's content type.
pub(crate) fn verbatim(text: String) -> Response {
    ([(header::CONTENT_TYPE, JSON_CONTENT_TYPE)], text).into_response()
}

/// A top-level refusal: an object, numeric code, HTTP 200.
pub(crate) fn refusal(code: i32, msg: &str) -> Response {
    json_reply(&json!({"Status": {"Code": code, "Message": msg}}))
}

/// A bare HTTP error, as a proxy or a crashing PHP worker would send it.
pub(crate) fn http_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let text = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=UTF-8")],
        text,
    )
        .into_response()
}

/// "YYYY-MM-DD HH:MM:SS" in UTC, the service's timestamp format.
pub(crate) fn timestamp_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
