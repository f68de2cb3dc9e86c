//! Logs on stderr, as text for people or as one JSON object per line for log collectors
//! (`--log-format json`, or `SHORTPIXEL_AGENT_LOG_FORMAT=json`). The level comes from
//! `SHORTPIXEL_AGENT_LOG` (default `info`).
//!
//! Every line goes through [`crate::progress::suspend`], so a progress bar on the terminal is
//! lifted out of the way while a line is written instead of being torn by it. Colours are
//! used only on a terminal, and never with `NO_COLOR`: the systemd journal and NAS log
//! viewers show escape codes as garbage.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// The format chosen at start-up, for [`warn`] and [`error`].
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people: time, level, message.
    Text,
    /// One JSON object per line: timestamp, level, message.
    Json,
}

/// Installs the global subscriber. Call once, before any work.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let mut filter =
        EnvFilter::try_from_env("SHORTPIXEL_AGENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The HTTP stack's own debug output is noise to a user, and at trace level it could
    // show request contents; keep it at info whatever the user asks for (G8). oxipng
    // narrates every PNG at info; the agent reports the outcome itself.
    for quiet in [
        "hyper=info",
        "hyper_util=info",
        "reqwest=info",
        "h2=info",
        "rustls=info",
        "oxipng=warn",
    ] {
        filter = filter.add_directive(quiet.parse().expect("static directive"));
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        .with_target(false);
    // The dashboard's last log lines are fed beside stderr.
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let ring = crate::dashboard::logs::RingLayer;
    match format {
        LogFormat::Text => builder.with_ansi(colours()).finish().with(ring).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .finish()
            .with(ring)
            .init(),
    }
}

/// A message for the person who ran the command (an error, why the run stopped). With
/// text logs it is a plain line on stderr; with JSON logs it is a log event too, so the
/// stream a log collector reads stays one JSON object per line.
pub fn warn(message: &str) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::warn!("{message}"),
        _ => eprintln!("{message}"),
    }
}

/// Like [`warn`], at error level.
pub fn error(message: &str) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::error!("{message}"),
        _ => eprintln!("{message}"),
    }
}

fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// stderr, written around the progress bar. The subscriber formats each event into one
/// buffer and writes it with one `write_all`, so a line is never split.
struct Stderr;

impl Write for Stderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::suspend(|| std::io::stderr().lock().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
