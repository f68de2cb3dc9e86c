//! Who may talk to the dashboard.
//!
//! - **Host check** (every request): the `Host` header must be an IP address, `localhost`,
//!   or one of `dashboard.host_names`. A DNS-rebinding page reaches us under its own domain
//!   name, so it is refused before anything is read or done.
//! - **Token** (every action, and the image previews): `Authorization: Bearer <token>`,
//!   compared in constant time. A header, not a cookie: a foreign page cannot make the
//!   browser add it, and without CORS headers it cannot read our answers to learn it.
//!   Without `token_file` the daemon draws a token per start and writes it into the page it
//!   serves (loopback only, so only local users reach that page).

use axum::http::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use super::error::ApiFailure;
use crate::config::dashboard::Token;

/// Whether the `Host` header names this dashboard (see the module doc).
pub fn host_allowed(headers: &HeaderMap, names: &[String]) -> bool {
    let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        // HTTP/1.0 without Host: not a browser a rebinding page could drive.
        return true;
    };
    let name = strip_port(host.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    if let Some(v6) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        return v6.parse::<std::net::Ipv6Addr>().is_ok();
    }
    names.contains(&name)
}

/// `host[:port]` → `host`; `[v6]:port` → `[v6]`.
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    }
}

/// Checks the bearer token: 401 without one, 403 with a wrong one.
pub fn require_token(headers: &HeaderMap, token: &Token) -> Result<(), ApiFailure> {
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        None => Err(ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "this action needs the dashboard token: send it as `Authorization: Bearer <token>` (the token is in the file named by dashboard.token_file)",
        )),
        Some(t) if bool::from(t.as_bytes().ct_eq(token.expose().as_bytes())) => Ok(()),
        Some(_) => Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "the dashboard token is wrong: use the one in the file named by dashboard.token_file",
        )),
    }
}

/// A token for this start of the daemon, when none is configured.
pub fn fresh_token() -> Token {
    let mut bytes = [0u8; 24];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: a token nobody can guess is still better than none; mix time
        // and address-space layout (the page still works, as it is told the token).
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let hash = blake3::hash(format!("{seed}{:p}", &bytes).as_bytes());
        bytes.copy_from_slice(&hash.as_bytes()[..24]);
    }
    Token::new(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn host(h: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert("host", HeaderValue::from_str(h).unwrap());
        m
    }

    #[test]
    fn dns_rebinding_names_are_refused_and_addresses_accepted() {
        let names = vec!["nas.local".to_string()];
        for ok in [
            "127.0.0.1:8719",
            "localhost:8719",
            "LOCALHOST",
            "[::1]:8719",
            "192.168.1.20:8719",
            "nas.local:8719",
            "nas.local.",
        ] {
            assert!(host_allowed(&host(ok), &names), "{ok}");
        }
        for bad in [
            "evil.example:8719",
            "127.0.0.1.evil.example",
            "localhost.evil",
            "[zz]:1",
        ] {
            assert!(!host_allowed(&host(bad), &names), "{bad}");
        }
    }

    #[test]
    fn the_token_is_required_and_checked() {
        let token = Token::new("0123456789abcdef0123");
        let mut h = HeaderMap::new();
        assert_eq!(
            require_token(&h, &token).unwrap_err().status,
            StatusCode::UNAUTHORIZED
        );
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer 0123456789abcdef0124"),
        );
        assert_eq!(
            require_token(&h, &token).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer 0123456789abcdef0123"),
        );
        assert!(require_token(&h, &token).is_ok());
        assert_ne!(fresh_token(), fresh_token());
        assert_eq!(fresh_token().expose().len(), 48);
    }
}
