//! Keeping the backup store at a size you can live with: what it holds, and pruning by
//! age or total size.
//!
//! The store holds two kinds of files, both named by their content hash: **originals**
//! (recorded in the ledger's `backups` table) and **kept results** (optimized bytes kept so a
//! copy of an original is never paid for twice, G4). An original is *needed* while a file is
//! optimized in place from it: the backup is then the only copy of that original, and
//! pruning it means the file can never be restored. Needed backups are only pruned with
//! `force`; every pruned original is recorded in the ledger with the date, so `restore`
//! can say what happened instead of reporting a missing file.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context;

use super::BackupStore;
use crate::ledger::Ledger;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The original bytes of a file the agent optimized.
    Original,
    /// An optimized result kept for copies of its original.
    Result,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub hash: String,
    pub path: PathBuf,
    pub size: u64,
    /// When it was stored, in seconds since the epoch.
    pub created: i64,
    pub kind: Kind,
    /// The only copy of an original whose file is optimized in place.
    pub needed: bool,
    /// The only copy of the original of a file optimized in place and then deleted: when
    /// the last such file was deleted (seconds since the epoch).
    pub deleted: Option<i64>,
}

/// Everything in the store, oldest first.
#[derive(Debug, Default)]
pub struct Inventory {
    pub entries: Vec<Entry>,
    /// Originals pruned earlier (from the ledger).
    pub pruned_earlier: u64,
}

impl Inventory {
    /// Walks the store (`<dir>/ab/abcdef…`) and asks the ledger, if there is one, which files
    /// are originals and which of those are still needed.
    pub fn load(store: &BackupStore, ledger: Option<&Ledger>) -> anyhow::Result<Inventory> {
        let (rows, needed, deleted) = match ledger {
            Some(l) => (l.backup_rows()?, l.needed_backups()?, l.deleted_backups()?),
            None => Default::default(),
        };
        let originals: std::collections::HashMap<&str, i64> = rows
            .iter()
            .filter(|r| r.pruned.is_none())
            .map(|r| (r.hash.as_str(), r.created))
            .collect();
        let mut entries = Vec::new();
        let top = match std::fs::read_dir(store.dir()) {
            Ok(top) => top,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Inventory {
                    entries,
                    pruned_earlier: rows.iter().filter(|r| r.pruned.is_some()).count() as u64,
                })
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot read the backup folder {}", store.dir().display())
                })
            }
        };
        for sub in top {
            let sub = sub?.path();
            if !sub.is_dir() {
                continue;
            }
            let files = std::fs::read_dir(&sub)
                .with_context(|| format!("cannot read the backup folder {}", sub.display()))?;
            for file in files {
                let file = file?;
                let name = file.file_name().to_string_lossy().into_owned();
                // Only hash-named files are backups (not a write's leftover temporary file).
                if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
                    continue;
                }
                let meta = file.metadata()?;
                if !meta.is_file() {
                    continue;
                }
                let (kind, created) = match originals.get(name.as_str()) {
                    Some(&created) => (Kind::Original, created),
                    None => (Kind::Result, mtime(&meta)),
                };
                entries.push(Entry {
                    needed: kind == Kind::Original && needed.contains(&name),
                    deleted: deleted
                        .get(&name)
                        .copied()
                        .filter(|_| kind == Kind::Original),
                    hash: name,
                    path: file.path(),
                    size: meta.len(),
                    created,
                    kind,
                });
            }
        }
        entries.sort_by(|a, b| a.created.cmp(&b.created).then(a.hash.cmp(&b.hash)));
        Ok(Inventory {
            entries,
            pruned_earlier: rows.iter().filter(|r| r.pruned.is_some()).count() as u64,
        })
    }

    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }

    /// (files, bytes) of one kind; `needed_only` counts only the needed ones.
    pub fn count(&self, kind: Kind, needed_only: bool) -> (u64, u64) {
        self.entries
            .iter()
            .filter(|e| e.kind == kind && (e.needed || !needed_only))
            .fold((0, 0), |(n, b), e| (n + 1, b + e.size))
    }
}

