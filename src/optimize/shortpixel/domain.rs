//! The CDN domain API (`cdn_api_url`, by default `https://no-cdn.shortpixel.ai`): associate a
//! web domain with the account (`add`, `set`), end the association (`revoke`), or read the
//! domain's status and quota (`read`).
//!
//! G8 is harder here than anywhere else: this API takes the key **in the URL path**. So:
//! - every text that leaves this file (errors, log lines) is scrubbed with
//!   [`scrub::scrub`], and transport errors are shown `without_url()`;
//! - redirects are never followed: a redirect would carry the path, key included, to
//!   whatever host its `Location` names. A redirect is reported as such.
//!
//! The vendor page documents the meaning of `read-domain`'s status values but no reply
//! shape, so replies are read leniently (wire notes): a JSON object whose `Status` is a
//! number, a numeric string or an object with `Code`; or a bare number. Anything else is
//! [`DomainError::Unreadable`] — its body goes to the debug log, scrubbed — never a guess.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use super::client::failure_kind;
use super::scrub;
use crate::config::{ApiKey, Network};

/// The calls that change a domain's association; each sends the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Add,
    Set,
    Revoke,
}

impl Change {
    fn path(self) -> &'static str {
        match self {
            Change::Add => "add-domain",
            Change::Set => "set-domain",
            Change::Revoke => "revoke-domain",
        }
    }
}

/// What `read-domain` said about a domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainStatus {
    /// The status value: 2, 1, -1, -2, -3 are documented (see [`meaning`]).
    pub status: i64,
    pub quota: Quota,
}

/// The quota fields of a `read-domain` reply, where present (names as in the vendor's
/// account and CDN-usage replies; numbers may arrive as strings like `"12.00000000000"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Quota {
    pub credits_quota: Option<u64>,
    pub credits_used: Option<u64>,
    pub free_used: Option<u64>,
    pub one_time_quota: Option<u64>,
    pub one_time_used: Option<u64>,
    pub cdn_quota: Option<u64>,
    pub cdn_used: Option<u64>,
}

/// A change the service accepted: its code (≥ 1) and message (scrubbed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub code: i64,
    pub message: String,
}

/// The documented meaning of a status value, in words; `None` for an undocumented value.
pub fn meaning(status: i64) -> Option<&'static str> {
    Some(match status {
        2 => "OK",
        1 => "credits almost exhausted",
        -1 => "credits exhausted",
        -2 => "credits used up some time ago",
        -3 => "not reachable by ShortPixel",
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("cannot reach the CDN domain API: {0}")]
    Transport(String),
    #[error("the CDN domain API answered with a redirect (HTTP {0}); it was not followed, because the request carries the API key")]
    Redirect(u16),
    #[error("ShortPixel does not know the domain (HTTP 404)")]
    UnknownDomain,
    #[error("the CDN domain API answered HTTP {0}")]
    Http(u16),
    #[error("the CDN domain API's answer could not be read (it is in the debug log)")]
    Unreadable,
    #[error("ShortPixel refused: {message} (code {code})")]
    Refused { code: i64, message: String },
}

#[derive(Clone)]
pub struct DomainClient {
    http: reqwest::Client,
    base: String,
    key: Option<ApiKey>,
}

