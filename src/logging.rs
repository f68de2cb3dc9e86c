//! Logs on stderr, as text for people or as one JSON object per line for log collectors
//! (`--log-format json`, or `SHORTPIXEL_AGENT_LOG_FORMAT=json`). The level comes from
//! `SHORTPIXEL_AGENT_LOG` (default `info`).
//!
//! On a terminal, text lines start with the local time of day (`14:03:07`), short enough
//! not to wrap; anywhere else (the journal, a file, a pipe) and in JSON they carry the full
//! UTC timestamp.
//!
//! Libraries that log through the `log` crate (oxipng) come through [`Bridge`]: their
//! warnings are about the image being optimized but name none, so the file this thread is
//! working on ([`about`]) is put in front, and the ones the optimizer is known to give are
//! said in words that tell the user what happened to their picture.
//!
//! Every line goes through [`crate::progress::suspend`], so a progress bar on the terminal is
//! lifted out of the way while a line is written instead of being torn by it. Colours are
//! used only on a terminal, and never with `NO_COLOR`: the systemd journal and NAS log
//! viewers show escape codes as garbage.

use std::cell::RefCell;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
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

/// Installs the global subscriber and the bridge from the `log` crate. Call once, before
/// any work.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let mut filter =
        EnvFilter::try_from_env("SHORTPIXEL_AGENT_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // The HTTP stack's own debug output is noise to a user, and at trace level it could
    // show request contents; keep it at info whatever the user asks for (G8).
    for quiet in [
        "hyper=info",
        "hyper_util=info",
        "reqwest=info",
        "h2=info",
        "rustls=info",
    ] {
        filter = filter.add_directive(quiet.parse().expect("static directive"));
    }
    let max = filter.max_level_hint();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| Stderr)
        .with_target(false);
    let terminal = std::io::stderr().is_terminal();
    let installed = match format {
        LogFormat::Text if terminal => tracing::subscriber::set_global_default(
            builder.with_ansi(colours()).with_timer(LocalTime).finish(),
        ),
        LogFormat::Text => {
            tracing::subscriber::set_global_default(builder.with_ansi(false).finish())
        }
        LogFormat::Json => tracing::subscriber::set_global_default(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .finish(),
        ),
    };
    if installed.is_ok() && log::set_logger(&Bridge).is_ok() {
        log::set_max_level(match max {
            Some(l) if l == tracing::level_filters::LevelFilter::OFF => log::LevelFilter::Off,
            Some(l) if l >= tracing::level_filters::LevelFilter::TRACE => log::LevelFilter::Trace,
            Some(l) if l >= tracing::level_filters::LevelFilter::DEBUG => log::LevelFilter::Debug,
            _ => log::LevelFilter::Info,
        });
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

/// Like [`warn`], at info level: what is about to happen and how to undo it.
pub fn say(message: &str) {
    match FORMAT.get() {
        Some(LogFormat::Json) => tracing::info!("{message}"),
        _ => eprintln!("{message}"),
    }
}

thread_local! {
    /// The file this thread is optimizing, for the bridge's messages.
    static FILE: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// While the guard lives, what libraries log on this thread is about `path`.
pub fn about(path: &Path) -> About {
    About(FILE.with(|f| f.replace(Some(path.to_path_buf()))))
}

/// Restores what the thread was about before (see [`about`]).
pub struct About(Option<PathBuf>);

impl Drop for About {
    fn drop(&mut self) {
        let previous = self.0.take();
        FILE.with(|f| *f.borrow_mut() = previous);
    }
}

/// Forwards `log` records into tracing; oxipng's are reworded and name the file.
struct Bridge;

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if !record.target().starts_with("oxipng") {
            if self.enabled(record.metadata()) {
                let _ = tracing_log::format_trace(record);
            }
            return;
        }
        // oxipng narrates every PNG at info and below; the agent reports the outcome itself.
        if record.level() > log::Level::Warn {
            return;
        }
        let file = FILE.with(|f| f.borrow().clone());
        let name = file
            .as_deref()
            .map_or_else(|| "a PNG".to_string(), |p| p.display().to_string());
        match reword(&record.args().to_string()) {
            Some(said) => tracing::info!("{name}: {said}"),
            None => tracing::warn!(
                "{name}: the PNG optimizer (oxipng) warns: {}",
                record.args()
            ),
        }
    }

    fn flush(&self) {}
}

/// What oxipng's known warnings mean for the picture; `None` for the others.
fn reword(message: &str) -> Option<String> {
    if let Some(chunk) = message.strip_suffix(" chunk explicitly kept, disabling all reductions") {
        return Some(format!(
            "its {chunk} chunk (how the colours were recorded) is kept, so the PNG is compressed \
             without changing its colour type or bit depth; the picture is unchanged, the saving smaller"
        ));
    }
    if message == "APNG detected, disabling all reductions" {
        return Some("an animated PNG: compressed without touching its colours or frames".into());
    }
    if let Some(chunk) = message
        .strip_prefix("Removing ")
        .and_then(|m| m.strip_suffix(" chunk as it no longer matches the image data"))
    {
        return Some(format!(
            "its {chunk} chunk was dropped: it described the colours before they were reduced"
        ));
    }
    None
}

fn colours() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The local time of day, `14:03:07`, for lines a person reads on a terminal.
struct LocalTime;

impl FormatTime for LocalTime {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        // SAFETY: time(NULL) and localtime_r only write into the tm we own.
        let tm = unsafe {
            let now = libc::time(std::ptr::null_mut());
            let mut tm: libc::tm = std::mem::zeroed();
            (!libc::localtime_r(&now, &mut tm).is_null()).then_some(tm)
        };
        match tm {
            Some(tm) => write!(w, "{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec),
            None => Ok(()),
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_optimizers_known_warnings_say_what_they_mean_for_the_picture() {
        let said = reword("sBIT chunk explicitly kept, disabling all reductions").unwrap();
        assert!(
            said.contains("sBIT") && said.contains("picture is unchanged"),
            "{said}"
        );
        assert!(reword("APNG detected, disabling all reductions").is_some());
        assert!(
            reword("Removing bKGD chunk as it no longer matches the image data")
                .unwrap()
                .contains("bKGD")
        );
        assert_eq!(reword("something new"), None);
    }

    #[test]
    fn about_names_the_file_for_this_thread_only_while_it_lasts() {
        let current = || FILE.with(|f| f.borrow().clone());
        {
            let _a = about(Path::new("/p/a.png"));
            assert_eq!(current().as_deref(), Some(Path::new("/p/a.png")));
            {
                let _b = about(Path::new("/p/b.png"));
                assert_eq!(current().as_deref(), Some(Path::new("/p/b.png")));
            }
            assert_eq!(current().as_deref(), Some(Path::new("/p/a.png")));
        }
        assert_eq!(current(), None);
    }
}