fn mtime(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What to prune: by age, to fit a size, or both.
#[derive(Debug, Clone, Copy, Default)]
pub struct Criteria {
    pub older_than: Option<Duration>,
    pub max_size: Option<u64>,
    /// Also prune needed backups.
    pub force: bool,
    /// The retention rule for deleted files: the originals of files optimized in place and
    /// deleted at least this long ago may be pruned.
    pub deleted_older_than: Option<Duration>,
}

/// The outcome of [`plan`]: indexes into the inventory's entries.
#[derive(Debug, Default)]
pub struct Plan {
    pub prune: Vec<usize>,
    /// Needed backups the criteria matched but that are kept (no `force`).
    pub kept_needed: Vec<usize>,
    /// Bytes left in the store after pruning.
    pub left_bytes: u64,
}

/// Chooses what to prune, oldest first. `now` is in seconds since the epoch.
pub fn plan(inv: &Inventory, c: &Criteria, now: i64) -> Plan {
    let n = inv.entries.len();
    let mut chosen = vec![false; n];
    let mut kept = vec![false; n];
    let deleted_cutoff = c
        .deleted_older_than
        .map(|age| now.saturating_sub(age.as_secs() as i64));
    let prunable = |e: &Entry| {
        c.force
            || (!e.needed
                && e.deleted
                    .is_none_or(|when| deleted_cutoff.is_some_and(|cut| when <= cut)))
    };
    if let Some(age) = c.older_than {
        let cutoff = now.saturating_sub(age.as_secs() as i64);
        for (i, e) in inv.entries.iter().enumerate() {
            if e.created <= cutoff {
                if prunable(e) {
                    chosen[i] = true;
                } else {
                    kept[i] = true;
                }
            }
        }
    }
    let chosen_bytes = |chosen: &[bool]| -> u64 {
        inv.entries
            .iter()
            .zip(chosen)
            .filter(|(_, &c)| c)
            .map(|(e, _)| e.size)
            .sum()
    };
    let mut left = inv.bytes() - chosen_bytes(&chosen);
    if let Some(max) = c.max_size {
        for (i, e) in inv.entries.iter().enumerate() {
            if left <= max {
                break;
            }
            if chosen[i] {
                continue;
            }
            if prunable(e) {
                chosen[i] = true;
                left -= e.size;
            } else {
                kept[i] = true;
            }
        }
    }
    Plan {
        prune: (0..n).filter(|&i| chosen[i]).collect(),
        kept_needed: (0..n).filter(|&i| kept[i]).collect(),
        left_bytes: left,
    }
}

/// Deletes what `plan` chose. Originals are recorded as pruned *before* their file goes, so
/// a crash midway never leaves a missing backup the ledger cannot explain; a file that
/// cannot be deleted has its record taken back. Returns (files, bytes) deleted.
pub fn execute(
    inv: &Inventory,
    plan: &Plan,
    ledger: &mut Ledger,
    now: i64,
) -> anyhow::Result<(u64, u64)> {
    let originals: Vec<String> = plan
        .prune
        .iter()
        .map(|&i| &inv.entries[i])
        .filter(|e| e.kind == Kind::Original)
        .map(|e| e.hash.clone())
        .collect();
    ledger.mark_pruned(&originals, Some(now))?;
    let (mut files, mut bytes) = (0, 0);
    let mut failed = Vec::new();
    for &i in &plan.prune {
        let e = &inv.entries[i];
        match std::fs::remove_file(&e.path) {
            Ok(()) => {
                files += 1;
                bytes += e.size;
                if let Some(dir) = e.path.parent() {
                    // Only succeeds once the folder is empty.
                    let _ = std::fs::remove_dir(dir);
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => {
                tracing::warn!("cannot delete the backup {}: {err}", e.path.display());
                if e.kind == Kind::Original {
                    failed.push(e.hash.clone());
                }
            }
        }
    }
    ledger.mark_pruned(&failed, None)?;
    // The deleted files whose original went can no longer be brought back: forget them.
    let gone: Vec<String> = originals
        .into_iter()
        .filter(|h| !failed.contains(h))
        .collect();
    ledger.drop_deleted_of(&gone)?;
    Ok((files, bytes))
}

/// "2026-01-31" (UTC) for seconds since the epoch.
pub fn date(secs: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// `--older-than`: "90d", "12w", "36h", "30m", "45s".
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not an age; write it like 90d, 12w or 36h");
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit.trim().to_ascii_lowercase().as_str() {
        "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

/// `--max-size`: "10GiB", "500MB", "1.5G", "2048" (bytes). K, M, G, T and KiB, MiB, GiB,
/// TiB are powers of 1024; KB, MB, GB, TB powers of 1000.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("{s:?} is not a size; write it like 10GiB, 500MB or 2G");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: f64 = n.parse().map_err(|_| bad())?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "m" | "mib" => 1024f64.powi(2),
        "g" | "gib" => 1024f64.powi(3),
        "t" | "tib" => 1024f64.powi(4),
        "kb" => 1e3,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        _ => return Err(bad()),
    };
    let bytes = n * factor;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hash: &str, size: u64, created: i64, kind: Kind, needed: bool) -> Entry {
        Entry {
            hash: hash.into(),
            path: PathBuf::from(hash),
            size,
            created,
            kind,
            needed,
            deleted: None,
        }
    }

    fn inventory() -> Inventory {
        // Oldest first: a needed original, an unneeded original, a kept result, a new one.
        Inventory {
            entries: vec![
                entry("a", 100, 1_000, Kind::Original, true),
                entry("b", 100, 2_000, Kind::Original, false),
                entry("c", 50, 3_000, Kind::Result, false),
                entry("d", 100, 9_000, Kind::Original, true),
            ],
            pruned_earlier: 0,
        }
    }

    #[test]
    fn age_prunes_old_unneeded_backups_and_keeps_needed_ones() {
        let inv = inventory();
        let c = Criteria {
            older_than: Some(Duration::from_secs(5_000)),
            ..Criteria::default()
        };
        let p = plan(&inv, &c, 10_000);
        assert_eq!(p.prune, vec![1, 2]);
        assert_eq!(p.kept_needed, vec![0]);
        assert_eq!(p.left_bytes, 200);
        let forced = plan(&inv, &Criteria { force: true, ..c }, 10_000);
        assert_eq!(forced.prune, vec![0, 1, 2]);
        assert!(forced.kept_needed.is_empty());
    }

    #[test]
    fn size_prunes_oldest_first_skipping_needed_ones() {
        let inv = inventory();
        let c = Criteria {
            max_size: Some(200),
            ..Criteria::default()
        };
        let p = plan(&inv, &c, 10_000);
        // 350 bytes: "a" is needed, so "b" (100) and "c" (50) go; 200 left.
        assert_eq!(p.prune, vec![1, 2]);
        assert_eq!(p.kept_needed, vec![0]);
        assert_eq!(p.left_bytes, 200);
        // A size that cannot be reached without needed backups: as close as allowed.
        let tight = plan(
            &inv,
            &Criteria {
                max_size: Some(50),
                ..c
            },
            10_000,
        );
        assert_eq!(tight.prune, vec![1, 2]);
        assert_eq!(tight.kept_needed, vec![0, 3]);
        assert_eq!(tight.left_bytes, 200);
    }

    #[test]
    fn the_original_of_a_deleted_file_goes_only_by_force_or_the_retention_rule() {
        let mut inv = inventory();
        // "b" is the only copy of the original of a file deleted at t = 4_000.
        inv.entries[1].deleted = Some(4_000);
        let c = Criteria {
            max_size: Some(0),
            ..Criteria::default()
        };
        let p = plan(&inv, &c, 10_000);
        assert_eq!(p.prune, vec![2], "only the kept result goes");
        assert_eq!(p.kept_needed, vec![0, 1, 3]);
        // Deleted 6_000 s ago: a rule of 7_000 s keeps it, one of 5_000 s lets it go.
        for (age, pruned) in [(7_000, vec![2]), (5_000, vec![1, 2])] {
            let rule = Criteria {
                deleted_older_than: Some(Duration::from_secs(age)),
                ..c
            };
            assert_eq!(plan(&inv, &rule, 10_000).prune, pruned, "rule {age}");
        }
        assert_eq!(
            plan(&inv, &Criteria { force: true, ..c }, 10_000).prune,
            vec![0, 1, 2, 3]
        );
    }

    #[test]
    fn ages_and_sizes_parse_and_bad_ones_say_how_to_write_them() {
        assert_eq!(parse_age("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_age("12w"), Ok(Duration::from_secs(12 * 7 * 86_400)));
        assert_eq!(parse_age("36h"), Ok(Duration::from_secs(36 * 3600)));
        assert!(parse_age("ninety days").unwrap_err().contains("90d"));
        assert!(parse_age("90").is_err());
        assert_eq!(parse_size("10GiB"), Ok(10 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("1.5G"), Ok(1024 * 1024 * 1536));
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("lots").unwrap_err().contains("10GiB"));
        assert!(parse_size("10 parsecs").is_err());
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_767_225_600), "2026-01-01");
    }
}
