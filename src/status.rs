//! `status`: what the ledger says, per folder and in total, as a table or as the JSON object
//! fixed by SPEC §1. Read-only: it opens the ledger without writing, so it is safe while a
//! daemon runs.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Config, Mode};
use crate::ledger::{BackupTotals, FolderSummary, Ledger, Summary};
use crate::names::shown;
use crate::optimize::shortpixel::Credits;

#[derive(Debug, Serialize)]
pub struct Report {
    pub daemon: Daemon,
    pub totals: FolderSummary,
    pub folders: Vec<FolderReport>,
    pub failures: Vec<Failure>,
    pub credits: Option<Credits>,
    pub backend: &'static str,
    #[serde(serialize_with = "crate::names::serialize")]
    pub ledger: PathBuf,
    /// Why files were skipped, with counts.
    pub skipped: Vec<SkipReason>,
    /// Skipped files by name (the first 1000), with the reason.
    pub skipped_files: Vec<Failure>,
    /// Originals in the backup store, and those pruned.
    pub backups: BackupTotals,
    /// `[limits]`: the monthly budget and this month's use, quiet hours, the upload limit,
    /// and the files they hold.
    pub limits: crate::limits::Report,
}

#[derive(Debug, Serialize)]
pub struct Daemon {
    pub running: bool,
    pub pid: Option<u32>,
    /// Files waiting to be optimized.
    pub queued: u64,
    /// Files being uploaded or waiting for ShortPixel's result.
    pub in_flight: u64,
    /// What the daemon is doing (`watching`, `scanning`, `optimizing`, `paused`,
    /// `out_of_credits`, `budget_reached`, `quiet_hours`); known only to the daemon itself,
    /// so only its dashboard says it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'static str>,
    /// When the daemon last scanned every folder without error (seconds since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_scan: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct FolderReport {
    #[serde(serialize_with = "crate::names::serialize")]
    pub path: PathBuf,
    pub mode: &'static str,
    #[serde(flatten)]
    pub counts: FolderSummary,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    /// Escaped where the name is not UTF-8 (see `names::shown`).
    #[serde(serialize_with = "crate::names::serialize")]
    pub path: PathBuf,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct SkipReason {
    pub reason: String,
    pub files: u64,
}

/// Builds the report from the ledger (which may not exist yet) and the credits, if known.
pub fn report(
    config: &Config,
    ledger: Option<&Ledger>,
    mut daemon: Daemon,
    credits: Option<Credits>,
) -> anyhow::Result<Report> {
    if let Some(l) = ledger {
        (daemon.queued, daemon.in_flight) = l.queue_counts()?;
    }
    let summary = match ledger {
        Some(l) => l.summary()?,
        None => Summary::default(),
    };
    let backups = match ledger {
        Some(l) => l.backup_totals()?,
        None => BackupTotals::default(),
    };
    let uploads = config.backend == crate::config::BackendKind::Shortpixel;
    let limits = crate::limits::report(&config.limits, ledger, uploads, &crate::clock::now())?;
    // The daemon's own state, unless a pause or the credits say more: what the limits hold.
    if let (Some(state), Some(held)) = (daemon.state, limits.in_effect) {
        if !matches!(state, "paused" | "out_of_credits") {
            daemon.state = Some(held);
        }
    }
    let mut totals = FolderSummary::default();
    let folders: Vec<FolderReport> = config
        .folders
        .iter()
        .map(|f| {
            let counts = summary.folders.get(&f.path).cloned().unwrap_or_default();
            totals.add(&counts);
            FolderReport {
                path: f.path.clone(),
                mode: match f.mode {
                    Mode::Replace => "replace",
                    Mode::Mirror => "mirror",
                },
                counts,
            }
        })
        .collect();
    Ok(Report {
        daemon,
        totals,
        folders,
        failures: summary
            .failures
            .into_iter()
            .map(|(path, reason)| Failure { path, reason })
            .collect(),
        credits,
        backend: match config.backend {
            crate::config::BackendKind::Shortpixel => "shortpixel",
            crate::config::BackendKind::Local => "local",
        },
        ledger: config.ledger.clone(),
        skipped: summary
            .skip_reasons
            .into_iter()
            .map(|(reason, files)| SkipReason { reason, files })
            .collect(),
        skipped_files: summary
            .skipped
            .into_iter()
            .map(|(path, reason)| Failure { path, reason })
            .collect(),
        backups,
        limits,
    })
}

/// The human table.
pub fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let mut daemon = match (r.daemon.running, r.daemon.pid) {
        (true, Some(pid)) => format!("running (pid {pid})"),
        (true, None) => "running".into(),
        _ => "not running".into(),
    };
    if r.daemon.queued + r.daemon.in_flight > 0 {
        let _ = write!(
            daemon,
            "; {} queued, {} in flight",
            r.daemon.queued, r.daemon.in_flight
        );
    }
    let _ = writeln!(out, "daemon:   {daemon}");
    let _ = writeln!(out, "backend:  {}", r.backend);
    match &r.credits {
        Some(c) if c.unlimited => {
            let _ = writeln!(out, "credits:  unlimited");
        }
        Some(c) => {
            let _ = writeln!(
                out,
                "credits:  {} left (monthly {}/{} used, one-time {}/{} used)",
                c.remaining, c.used, c.quota, c.one_time_used, c.one_time_quota
            );
        }
        None => {}
    }
    for line in crate::limits::lines(&r.limits) {
        let _ = writeln!(out, "limits:   {line}");
    }
    for h in &r.limits.held {
        let _ = writeln!(out, "          {} file(s) {}", h.files, h.reason);
    }
    let b = &r.backups;
    if b.files + b.pruned > 0 {
        let _ = write!(
            out,
            "backups:  {} original(s), {}",
            b.files,
            human_bytes(b.bytes)
        );
        if b.pruned > 0 {
            let _ = write!(
                out,
                "; {} pruned, {} optimized file(s) can no longer be restored",
                b.pruned, b.unrestorable
            );
        }
        let _ = writeln!(out, " (`backups` for details)");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<40} {:>7} {:>9} {:>7} {:>6} {:>7} {:>8} {:>10} {:>7}",
        "folder",
        "files",
        "optimized",
        "pending",
        "failed",
        "skipped",
        "restored",
        "saved",
        "saved%"
    );
    let mut rows: Vec<(String, &FolderSummary)> = r
        .folders
        .iter()
        .map(|f| (format!("{} ({})", shorten(&f.path, 30), f.mode), &f.counts))
        .collect();
    rows.push(("total".into(), &r.totals));
    for (name, c) in rows {
        let saved = c.bytes_original.saturating_sub(c.bytes_optimized);
        let pct = if c.bytes_original > 0 {
            100.0 * saved as f64 / c.bytes_original as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{:<40} {:>7} {:>9} {:>7} {:>6} {:>7} {:>8} {:>10} {:>6.1}%",
            name,
            c.files,
            c.optimized,
            c.pending,
            c.failed,
            c.skipped,
            c.restored,
            human_bytes(saved),
            pct
        );
    }
    if r.failures.len() > 5 {
        let _ = writeln!(out, "\nfailures by reason:");
        for (reason, n) in top_reasons(&r.failures).into_iter().take(5) {
            let _ = writeln!(out, "  {n:>6}  {reason}");
        }
    }
    if !r.failures.is_empty() {
        let total = r.totals.failed.max(r.failures.len() as u64);
        let _ = writeln!(out, "\nfailures ({total}):");
        for f in r.failures.iter().take(20) {
            let _ = writeln!(out, "  {}: {}", shown(&f.path), f.reason);
        }
        if total > 20 {
            let _ = writeln!(
                out,
                "  … and {} more (status --json lists the first {})",
                total - 20,
                crate::ledger::MAX_FAILURES
            );
        }
    }
    if !r.skipped.is_empty() {
        let _ = writeln!(out, "\nskipped, by reason:");
        for s in r.skipped.iter().take(10) {
            let _ = writeln!(out, "  {:>6}  {}", s.files, s.reason);
        }
        // Name the files, except the "already optimal" ones, which need no action.
        let notable: Vec<&Failure> = r
            .skipped_files
            .iter()
            .filter(|f| !f.reason.starts_with("already optimal"))
            .collect();
        if !notable.is_empty() {
            let _ = writeln!(out, "\nskipped files:");
            for f in notable.iter().take(20) {
                let _ = writeln!(out, "  {}: {}", shown(&f.path), f.reason);
            }
            if notable.len() > 20 {
                let _ = writeln!(
                    out,
                    "  … and {} more (status --json lists them)",
                    notable.len() - 20
                );
            }
        }
    }
    out
}

/// Distinct failure reasons, most common first.
fn top_reasons(failures: &[Failure]) -> Vec<(&str, usize)> {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for f in failures {
        *counts.entry(f.reason.as_str()).or_default() += 1;
    }
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v
}

fn shorten(p: &Path, max: usize) -> String {
    let s = shown(p);
    let n = s.chars().count();
    if n <= max {
        s
    } else {
        format!("…{}", s.chars().skip(n - max + 1).collect::<String>())
    }
}

/// Sizes in human units (binary: KiB, MiB…).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_grouped_by_reason_most_common_first() {
        let f = |p: &str, r: &str| Failure {
            path: p.into(),
            reason: r.into(),
        };
        let failures = [f("/a", "corrupt"), f("/b", "too big"), f("/c", "corrupt")];
        assert_eq!(top_reasons(&failures), vec![("corrupt", 2), ("too big", 1)]);
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024), "5.0 MiB");
    }
}