impl DomainClient {
    /// `base` is `cdn_api_url`. Without a key only [`DomainClient::read`] works.
    pub fn new(
        base: &str,
        key: Option<ApiKey>,
        net: &Network,
    ) -> Result<DomainClient, DomainError> {
        let http = reqwest::Client::builder()
            .timeout(net.timeout)
            .connect_timeout(net.timeout.min(Duration::from_secs(30)))
            .user_agent(concat!("shortpixel-agent/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| DomainError::Transport(format!("cannot set up HTTPS: {e}")))?;
        Ok(DomainClient {
            http,
            base: base.trim_end_matches('/').to_string(),
            key,
        })
    }

    /// `read-domain/DOMAIN` (no key is sent).
    pub async fn read(&self, domain: &str) -> Result<DomainStatus, DomainError> {
        let url = format!("{}/read-domain/{}", self.base, segment(domain));
        let v = self.get(&url).await?;
        let (status, _) = status_of(&v).ok_or_else(|| self.unreadable(&v.to_string()))?;
        Ok(DomainStatus {
            status,
            quota: quota_of(&v),
        })
    }

    /// `add-domain`, `set-domain` or `revoke-domain` with the key. A code ≥ 1 is accepted;
    /// anything else is [`DomainError::Refused`].
    ///
    /// # Panics
    /// If the client was made without a key: the caller checks for one first.
    pub async fn change(&self, change: Change, domain: &str) -> Result<Accepted, DomainError> {
        let key = self.key.as_ref().expect("a change needs the API key");
        let url = format!(
            "{}/{}/{}/{}",
            self.base,
            change.path(),
            segment(domain),
            segment(key.expose())
        );
        let v = self.get(&url).await?;
        let (code, message) = status_of(&v).ok_or_else(|| self.unreadable(&v.to_string()))?;
        let message = self.scrub(&message);
        if code >= 1 {
            Ok(Accepted { code, message })
        } else {
            let message = if message.is_empty() {
                "no reason given".to_string()
            } else {
                message
            };
            Err(DomainError::Refused { code, message })
        }
    }

    /// One GET, its body parsed as JSON. Nothing here may quote `url` unscrubbed.
    async fn get(&self, url: &str) -> Result<Value, DomainError> {
        tracing::debug!("CDN domain API: GET {}", self.scrub(url));
        let transport = |e: reqwest::Error| {
            let kind = failure_kind(&e);
            DomainError::Transport(self.scrub(&format!("{kind}: {}", e.without_url())))
        };
        let resp = self.http.get(url).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(transport)?;
        match status {
            200..=299 => {}
            300..=399 => return Err(DomainError::Redirect(status)),
            404 => return Err(DomainError::UnknownDomain),
            _ => {
                self.log_body(&body);
                return Err(DomainError::Http(status));
            }
        }
        serde_json::from_str(body.trim()).map_err(|_| self.unreadable(&body))
    }

    fn unreadable(&self, body: &str) -> DomainError {
        self.log_body(body);
        DomainError::Unreadable
    }

    /// The body of an answer that was not used, for whoever debugs it: scrubbed whole, then
    /// shortened (G8).
    fn log_body(&self, body: &str) {
        let key = self.key.as_ref().map_or("", ApiKey::expose);
        tracing::debug!(
            "CDN domain API answer: {:?}",
            scrub::excerpt(body.trim(), key, 2000)
        );
    }

    fn scrub(&self, text: &str) -> String {
        match &self.key {
            Some(key) => scrub::scrub(text, key.expose()),
            None => text.to_string(),
        }
    }
}

/// A path segment: everything but `A-Z a-z 0-9 - . _ ~` percent-encoded.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The status code and message of a reply in any of the lenient shapes.
fn status_of(v: &Value) -> Option<(i64, String)> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    match v {
        Value::Number(_) | Value::String(_) => Some((integer(v)?, String::new())),
        Value::Object(o) => match o.get("Status")? {
            s @ (Value::Number(_) | Value::String(_)) => {
                Some((integer(s)?, text(o.get("Message"))))
            }
            Value::Object(s) => Some((integer(s.get("Code")?)?, text(s.get("Message")))),
            _ => None,
        },
        _ => None,
    }
}

/// A whole number sent as a number or a string (`2`, `"-3"`, `"2.0"`).
fn integer(v: &Value) -> Option<i64> {
    let n = number(v)?;
    (n.fract() == 0.0 && n.abs() < 1e15).then_some(n as i64)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

fn quota_of(v: &Value) -> Quota {
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| number(&v[*n]))
            .filter(|n| *n >= 0.0)
            .map(|n| n.round() as u64)
    };
    Quota {
        credits_quota: field(&["APIQuota", "APICallsQuota"]),
        credits_used: field(&["PaidAPICalls", "APICallsMade"]),
        free_used: field(&["FreeAPICalls", "APICallsFree"]),
        one_time_quota: field(&["APIQuotaOneTime", "APICallsQuotaOneTime"]),
        one_time_used: field(&["PaidAPICallsOneTime", "APICallsMadeOneTime"]),
        cdn_quota: field(&["CDNQuota"]),
        cdn_used: field(&["UsedCDNTraffic"]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_lenient_status_shape_reads_the_same() {
        for v in [
            json!({"Status": 2}),
            json!({"Status": "2"}),
            json!({"Status": {"Code": "2", "Message": "Success"}}),
            json!({"Status": {"Code": 2.0}}),
            json!(2),
            json!("2"),
        ] {
            assert_eq!(status_of(&v).map(|s| s.0), Some(2), "{v}");
        }
        assert_eq!(status_of(&json!({"Status": "-3"})).map(|s| s.0), Some(-3));
    }

    #[test]
    fn what_cannot_be_read_is_not_guessed() {
        for v in [
            json!({"status": 2}),
            json!({"Status": "OK"}),
            json!({"Status": 2.5}),
            json!({"Status": {"Message": "no code"}}),
            json!([2]),
            json!(null),
            json!({}),
        ] {
            assert_eq!(status_of(&v), None, "{v}");
        }
    }

    #[test]
    fn quota_fields_are_read_from_numbers_and_decimal_strings() {
        let q = quota_of(&json!({"APIQuota": 1000, "PaidAPICalls": "12.00000000000",
            "APICallsQuotaOneTime": "500", "UsedCDNTraffic": "-1", "CDNQuota": "lots"}));
        assert_eq!(q.credits_quota, Some(1000));
        assert_eq!(q.credits_used, Some(12));
        assert_eq!(q.one_time_quota, Some(500));
        assert_eq!(q.cdn_used, None, "negative is not a quantity");
        assert_eq!(q.cdn_quota, None);
        assert_eq!(q.free_used, None);
    }

    #[test]
    fn segments_are_encoded_so_nothing_changes_the_path() {
        assert_eq!(segment("example.com"), "example.com");
        assert_eq!(segment("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
    }

    #[test]
    fn every_documented_status_has_words() {
        for s in [2, 1, -1, -2, -3] {
            assert!(meaning(s).is_some(), "{s}");
        }
        assert_eq!(meaning(0), None);
        assert_eq!(meaning(7), None);
    }
}
