//! What `[limits]` does at run time: whether uploads (and local optimizing) may start now,
//! how many files the monthly credit budget still allows, and what `status` shows of it.
//!
//! - **Monthly budget**: the credits counted in the ledger for this local calendar month
//!   (`ledger::credits`) plus the files of uploads in flight ([`Spend`]) never pass
//!   `monthly_credits`: a request is cut to the room left, so the budget is never overrun,
//!   even by uploads running side by side. What is held stays `queued` with the reason;
//!   it goes next month, or once the budget is raised (config reload or restart).
//! - **Quiet hours**: no upload starts inside the window. The built-in optimizer works on
//!   unless `quiet_hours_local = false`. Polls and downloads of jobs already paid for go on.
//! - **Bandwidth**: see [`throttle`].
//!
//! A hold is never a failure: files keep their state (`queued`), nothing is sent, nothing
//! is lost, and the daemon looks again when the hold lifts (the window's end, midnight at
//! the turn of the month, a reload).

pub mod throttle;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::clock::Local;
use crate::config::limits::clock_text;
use crate::config::{Limits, QuietHours};
use crate::ledger::Ledger;

pub use throttle::Throttle;

/// Every held file's reason starts with this.
pub const HELD: &str = "held: ";

/// The process-wide state of the limits, shared by every batch.
#[derive(Debug, Default)]
pub struct Runtime {
    pub spend: Spend,
    pub throttle: Arc<Throttle>,
    /// Uploads paused from the dashboard: batches already running send nothing more.
    pub paused: Arc<std::sync::atomic::AtomicBool>,
}

impl Runtime {
    /// Whether uploads are paused from the dashboard.
    pub fn paused(&self) -> bool {
        self.paused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Why work waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The monthly credit budget is spent (counting uploads in flight).
    Budget { used: u64, budget: u64, now: Local },
    /// Inside quiet hours; `local`: the built-in optimizer is held too.
    Quiet { window: QuietHours, local: bool },
    /// Paused from the dashboard: lifts when it is resumed there.
    Paused,
}

impl Hold {
    /// The state word the dashboard and metrics use.
    pub fn state(&self) -> &'static str {
        match self {
            Hold::Budget { .. } => "budget_reached",
            Hold::Quiet { .. } => "quiet_hours",
            Hold::Paused => "paused",
        }
    }

    /// How long until the hold lifts by itself: the window's end, or the next local
    /// midnight (the month may have turned; a budget hold is looked at again then).
    pub fn lifts_in(&self, now: &Local) -> Duration {
        let secs = match self {
            Hold::Budget { .. } => now.secs_to_midnight(),
            Hold::Quiet { window, .. } => (u64::from(window.minutes_left(now.minute)) * 60)
                .saturating_sub(now.unix.rem_euclid(60) as u64),
            // Only a resume lifts it (and rescans); a day is just a fallback.
            Hold::Paused => 86_400,
        };
        Duration::from_secs(secs.max(1))
    }
}

impl std::fmt::Display for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Hold::Budget { used, budget, now } => write!(
                f,
                "{HELD}the monthly credit budget is reached ({used} of {budget} credits used in {}); uploads resume on {} or when limits.monthly_credits is raised",
                now.month_key(),
                now.next_month_words()
            ),
            Hold::Quiet { window, local } => {
                let what = if *local { "optimizing" } else { "uploads" };
                let end = clock_text(window.end);
                write!(f, "{HELD}quiet hours ({window}, local time); {what} resume at {end}")
            }
            Hold::Paused => write!(
                f,
                "{HELD}uploads are paused from the dashboard; resuming there sends it"
            ),
        }
    }
}

