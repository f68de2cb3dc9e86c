//! `domain (add|read|set|revoke) DOMAIN [--json]`: ShortPixel's CDN domain API at
//! `cdn_api_url`, with the configured key. `read` says the domain's status in words and its
//! quota; the others say what ShortPixel answered.
//!
//! Exit codes (SPEC §1): 0 done (for `read`, whatever the status value), 1 the service
//! refused or could not be asked or understood, 2 bad usage (not a domain name, no key for a
//! change) or an invalid config. The key is never printed (G8): the client scrubs every
//! text it hands back.

use std::path::Path;

use serde_json::json;

use crate::config::{Config, ConfigError};
use crate::optimize::shortpixel::domain::{
    meaning, Accepted, Change, DomainClient, DomainError, DomainStatus, Quota,
};
use crate::status::human_bytes;

/// What to do with the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Add the domain and associate it with your account.
    Add,
    /// Show the domain's status and quota.
    Read,
    /// Associate an already added domain with your account.
    Set,
    /// End the domain's association with your account.
    Revoke,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Read => "read",
            Action::Set => "set",
            Action::Revoke => "revoke",
        }
    }
}

pub fn run(config: Option<&Path>, action: Action, domain: &str, json: bool) -> anyhow::Result<i32> {
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    if let Err(why) = check_domain(&domain) {
        crate::logging::error(&format!("error: {why}"));
        return Ok(2);
    }
    let config = super::load(config)?;
    let change = match action {
        Action::Read => None,
        Action::Add => Some(Change::Add),
        Action::Set => Some(Change::Set),
        Action::Revoke => Some(Change::Revoke),
    };
    if change.is_some() && config.api_key.is_none() {
        return Err(ConfigError {
            file: config.file.clone(),
            key: "api_key".into(),
            message: format!(
                "`domain {}` needs your ShortPixel API key: set api_key, api_key_file or \
                 SHORTPIXEL_API_KEY",
                action.name()
            ),
        }
        .into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = rt.block_on(ask(&config, change, &domain));
    Ok(report(action, &domain, outcome, json, &config.cdn_api_url))
}

/// A host name: letters, digits, `-` and `.`, as the API's path expects it.
fn check_domain(domain: &str) -> Result<(), String> {
    let fine = !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if fine {
        Ok(())
    } else {
        Err(format!(
            "{domain:?} is not a domain name: give the host only, like example.com (no \
             http://, path or port; an international name in its xn-- form)"
        ))
    }
}

enum Outcome {
    Read(Result<DomainStatus, DomainError>),
    Changed(Result<Accepted, DomainError>),
}

async fn ask(config: &Config, change: Option<Change>, domain: &str) -> Outcome {
    let client =
        match DomainClient::new(&config.cdn_api_url, config.api_key.clone(), &config.network) {
            Ok(c) => c,
            Err(e) => {
                return match change {
                    None => Outcome::Read(Err(e)),
                    Some(_) => Outcome::Changed(Err(e)),
                }
            }
        };
    match change {
        None => Outcome::Read(client.read(domain).await),
        Some(c) => Outcome::Changed(client.change(c, domain).await),
    }
}

/// Prints the outcome; returns the exit code.
fn report(action: Action, domain: &str, outcome: Outcome, json: bool, base: &str) -> i32 {
    let (ok, value, text) = match outcome {
        Outcome::Read(Ok(s)) => (
            true,
            json!({"domain": domain, "action": "read", "ok": true, "status": s.status,
                   "meaning": meaning(s.status), "quota": s.quota}),
            read_text(domain, &s),
        ),
        Outcome::Changed(Ok(a)) => (
            true,
            json!({"domain": domain, "action": action.name(), "ok": true, "code": a.code,
                   "message": a.message}),
            format!(
                "{domain}: `{}` accepted by ShortPixel: {} (code {})",
                action.name(),
                said(&a.message),
                a.code
            ),
        ),
        Outcome::Read(Err(e)) | Outcome::Changed(Err(e)) => {
            let code = match &e {
                DomainError::Refused { code, .. } => Some(*code),
                _ => None,
            };
            let text = failure_text(action, domain, &e, base);
            (
                false,
                json!({"domain": domain, "action": action.name(), "ok": false, "code": code,
                       "error": e.to_string()}),
                text,
            )
        }
    };
    if json {
        println!("{value}");
    } else if ok {
        println!("{text}");
    }
    if !ok {
        crate::logging::error(&format!("error: {text}"));
    }
    if ok {
        0
    } else {
        1
    }
}

fn said(message: &str) -> &str {
    if message.is_empty() {
        "no message"
    } else {
        message
    }
}

fn failure_text(action: Action, domain: &str, e: &DomainError, base: &str) -> String {
    match e {
        DomainError::UnknownDomain if action == Action::Read => format!(
            "ShortPixel does not know {domain}; `shortpixel-agent domain add {domain}` adds it \
             and associates it with your account"
        ),
        DomainError::Refused { .. } => {
            format!("ShortPixel refused to {} {domain}: {e}", action.name())
        }
        DomainError::Transport(_) => format!(
            "{domain}: {e}. Check the network connection, a proxy (HTTPS_PROXY), or cdn_api_url \
             in the config ({base})"
        ),
        _ => format!("{domain}: {e}"),
    }
}

fn read_text(domain: &str, s: &DomainStatus) -> String {
    let words = match meaning(s.status) {
        Some(w) => format!("{w} (status {})", s.status),
        None => format!(
            "status {}, a value ShortPixel does not document (2 OK, 1 credits almost exhausted, \
             -1 exhausted, -2 used up some time ago, -3 not reachable)",
            s.status
        ),
    };
    let mut out = format!("{domain}: {words}");
    for line in quota_lines(&s.quota) {
        out.push_str("\n  ");
        out.push_str(&line);
    }
    out
}

fn quota_lines(q: &Quota) -> Vec<String> {
    let mut lines = Vec::new();
    let used_of = |used: Option<u64>, quota: Option<u64>| match (used, quota) {
        (Some(u), Some(q)) => Some(format!("{u} of {q} used, {} left", q.saturating_sub(u))),
        (Some(u), None) => Some(format!("{u} used")),
        (None, Some(q)) => Some(format!("{q} in total")),
        (None, None) => None,
    };
    if let Some(t) = used_of(q.credits_used, q.credits_quota) {
        lines.push(format!("credits this month: {t}"));
    }
    if let Some(t) = used_of(q.one_time_used, q.one_time_quota) {
        lines.push(format!("one-time credits: {t}"));
    }
    if let Some(n) = q.free_used {
        lines.push(format!("free optimizations (under 5 % saved): {n}"));
    }
    match (q.cdn_used, q.cdn_quota) {
        (Some(u), Some(total)) if total > 0 => lines.push(format!(
            "CDN traffic: {} of {}",
            human_bytes(u),
            human_bytes(total)
        )),
        (Some(u), _) => lines.push(format!("CDN traffic: {}", human_bytes(u))),
        _ => {}
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_host_names_pass_as_domains() {
        for good in [
            "example.com",
            "www.example.co.uk",
            "xn--caf-dma.fr",
            "localhost",
        ] {
            assert_eq!(check_domain(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "https://example.com",
            "example.com/photos",
            "example.com:8080",
            "exa mple.com",
            "café.fr",
            "a..b",
            "../../revoke-domain/x",
        ] {
            assert!(check_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn read_says_the_status_in_words_and_the_quota() {
        let s = DomainStatus {
            status: -1,
            quota: Quota {
                credits_quota: Some(1000),
                credits_used: Some(1000),
                ..Quota::default()
            },
        };
        let t = read_text("example.com", &s);
        assert!(
            t.starts_with("example.com: credits exhausted (status -1)"),
            "{t}"
        );
        assert!(
            t.contains("credits this month: 1000 of 1000 used, 0 left"),
            "{t}"
        );
        let odd = read_text(
            "example.com",
            &DomainStatus {
                status: 7,
                quota: Quota::default(),
            },
        );
        assert!(
            odd.contains("status 7, a value ShortPixel does not document"),
            "{odd}"
        );
    }
}
