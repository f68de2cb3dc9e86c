//! `[dashboard]`: where the daemon serves its page and API, and the token that guards
//! them. Loopback is the default; any other address without a token is refused here
//! (exit 2), so a page that can pause uploads or restore files is never open to a network
//! by accident. The token is read once, kept in a [`Token`] that never prints itself, and
//! never shown by the page, an API answer or a metric.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ConfigError;

/// The address used when `[dashboard]` is present without `listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8719";

/// A token shorter than this is refused: it guards a port that may face a network.
const MIN_TOKEN_CHARS: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDashboard {
    listen: Option<String>,
    token_file: Option<PathBuf>,
    /// Host names (besides addresses and `localhost`) the page may be reached by.
    #[serde(default)]
    host_names: Vec<String>,
}

/// The dashboard's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    pub listen: SocketAddr,
    /// Required for non-loopback addresses; without it the daemon makes one per start
    /// that only its own page knows.
    pub token: Option<Token>,
    pub token_file: Option<PathBuf>,
    /// Names accepted in the `Host` header besides IP addresses and `localhost`.
    pub host_names: Vec<String>,
}

/// The dashboard's bearer token. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(t: impl Into<String>) -> Token {
        Token(t.into())
    }
    /// The token itself, for the one place that compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// Validates `[dashboard]`; `resolve` makes a path absolute against the config's folder.
pub(super) fn validate(
    raw: Option<RawDashboard>,
    resolve: &dyn Fn(&Path) -> PathBuf,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<Dashboard>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = raw.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen = parse_listen(&text).map_err(|m| err("dashboard.listen", m))?;
    let token_file = raw.token_file.map(|f| resolve(&f));
    let token = match &token_file {
        None => None,
        Some(path) => Some(read_token(path).map_err(|m| err("dashboard.token_file", m))?),
    };
    if token.is_none() && !listen.ip().is_loopback() {
        return Err(err(
            "dashboard.listen",
            format!(
                "{listen} is reachable from other machines, so the dashboard needs a token: set dashboard.token_file to a file holding at least {MIN_TOKEN_CHARS} random characters (e.g. `openssl rand -hex 24 > dashboard.token`), or listen on 127.0.0.1"
            ),
        ));
    }
    let mut host_names = Vec::new();
    for name in raw.host_names {
        let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
        if n.is_empty() || n.contains(['/', ':', ' ', '@']) {
            return Err(err(
                "dashboard.host_names",
                format!("{name:?} is not a host name (write only the name, e.g. \"nas.local\")"),
            ));
        }
        host_names.push(n);
    }
    Ok(Some(Dashboard {
        listen,
        token,
        token_file,
        host_names,
    }))
}

/// `host:port` with an IP address (`127.0.0.1:8719`, `[::1]:8719`, `0.0.0.0:8719`);
/// `localhost:PORT` means the IPv4 loopback.
fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Some(port) = t.strip_prefix("localhost:") {
        if let Ok(port) = port.parse::<u16>() {
            return Ok(SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port));
        }
    }
    t.parse::<SocketAddr>().map_err(|_| {
        format!("{text:?} is not an address and port (write e.g. \"127.0.0.1:8719\", \"[::1]:8719\" or \"0.0.0.0:8719\")")
    })
}

fn read_token(path: &Path) -> Result<Token, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = text.trim();
    if token.chars().count() < MIN_TOKEN_CHARS {
        return Err(format!(
            "{} holds {} character(s); a token needs at least {MIN_TOKEN_CHARS} (e.g. `openssl rand -hex 24 > {}`)",
            path.display(),
            token.chars().count(),
            path.display()
        ));
    }
    if token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{} holds spaces or line breaks inside the token; write the token on one line",
            path.display()
        ));
    }
    Ok(Token::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(listen: Option<&str>, token: Option<&str>) -> Result<Option<Dashboard>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let token_file = token.map(|t| {
            let p = dir.path().join("t");
            std::fs::write(&p, t).unwrap();
            p
        });
        let raw = RawDashboard {
            listen: listen.map(str::to_string),
            token_file,
            host_names: vec![],
        };
        let err = |key: &str, message: String| ConfigError {
            file: "c.toml".into(),
            key: key.into(),
            message,
        };
        validate(Some(raw), &|p| p.to_path_buf(), &err)
    }

    #[test]
    fn loopback_is_the_default_and_needs_no_token() {
        let d = check(None, None).unwrap().unwrap();
        assert_eq!(d.listen.to_string(), DEFAULT_LISTEN);
        assert!(d.token.is_none());
        let d = check(Some("localhost:9000"), None).unwrap().unwrap();
        assert!(d.listen.ip().is_loopback());
    }

    #[test]
    fn a_non_loopback_address_without_a_token_names_both_keys() {
        let e = check(Some("0.0.0.0:8719"), None).unwrap_err();
        assert_eq!(e.key, "dashboard.listen");
        assert!(e.message.contains("dashboard.token_file"), "{e}");
        let d = check(Some("0.0.0.0:8719"), Some("0123456789abcdef0123\n"))
            .unwrap()
            .unwrap();
        assert_eq!(d.token.unwrap().expose(), "0123456789abcdef0123");
    }

    #[test]
    fn a_short_token_or_a_bad_address_is_refused_without_echoing_the_token() {
        let e = check(None, Some("short-secret")).unwrap_err();
        assert_eq!(e.key, "dashboard.token_file");
        assert!(!e.to_string().contains("short-secret"), "{e}");
        let e = check(Some("nas.local:80"), None).unwrap_err();
        assert_eq!(e.key, "dashboard.listen");
    }

    #[test]
    fn the_token_never_prints_itself() {
        let t = Token::new("0123456789abcdef0123");
        assert!(!format!("{t:?}").contains("0123"));
    }
}
