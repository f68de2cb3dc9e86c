//! The last log lines, for the dashboard: a small ring in memory fed by a `tracing` layer
//! beside the one writing stderr. It keeps lines at `info` and above, at most [`CAPACITY`],
//! each numbered so the page asks only for lines newer than those it has. The lines are the
//! same the log shows, so they hold no secret either (G8: nothing logs the key).

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Mutex;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Lines kept.
pub const CAPACITY: usize = 300;

#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// Increases by one per line, from 1.
    pub seq: u64,
    /// Seconds since the epoch.
    pub at: i64,
    pub level: &'static str,
    pub message: String,
}

struct Ring {
    lines: VecDeque<Line>,
    next: u64,
}

static RING: Mutex<Ring> = Mutex::new(Ring {
    lines: VecDeque::new(),
    next: 1,
});

fn ring() -> std::sync::MutexGuard<'static, Ring> {
    RING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Adds a line to the ring.
pub fn push(level: &'static str, message: String) {
    let mut r = ring();
    let seq = r.next;
    r.next += 1;
    if r.lines.len() == CAPACITY {
        r.lines.pop_front();
    }
    r.lines.push_back(Line {
        seq,
        at: crate::ledger::now(),
        level,
        message,
    });
}

/// The lines kept with `seq` greater than `after`, oldest first.
pub fn since(after: u64) -> Vec<Line> {
    ring()
        .lines
        .iter()
        .filter(|l| l.seq > after)
        .cloned()
        .collect()
}

/// The layer to add to the subscriber (see `logging::init`).
pub struct RingLayer;

impl<S: Subscriber> Layer<S> for RingLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::INFO {
            return;
        }
        let mut text = Text::default();
        event.record(&mut text);
        let name = match level {
            Level::ERROR => "error",
            Level::WARN => "warn",
            _ => "info",
        };
        push(name, text.0);
    }
}

/// The event's message, then its other fields as `name=value`.
#[derive(Default)]
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let rest = std::mem::take(&mut self.0);
            let _ = write!(self.0, "{value:?}");
            self.0.push_str(&rest);
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, value);
        } else {
            let _ = write!(self.0, " {}={value}", field.name());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_lines_numbered() {
        let start = since(0).last().map_or(0, |l| l.seq);
        for i in 0..CAPACITY + 5 {
            push("info", format!("line {i}"));
        }
        let kept = since(start);
        assert!(kept.len() <= CAPACITY);
        assert_eq!(
            kept.last().unwrap().message,
            format!("line {}", CAPACITY + 4)
        );
        assert!(kept.windows(2).all(|w| w[1].seq == w[0].seq + 1));
        let last = kept.last().unwrap().seq;
        assert!(since(last).is_empty());
    }
}