/// Whether uploads may start `now`: the number of files the budget still allows (`None`:
/// no budget), or why not.
pub fn uploads(limits: &Limits, spend: &Spend, now: &Local) -> Result<Option<u64>, Hold> {
    if let Some(window) = limits.quiet_hours.filter(|q| q.contains(now.minute)) {
        return Err(Hold::Quiet {
            window,
            local: false,
        });
    }
    let Some(budget) = limits.monthly_credits else {
        return Ok(None);
    };
    let used = spend.counted(&now.month_key());
    if used >= budget {
        return Err(Hold::Budget {
            used,
            budget,
            now: *now,
        });
    }
    Ok(Some(budget - used))
}

/// Whether the built-in optimizer must wait `now` (quiet hours with
/// `quiet_hours_local = false`).
pub fn local(limits: &Limits, now: &Local) -> Option<Hold> {
    let window = limits.quiet_hours.filter(|q| q.contains(now.minute))?;
    (!limits.quiet_hours_local).then_some(Hold::Quiet {
        window,
        local: true,
    })
}

/// This month's credits as this process counts them: those in the ledger when the month's
/// count was loaded, plus those recorded since, plus files of uploads in flight. Only one
/// process writes a ledger (the lock), so the count stays exact without reading it again.
#[derive(Debug, Default)]
pub struct Spend(Mutex<SpendState>);

#[derive(Debug, Default)]
struct SpendState {
    /// The month `used` counts; `None` until loaded.
    month: Option<String>,
    used: u64,
    reserved: u64,
}

impl Spend {
    fn state(&self) -> std::sync::MutexGuard<'_, SpendState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether this month's count has not been read from the ledger yet.
    pub fn needs_load(&self) -> bool {
        self.state().month.is_none()
    }

    /// Sets the count read from the ledger for `month` (only the first time).
    pub fn load(&self, month: &str, used: u64) {
        let mut s = self.state();
        if s.month.is_none() {
            s.month = Some(month.to_string());
            s.used = used;
        }
    }

    /// Credits counted for `month`, uploads in flight included. A new month starts at 0
    /// (every job recorded in it was recorded by this process).
    pub fn counted(&self, month: &str) -> u64 {
        let mut s = self.state();
        if s.month.as_deref() != Some(month) {
            s.month = Some(month.to_string());
            s.used = 0;
        }
        s.used + s.reserved
    }

    /// `files` are about to be sent.
    pub fn reserve(&self, files: u64) {
        self.state().reserved += files;
    }

    /// A request of `reserved` files ended; `paid` of them made a job (now counted in the
    /// ledger).
    pub fn settle(&self, reserved: u64, paid: u64) {
        let mut s = self.state();
        s.reserved = s.reserved.saturating_sub(reserved);
        s.used += paid;
    }
}

/// Files held back by a limit, by reason.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Held {
    pub reason: String,
    pub files: u64,
}

/// The `limits` object of `status --json` and `/api/status`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `limits.monthly_credits`; null: no budget.
    pub monthly_credits: Option<u64>,
    /// Credits this agent caused this month (local time), counted in the ledger.
    pub credits_used_month: u64,
    /// The month counted, `"2026-11"`.
    pub month: String,
    pub budget_reached: bool,
    /// `limits.quiet_hours` as `"HH:MM-HH:MM"`; null: none.
    pub quiet_hours: Option<String>,
    pub quiet_hours_local: bool,
    /// Whether the local time is inside quiet hours now.
    pub quiet_now: bool,
    /// `limits.upload_kbps` (KiB a second); null: no limit.
    pub upload_kbps: Option<u64>,
    /// Files waiting for a limit to lift, by reason.
    pub held: Vec<Held>,
    /// What the limits hold now, as the daemon's state word (`budget_reached`,
    /// `quiet_hours`), or null.
    pub in_effect: Option<&'static str>,
}

