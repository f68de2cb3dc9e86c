//! The emulator's own HTTP client: for `reducer.php`, ShortPixel fetches each URL itself.
//!
//! What it guarantees, so a test can point it at a local web server and nothing else:
//! - Only loopback hosts (`localhost`, 127.0.0.0/8, `::1`) are fetched; any other host is
//!   refused with -106 ("inaccessible due to access restrictions") without a connection.
//!   Redirects are followed (at most 5) only while they stay on loopback; a redirect
//!   elsewhere is not followed and counts as unreachable.
//! - Proxy settings from the environment are ignored.
//! - At most the cap plus one byte of a body is read, then the fetch is abandoned (-111),
//!   so a server that never stops sending cannot fill the memory; a fetch has a deadline.

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Bytes;
use reqwest::redirect::{Attempt, Policy};
use reqwest::Url;

use crate::parse::percent_decode_bytes;

/// The most bytes one fetch reads, whatever `max_file_size` says.
pub(crate) const FETCH_CAP: u64 = 64 * 1024 * 1024;

/// How long one fetch may take unless a test sets `fetch_timeout`.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

const MAX_REDIRECTS: usize = 5;

/// The client every fetch goes through.
pub(crate) fn client() -> std::io::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(Policy::custom(|attempt: Attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                attempt.error("too many redirects")
            } else if is_loopback(attempt.url()) {
                attempt.follow()
            } else {
                attempt.stop()
            }
        }))
        .build()
        .map_err(std::io::Error::other)
}

/// The URL to fetch for one `urllist` entry, or the per-item code refusing it.
///
/// An entry sent wholly percent-encoded (`http%3A%2F%2F…`, as the vendor's PHP example
/// does with `rawurlencode`) is decoded once; any other entry is fetched as sent.
pub(crate) fn target(entry: &str) -> Result<Url, i32> {
    let entry = entry.trim();
    let lower = entry.get(..8).unwrap_or(entry).to_ascii_lowercase();
    let text = if lower.starts_with("http%3a") || lower.starts_with("https%3a") {
        reencode(&percent_decode_bytes(entry, false))
    } else {
        entry.to_owned()
    };
    let url = Url::parse(&text).map_err(|_| -102)?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(-102);
    }
    if !is_loopback(&url) {
        return Err(-106);
    }
    Ok(url)
}

/// Bytes back to URL text: printable ASCII stays (a `%` too: the decoded text is a URL
/// with its own escapes), anything else becomes `%XX`.
fn reencode(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| {
            if (0x21..=0x7e).contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// What one fetch got: the body, or the per-item code; and how many body bytes were read.
pub(crate) struct Fetched {
    pub body: Result<Bytes, i32>,
    pub bytes_read: u64,
}

/// Fetches `url`, reading at most `cap` bytes of body. Codes: -102 for 404/410 (the URL
/// does not point to a file), -106 for no connection or any other HTTP error, -111 over
/// the cap, -203 for a body that broke off.
pub(crate) async fn fetch(
    client: &reqwest::Client,
    url: Url,
    cap: u64,
    timeout: Duration,
) -> Fetched {
    let failed = |code, bytes_read| Fetched {
        body: Err(code),
        bytes_read,
    };
    let mut resp = match client.get(url).timeout(timeout).send().await {
        Ok(r) => r,
        Err(_) => return failed(-106, 0),
    };
    match resp.status().as_u16() {
        200..=299 => {}
        404 | 410 => return failed(-102, 0),
        _ => return failed(-106, 0),
    }
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                body.extend_from_slice(&chunk);
                if body.len() as u64 > cap {
                    return failed(-111, body.len() as u64);
                }
            }
            Ok(None) => break,
            Err(_) => return failed(-203, body.len() as u64),
        }
    }
    let bytes_read = body.len() as u64;
    Fetched {
        body: Ok(Bytes::from(body)),
        bytes_read,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_fetched() {
        assert!(target("http://127.0.0.1:8/a.jpg").is_ok());
        assert!(target("http://localhost:8/a.jpg").is_ok());
        assert!(target("http://[::1]:8/a.jpg").is_ok());
        assert_eq!(target("https://example.com/a.jpg").err(), Some(-106));
        assert_eq!(target("http://10.0.0.1/a.jpg").err(), Some(-106));
        assert_eq!(target("not a url").err(), Some(-102));
        assert_eq!(target("ftp://127.0.0.1/a.jpg").err(), Some(-102));
    }

    #[test]
    fn a_wholly_encoded_url_is_decoded_once_and_keeps_its_own_escapes() {
        let url = target("http%3A%2F%2F127.0.0.1%3A8%2Fa%2520b%FF.jpg").unwrap();
        assert_eq!(url.as_str(), "http://127.0.0.1:8/a%20b%FF.jpg");
        let as_sent = target("http://127.0.0.1:8/caf%C3%A9%FF.jpg").unwrap();
        assert_eq!(as_sent.as_str(), "http://127.0.0.1:8/caf%C3%A9%FF.jpg");
    }
}
