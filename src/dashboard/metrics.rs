//! `GET /metrics`: the Prometheus text format (version 0.0.4), every name
//! `shortpixel_agent_*`. Counters of what happened on the wire (requests by call and
//! outcome, their latency, errors by API code) live in `metrics/wire.rs`, fed by the ShortPixel
//! client in every process; everything else (files by state, bytes, queue, credits, the
//! last scan) is read at scrape time from the same report `/api/status` serves, so the two
//! never disagree.
//!
//! Written by hand rather than with `prometheus-client`: most figures are read from the
//! ledger at scrape time (a custom collector there), the format is a few lines, and a test
//! checks every line of it. No label ever holds the API key or the token: labels are fixed
//! words, API codes, states and folder paths.

use std::fmt::Write;

use crate::status::Report;

mod wire;

pub use wire::{api_error, observe, Call};

/// What the daemon adds to the status report.
pub struct Daemon<'a> {
    pub state: &'a str,
    pub last_scan: Option<i64>,
}

/// The whole exposition.
pub fn render(report: &Report, daemon: &Daemon<'_>) -> String {
    let mut o = Out::default();
    o.family("files", "gauge", "Tracked files by folder and state.");
    for f in &report.folders {
        let folder = crate::names::shown(&f.path);
        let c = &f.counts;
        for (state, n) in [
            ("optimized", c.optimized),
            ("pending", c.pending),
            ("failed", c.failed),
            ("skipped", c.skipped),
            ("restored", c.restored),
        ] {
            o.sample("files", &[("folder", &folder), ("state", state)], n as f64);
        }
    }
    for (name, help, pick) in [
        (
            "bytes_original",
            "Bytes of the optimized files' originals, by folder.",
            (|c: &crate::ledger::FolderSummary| c.bytes_original) as fn(&_) -> u64,
        ),
        (
            "bytes_optimized",
            "Bytes of the optimized files, by folder.",
            |c| c.bytes_optimized,
        ),
    ] {
        o.family(name, "gauge", help);
        for f in &report.folders {
            let folder = crate::names::shown(&f.path);
            o.sample(name, &[("folder", &folder)], pick(&f.counts) as f64);
        }
    }
    o.gauge(
        "queue_length",
        "Files waiting to be optimized.",
        report.daemon.queued,
    );
    o.gauge(
        "in_flight",
        "Files being uploaded or waiting for ShortPixel's result.",
        report.daemon.in_flight,
    );
    o.gauge(
        "backup_bytes",
        "Bytes of originals in the backup store.",
        report.backups.bytes,
    );
    o.family(
        "credits_used",
        "gauge",
        "ShortPixel credits used this month (api-status).",
    );
    o.family(
        "credits_left",
        "gauge",
        "ShortPixel credits left, monthly and one-time (api-status).",
    );
    if let Some(c) = &report.credits {
        o.sample("credits_used", &[], c.used as f64);
        o.sample("credits_left", &[], c.remaining as f64);
    }
    limits(&mut o, &report.limits);
    o.gauge_if(
        "last_scan_timestamp_seconds",
        "When a scan of every folder last ended without error.",
        daemon.last_scan.map(|t| t as f64),
    );
    o.family(
        "state",
        "gauge",
        "The daemon's state (1 for the current one).",
    );
    for s in [
        "watching",
        "scanning",
        "optimizing",
        "paused",
        "out_of_credits",
        "budget_reached",
        "quiet_hours",
    ] {
        o.sample(
            "state",
            &[("state", s)],
            f64::from(u8::from(s == daemon.state)),
        );
    }
    wire::write(&mut o);
    o.0
}

/// `[limits]`: the budget (absent without one), this month's credits, quiet hours now, the
/// upload limit (absent without one).
fn limits(o: &mut Out, l: &crate::limits::Report) {
    o.gauge_if(
        "budget_credits",
        "The monthly credit budget (limits.monthly_credits).",
        l.monthly_credits.map(|b| b as f64),
    );
    o.gauge(
        "credits_used_month",
        "Credits this agent caused this calendar month (local time), counted in the ledger.",
        l.credits_used_month,
    );
    o.gauge(
        "quiet_hours_active",
        "1 while the local time is inside limits.quiet_hours.",
        u64::from(l.quiet_now),
    );
    o.gauge_if(
        "upload_limit_bytes_per_second",
        "The upload bandwidth limit shared by all uploads (limits.upload_kbps).",
        l.upload_kbps.map(|k| (k * 1024) as f64),
    );
    o.gauge(
        "held_files",
        "Files left queued while a limit holds them.",
        l.held.iter().map(|h| h.files).sum(),
    );
}

#[derive(Default)]
pub(super) struct Out(String);

impl Out {
    pub(super) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP shortpixel_agent_{name} {help}");
        let _ = writeln!(self.0, "# TYPE shortpixel_agent_{name} {kind}");
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.gauge_if(name, help, Some(value as f64));
    }

    /// A gauge whose family is always described, its sample only there when known.
    fn gauge_if(&mut self, name: &str, help: &str, value: Option<f64>) {
        self.family(name, "gauge", help);
        if let Some(v) = value {
            self.sample(name, &[], v);
        }
    }

    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.0, "shortpixel_agent_{name}");
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optimize::shortpixel::ApiError;
    use std::time::Instant;

    /// Every line is a comment or `name{labels} value`, names carry the prefix, and each
    /// histogram's buckets grow up to its count.
    #[test]
    fn the_exposition_is_valid_text_format_with_the_prefix_everywhere() {
        observe::<(), ApiError>(Call::Upload, Instant::now(), &Ok(()));
        observe::<(), ApiError>(
            Call::Upload,
            Instant::now(),
            &Err(ApiError::OutOfCredits("x".into())),
        );
        api_error(-403);
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a\"b")).unwrap();
        let config = crate::config::load_str(
            &dir.path().join("c.toml"),
            "[[folder]]\npath = 'a\"b'\n",
            None,
        )
        .unwrap();
        let daemon = crate::status::Daemon {
            running: true,
            pid: None,
            queued: 0,
            in_flight: 0,
            state: None,
            last_scan: None,
        };
        let report = crate::status::report(&config, None, daemon, None).unwrap();
        let text = render(
            &report,
            &Daemon {
                state: "paused",
                last_scan: Some(5),
            },
        );
        let mut buckets: Vec<f64> = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# ") {
                assert!(
                    rest.starts_with("HELP shortpixel_agent_")
                        || rest.starts_with("TYPE shortpixel_agent_"),
                    "{line}"
                );
                continue;
            }
            assert!(line.starts_with("shortpixel_agent_"), "{line}");
            let (series, value) = line.rsplit_once(' ').unwrap();
            let v: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
            if let Some(open) = series.find('{') {
                assert!(series.ends_with('}'), "{line}");
                assert!(
                    series[..open]
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_'),
                    "{line}"
                );
            }
            if series.contains("_bucket{call=\"upload\"") {
                buckets.push(v);
            }
        }
        assert!(
            text.contains(
                "shortpixel_agent_api_requests_total{call=\"upload\",outcome=\"out_of_credits\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("shortpixel_agent_api_errors_total{code=\"-403\"}"),
            "{text}"
        );
        assert!(
            text.contains("shortpixel_agent_state{state=\"paused\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("a\\\"b\",state=\"optimized\"} 0"),
            "a quote in a folder is escaped:\n{text}"
        );
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
        assert_eq!(buckets.len(), wire::BUCKETS.len() + 1);
    }
}