/// Builds the report. `uploads`: the backend uploads (quiet hours then hold uploads; with
/// the built-in optimizer they hold only when `quiet_hours_local = false`).
pub fn report(
    limits: &Limits,
    ledger: Option<&Ledger>,
    uploads: bool,
    now: &Local,
) -> anyhow::Result<Report> {
    let month = now.month_key();
    let (used, held) = match ledger {
        Some(l) => (l.credits_used(&month)?, l.held_reasons(HELD)?),
        None => (0, Vec::new()),
    };
    let budget_reached = limits.monthly_credits.is_some_and(|b| used >= b);
    let quiet_now = limits.quiet_hours.is_some_and(|q| q.contains(now.minute));
    let in_effect = if uploads && budget_reached {
        Some("budget_reached")
    } else if quiet_now && (uploads || !limits.quiet_hours_local) {
        Some("quiet_hours")
    } else {
        None
    };
    Ok(Report {
        monthly_credits: limits.monthly_credits,
        credits_used_month: used,
        month,
        budget_reached,
        quiet_hours: limits.quiet_hours.map(|q| q.to_string()),
        quiet_hours_local: limits.quiet_hours_local,
        quiet_now,
        upload_kbps: limits.upload_kbps,
        held: held
            .into_iter()
            .map(|(reason, files)| Held { reason, files })
            .collect(),
        in_effect,
    })
}

/// The limits in one line each, for `status` and `check` (nothing when none is set).
pub fn lines(r: &Report) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(b) = r.monthly_credits {
        let mut l = format!(
            "monthly budget {b} credits, {} used in {}",
            r.credits_used_month, r.month
        );
        if r.budget_reached {
            l.push_str(" (reached: uploads paused until next month or a higher budget)");
        }
        out.push(l);
    }
    if let Some(q) = &r.quiet_hours {
        let local = if r.quiet_hours_local {
            "the built-in optimizer keeps working"
        } else {
            "the built-in optimizer waits too"
        };
        let now = if r.quiet_now {
            "in effect now"
        } else {
            "not now"
        };
        out.push(format!(
            "quiet hours {q} local time, no uploads ({local}); {now}"
        ));
    }
    if let Some(k) = r.upload_kbps {
        out.push(format!("uploads limited to {k} KiB/s in total"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> Local {
        Local {
            unix: 1_790_000_000,
            year: 2026,
            month: 11,
            day: 29,
            minute,
        }
    }

    #[test]
    fn the_budget_counts_uploads_in_flight_and_a_new_month_starts_at_zero() {
        let limits = Limits {
            monthly_credits: Some(5),
            ..Limits::default()
        };
        let spend = Spend::default();
        spend.load("2026-11", 2);
        assert_eq!(uploads(&limits, &spend, &at(600)), Ok(Some(3)));
        spend.reserve(3);
        let held = uploads(&limits, &spend, &at(600)).unwrap_err();
        assert_eq!(held.state(), "budget_reached");
        assert!(
            held.to_string().contains("5 of 5 credits used in 2026-11"),
            "{held}"
        );
        assert!(held.to_string().contains("1 December 2026"), "{held}");
        // One of the three made no job: its credit is free again.
        spend.settle(3, 2);
        assert_eq!(uploads(&limits, &spend, &at(600)), Ok(Some(1)));
        let december = Local {
            month: 12,
            ..at(600)
        };
        assert_eq!(uploads(&limits, &spend, &december), Ok(Some(5)));
    }

    #[test]
    fn quiet_hours_hold_uploads_and_local_work_only_when_asked() {
        let mut limits = Limits {
            quiet_hours: Some(QuietHours::parse("23:00-06:30").unwrap()),
            ..Limits::default()
        };
        let spend = Spend::default();
        let held = uploads(&limits, &spend, &at(60)).unwrap_err();
        assert!(
            held.to_string().contains("uploads resume at 06:30"),
            "{held}"
        );
        assert_eq!(held.lifts_in(&at(60)).as_secs() / 60, 5 * 60 + 29);
        assert_eq!(uploads(&limits, &spend, &at(7 * 60)), Ok(None));
        assert_eq!(local(&limits, &at(60)), None);
        limits.quiet_hours_local = false;
        assert!(local(&limits, &at(60)).is_some());
        assert_eq!(local(&limits, &at(12 * 60)), None);
    }
}
