//! Progress of `run --once`: on a terminal, a bar with the files done, the bytes saved and
//! the time left ("estimating" until the rate is known); otherwise (a pipe, a log file, cron, `--log-format json`) plain log lines,
//! at most one per tenth of the work or per half minute, and one at the end.
//!
//! It only reads the batch's [`Tally`] a few times a second, so the pipeline knows nothing
//! about it and a slow terminal can never slow the work down.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::logging::LogFormat;
use crate::pipeline::{Ctx, Tally};
use crate::status::human_bytes;

/// How often the display looks at the tally.
const TICK: Duration = Duration::from_millis(200);

/// At most this long between two progress lines while files are being done.
const LINE_EVERY: Duration = Duration::from_secs(30);

/// The bar being drawn, if any, so log lines can be written around it.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `write` with the progress bar (if one is drawn) lifted off the terminal.
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// A running display; [`Progress::finish`] draws the last state and stops it.
pub struct Progress {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts showing the progress of `ctx`'s batch. Must be called inside the runtime.
    pub fn start(ctx: Arc<Ctx>, format: LogFormat) -> Progress {
        let bar = on_a_terminal(format).then(new_bar);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut view = View::new(bar);
            let mut tick = tokio::time::interval(TICK);
            loop {
                tokio::select! {
                    _ = tick.tick() => view.update(&ctx.tally, false),
                    _ = stopped.changed() => break,
                }
            }
            view.update(&ctx.tally, true);
        });
        Progress { stop, task }
    }

    /// Shows the final counts and stops the display.
    pub async fn finish(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// A bar only where someone watches it: a terminal that can redraw, with text logs.
fn on_a_terminal(format: LogFormat) -> bool {
    format == LogFormat::Text
        && std::io::stderr().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

fn new_bar() -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .expect("static template")
            .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "),
    );
    bar.set_message("scanning the folders…");
    *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
    bar
}

/// What one look at the tally shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    done: u64,
    planned: u64,
    saved: u64,
}

impl Snapshot {
    fn of(t: &Tally) -> Snapshot {
        let before = Tally::get(&t.bytes_before);
        let after = Tally::get(&t.bytes_after);
        Snapshot {
            done: t.files_done(),
            planned: Tally::get(&t.planned),
            saved: before.saturating_sub(after),
        }
    }
}

struct View {
    bar: Option<ProgressBar>,
    started: Instant,
    /// When the plan was known and how much was already done then (the ETA's baseline).
    planned_at: Option<(Instant, u64)>,
    last_line: Option<(Instant, Snapshot)>,
}

impl View {
    fn new(bar: Option<ProgressBar>) -> View {
        View {
            bar,
            started: Instant::now(),
            planned_at: None,
            last_line: None,
        }
    }

    fn update(&mut self, tally: &Tally, last: bool) {
        let now = Snapshot::of(tally);
        if now.planned > 0 && self.planned_at.is_none() {
            self.planned_at = Some((Instant::now(), now.done));
        }
        match &self.bar {
            Some(bar) => draw(bar, now, self.eta(now), last),
            None => {
                if let Some(line) = self.line(now, last) {
                    tracing::info!("{line}");
                }
            }
        }
    }

    /// A plain line when a tenth more of the work is done, after a quiet half minute, and
    /// at the end.
    fn line(&mut self, now: Snapshot, last: bool) -> Option<String> {
        if now.planned == 0 {
            return None;
        }
        let due = match self.last_line {
            None => true,
            Some((_, prev)) if prev == now => false,
            Some((at, prev)) => {
                tenth(prev.done, now.planned) != tenth(now.done, now.planned)
                    || at.elapsed() >= LINE_EVERY
            }
        };
        // The closing line, with the totals and the time taken, always comes: a tick may
        // have shown the same counts just before the batch ended (a busy machine).
        if !(due || last) {
            return None;
        }
        let tail = if last {
            format!("took {}", duration(self.started.elapsed()))
        } else if now.done >= now.planned {
            "finishing".into()
        } else {
            time_left(self.eta(now))
        };
        self.last_line = Some((Instant::now(), now));
        Some(format!("progress: {}, {tail}", counts(now)))
    }

