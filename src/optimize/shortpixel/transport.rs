//! What went wrong on the way to the service, in words a user can act on: a timeout, a
//! refused connection, a secure connection (TLS) that failed, a proxy that is down or
//! refuses. Proxies come from the environment, as reqwest reads them: `HTTPS_PROXY` (or
//! `HTTP_PROXY` for `http://` URLs, `ALL_PROXY` for both), with `NO_PROXY` listing hosts
//! reached directly.
//!
//! Nothing here quotes a URL's query or a proxy's credentials: messages name hosts only.

use super::ApiError;

/// The proxy `url` goes through, as `scheme://host:port` (credentials left out), if any.
pub fn proxy_for(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    let matcher = hyper_util::client::proxy::matcher::Matcher::from_system();
    let proxy = matcher.intercept(&uri)?;
    let p = proxy.uri();
    Some(format!(
        "{}://{}",
        p.scheme_str().unwrap_or("http"),
        p.authority()
            .map(|a| a
                .as_str()
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_string())
            .unwrap_or_default()
    ))
}

/// `scheme://host[:port]` of a URL, for messages.
pub fn origin(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}", u.scheme(), u.host_str().unwrap_or("?"))
        }
        Err(_) => "the service".to_string(),
    }
}

/// A transport failure of `what` ("the upload", "the download"…) to `url`, in words. Always
/// worth retrying later: networks come back.
pub fn failure(what: &str, url: &str, e: reqwest::Error) -> ApiError {
    let chain = causes(&e);
    let lower = chain.to_lowercase();
    let proxy = proxy_for(url);
    let words = if e.is_timeout() {
        format!("{what} timed out")
    } else if [
        "certificate",
        "handshake",
        "tls",
        "alert",
        "corrupt message",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        format!(
            "{what} failed: the secure connection (TLS) to {} could not be set up ({chain}); \
             a proxy or firewall that inspects HTTPS, a wrong clock, or an api_url that does \
             not speak HTTPS can cause this",
            origin(url)
        )
    } else if let Some(proxy) = proxy.as_ref().filter(|_| e.is_connect()) {
        format!(
            "{what} failed: could not connect through the proxy {proxy} ({chain}); the proxy \
             comes from HTTPS_PROXY / HTTP_PROXY / ALL_PROXY, and NO_PROXY lists hosts \
             reached directly"
        )
    } else if e.is_connect() {
        format!(
            "{what} failed: could not connect to {} ({chain})",
            origin(url)
        )
    } else {
        format!("{what} failed: the connection broke ({chain})")
    };
    ApiError::Transient(words)
}

/// The error and its causes, without URLs, joined by ": " (reqwest's own text is terse).
fn causes(e: &reqwest::Error) -> String {
    let mut parts = vec![];
    let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(c) = cur {
        let s = c.to_string();
        if !s.is_empty() && !parts.contains(&s) {
            parts.push(s);
        }
        cur = c.source();
    }
    if parts.is_empty() {
        parts.push(
            if e.is_body() {
                "while sending the body"
            } else {
                "no detail"
            }
            .to_string(),
        );
    }
    parts.join(": ")
}

/// An answer from a proxy rather than the service (HTTP 407), in words.
pub fn proxy_refused(url: &str, status: u16) -> Option<ApiError> {
    if status != 407 {
        return None;
    }
    let proxy = proxy_for(url).unwrap_or_else(|| "a proxy".into());
    Some(ApiError::Refused(format!(
        "the proxy {proxy} refused the request (HTTP 407: proxy authentication required); \
         put its user and password in HTTPS_PROXY, e.g. http://user:password@host:port"
    )))
}