    /// The time left at the rate seen since the plan was made.
    fn eta(&self, now: Snapshot) -> Option<Duration> {
        let (since, base) = self.planned_at?;
        let done = now.done.saturating_sub(base);
        let elapsed = since.elapsed().as_secs_f64();
        if done == 0 || elapsed < 1.0 {
            return None;
        }
        let left = now.planned.saturating_sub(now.done) as f64;
        Some(Duration::from_secs_f64(left * elapsed / done as f64))
    }
}

/// "about 4m 10s left", or "estimating the time left" until the rate is known: a guess
/// from the first second would say "0s left" for a run that has barely begun.
fn time_left(eta: Option<Duration>) -> String {
    match eta {
        Some(left) => format!("about {} left", duration(left)),
        None => "estimating the time left".into(),
    }
}

fn draw(bar: &ProgressBar, now: Snapshot, eta: Option<Duration>, last: bool) {
    if last {
        bar.finish_and_clear();
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = None;
        return;
    }
    if now.planned == 0 {
        bar.tick();
        return;
    }
    bar.set_message(format!(
        "{} saved · {}",
        human_bytes(now.saved),
        time_left(eta)
    ));
    if bar.length().is_none() {
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} files · {msg}")
                .expect("static template")
                .progress_chars("█▉▊▋▌▍▎▏ "),
        );
        bar.set_length(now.planned);
        bar.reset_eta();
    }
    bar.set_length(now.planned.max(now.done));
    bar.set_position(now.done);
}

/// "12/40 files (30%), 3.1 MiB saved"
fn counts(s: Snapshot) -> String {
    let total = s.planned.max(s.done);
    let pct = (s.done * 100).checked_div(total).unwrap_or(100);
    format!(
        "{}/{total} files ({pct}%), {} saved",
        s.done,
        human_bytes(s.saved)
    )
}

/// Which tenth of the work `done` is in (10 when complete).
fn tenth(done: u64, planned: u64) -> u64 {
    if planned == 0 {
        return 0;
    }
    done.min(planned) * 10 / planned
}

/// "2h 5m", "4m 10s", "12s".
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(duration(Duration::from_secs(12)), "12s");
        assert_eq!(duration(Duration::from_secs(250)), "4m 10s");
        assert_eq!(duration(Duration::from_secs(7500)), "2h 5m");
    }

    #[test]
    fn the_time_left_says_estimating_until_it_can_be_known() {
        assert_eq!(time_left(None), "estimating the time left");
        assert_eq!(
            time_left(Some(Duration::from_secs(250))),
            "about 4m 10s left"
        );
        let view = View::new(None);
        let s = Snapshot {
            done: 0,
            planned: 10,
            saved: 0,
        };
        assert_eq!(view.eta(s), None, "no plan seen yet: no guess");
    }

    #[test]
    fn the_closing_line_comes_even_when_a_tick_just_showed_the_same_counts() {
        let mut view = View::new(None);
        let all = Snapshot {
            done: 3,
            planned: 3,
            saved: 100,
        };
        let tick = view.line(all, false).expect("a tenth more is done");
        assert!(tick.ends_with("finishing"), "{tick}");
        let end = view.line(all, true).expect("the closing line");
        assert!(
            end.contains("3/3 files (100%)") && end.contains("took"),
            "{end}"
        );
    }

    #[test]
    fn a_line_is_due_at_each_tenth() {
        assert_eq!(tenth(0, 40), 0);
        assert_eq!(tenth(3, 40), 0);
        assert_eq!(tenth(4, 40), 1);
        assert_eq!(tenth(40, 40), 10);
        assert_eq!(tenth(41, 40), 10);
    }

    #[test]
    fn counts_never_show_more_done_than_total() {
        let s = Snapshot {
            done: 5,
            planned: 4,
            saved: 2048,
        };
        assert_eq!(counts(s), "5/5 files (100%), 2.0 KiB saved");
    }
}
