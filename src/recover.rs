//! G9: losing the ledger loses nothing. The commands that change files (`run`, `restore`,
//! `backups prune`) open the ledger through [`open`], which:
//!
//! - moves a ledger SQLite cannot read (not a database, damaged) aside as
//!   `<ledger>.damaged-<time>` instead of failing or starting blank over it;
//! - rebuilds a missing (or moved-aside) ledger from the backup store's journal: which
//!   optimized bytes came from which original (so a file optimized in place is recognised by
//!   hash and never sent again, G4), which originals are kept, which files were restored
//!   (they stay restored, G5), and a row per journaled path so `restore` returns the true
//!   originals at once. Those rows carry no stat, so the next scan hashes each file again
//!   and trusts the row only while the content is still what the journal says;
//! - writes the journal from the ledger once for a store made before the journal existed.

use std::path::{Path, PathBuf};

use crate::backup::{BackupStore, Event, Record};
use crate::config::{Config, Mode};
use crate::ledger::{FileRow, Ledger, LedgerError, Outcome, ResultRow, Stat, State};

/// What a rebuild found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Journal lines read.
    pub records: usize,
    /// Paths tracked again.
    pub files: usize,
    /// Lines that could not be read (a torn last line after a crash).
    pub unreadable: usize,
}

/// Opens the ledger for writing, rebuilding it from the backup store when it is missing or
/// unreadable (see the module doc).
pub fn open(config: &Config, store: &BackupStore) -> anyhow::Result<Ledger> {
    let path = &config.ledger;
    let existed = path.exists();
    let mut ledger = match Ledger::open(path) {
        Ok(l) => l,
        Err(e) if existed && is_damage(&e) => {
            let aside = move_aside(path)?;
            tracing::error!(
                "the ledger {} cannot be read ({e}); it was moved to {} and a new one is built from the backup store",
                path.display(),
                aside.display()
            );
            Ledger::open(path)?
        }
        Err(e) => return Err(e.into()),
    };
    let fresh = !existed || ledger.is_empty()?;
    if fresh && !store.journal().is_empty() {
        let r = rebuild(&mut ledger, config, store)?;
        tracing::warn!(
            "the ledger {} was missing or unreadable: rebuilt it from the backup store's journal ({} records, {} files tracked again{}); nothing already optimized will be sent again",
            path.display(),
            r.records,
            r.files,
            if r.unreadable > 0 {
                format!(", {} unreadable lines skipped", r.unreadable)
            } else {
                String::new()
            }
        );
    } else if !fresh && !store.journal().dir().exists() {
        let n = backfill(&ledger, config, store)?;
        crate::output::private_dir(store.journal().dir())?;
        if n > 0 {
            tracing::info!(
                "the backup store now describes itself: {n} records written to {}",
                store.journal().dir().display()
            );
        }
    }
    Ok(ledger)
}

/// Whether SQLite says the file is not a (sound) database.
fn is_damage(e: &LedgerError) -> bool {
    use rusqlite::ErrorCode::{DatabaseCorrupt, NotADatabase};
    let sql = match e {
        LedgerError::Open { source, .. } => source,
        LedgerError::Sql(source) => source,
        LedgerError::TooNew { .. } => return false,
    };
    matches!(
        sql.sqlite_error_code(),
        Some(NotADatabase) | Some(DatabaseCorrupt)
    )
}

/// Moves the ledger and its WAL files aside; returns where the ledger went.
fn move_aside(path: &Path) -> anyhow::Result<PathBuf> {
    let stamp = crate::ledger::now();
    let mut aside = None;
    for suffix in ["", "-wal", "-shm"] {
        let mut from = path.as_os_str().to_os_string();
        from.push(suffix);
        let mut to = path.as_os_str().to_os_string();
        to.push(format!(".damaged-{stamp}{suffix}"));
        let (from, to) = (PathBuf::from(from), PathBuf::from(to));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(crate::output::IoError::new("cannot move aside", &from, e).into()),
        }
        if suffix.is_empty() {
            aside = Some(to);
        }
    }
    Ok(aside.unwrap_or_else(|| path.to_path_buf()))
}

/// Replays the journal into `ledger`, in one transaction.
pub fn rebuild(
    ledger: &mut Ledger,
    config: &Config,
    store: &BackupStore,
) -> anyhow::Result<Rebuilt> {
    ledger.in_transaction(|l| -> anyhow::Result<Rebuilt> {
        let mut out = Rebuilt::default();
        let mut failure: Option<LedgerError> = None;
        out.unreadable = store.journal().read(|r| {
            if failure.is_some() {
                return;
            }
            out.records += 1;
            match replay(l, config, store, &r) {
                Ok(tracked) => out.files += usize::from(tracked),
                Err(e) => failure = Some(e),
            }
        })?;
        // A failure rolls the whole rebuild back.
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(out),
        }
    })
}

/// One journal line into the ledger; true when it (re)tracks a file.
fn replay(
    l: &Ledger,
    config: &Config,
    store: &BackupStore,
    r: &Record,
) -> Result<bool, LedgerError> {
    let result = match (r.event, &r.opt) {
        (Event::Optimized, Some(opt)) => Some(ResultRow {
            outcome: Outcome::Optimized,
            opt_hash: Some(opt.clone()),
            orig_size: r.orig_size,
            opt_size: r.opt_size,
            reason: None,
        }),
        (Event::AlreadyOptimal, _) => Some(ResultRow {
            outcome: Outcome::AlreadyOptimal,
            opt_hash: None,
            orig_size: r.orig_size,
            opt_size: None,
            reason: Some(crate::pipeline::ALREADY_OPTIMAL.into()),
        }),
        _ => None,
    };
    if let Some(result) = &result {
        l.put_result(&r.orig, &r.profile, result)?;
        if let Some(opt) = &result.opt_hash {
            l.put_output(opt, &r.orig, r.orig_size)?;
        }
    }
    if r.mode == "replace" && store.exists(&r.orig) {
        l.record_backup(&r.orig, r.orig_size)?;
    }
    let Some(path) = r.file() else {
        return Ok(false);
    };
    let Some(folder) = config.folder_of(&path) else {
        return Ok(false);
    };
    let replaced = r.event == Event::Optimized && r.mode == "replace";
    let (hash, state, reason) = match r.event {
        Event::Optimized if replaced => (r.opt.clone().unwrap_or_default(), State::Optimized, None),
        Event::Optimized => (r.orig.clone(), State::Optimized, None),
        Event::AlreadyOptimal => (
            r.orig.clone(),
            State::Skipped,
            Some(crate::pipeline::ALREADY_OPTIMAL.to_string()),
        ),
        Event::Restored => (r.orig.clone(), State::Restored, None),
    };
    l.track_restored(&FileRow {
        path: path.clone(),
        folder: folder.path.clone(),
        // No stat: the next scan hashes the file and keeps this row only if the content is
        // still `hash`.
        stat: Stat {
            size: 0,
            mtime_ns: 0,
            inode: 0,
        },
        hash,
        format: r.format.clone(),
        state,
        reason,
        orig_hash: Some(r.orig.clone()),
        orig_size: Some(r.orig_size),
        opt_size: r.opt_size,
    })?;
    if r.event == Event::Optimized && folder.mode == Mode::Mirror {
        if let (Some(target), Some(opt)) = (folder.target_of(&path), &r.opt) {
            l.put_extra(&target, &path, crate::pipeline::MIRROR_COPY, opt)?;
        }
    }
    Ok(true)
}

/// Writes the journal from a ledger made before the journal existed. Returns the lines
/// written.
fn backfill(ledger: &Ledger, config: &Config, store: &BackupStore) -> anyhow::Result<usize> {
    let mut n = 0;
    let mut failure = None;
    ledger.for_each_file(|row| {
        if failure.is_some() {
            return;
        }
        match backfill_one(ledger, config, store, row) {
            Ok(wrote) => n += usize::from(wrote),
            Err(e) => failure = Some(e),
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    if n > 0 {
        store.journal().flush()?;
    }
    Ok(n)
}

fn backfill_one(
    ledger: &Ledger,
    config: &Config,
    store: &BackupStore,
    row: FileRow,
) -> anyhow::Result<bool> {
    let Some(folder) = config.folder_of(&row.path) else {
        return Ok(false);
    };
    let Some(orig) = row.orig_hash.clone() else {
        return Ok(false);
    };
    let event = match row.state {
        State::Optimized => Event::Optimized,
        State::Restored => Event::Restored,
        _ => return Ok(false),
    };
    {
        let profile = folder.settings.profile(config.backend);
        let opt = match (event, folder.mode) {
            (Event::Optimized, Mode::Replace) => Some(row.hash.clone()),
            (Event::Optimized, Mode::Mirror) => {
                ledger.result(&orig, &profile)?.and_then(|res| res.opt_hash)
            }
            _ => None,
        };
        let record = Record {
            event,
            path: crate::names::shown(&row.path),
            mode: crate::pipeline::mode_name(folder.mode).into(),
            orig,
            orig_size: row.orig_size.unwrap_or(row.stat.size),
            opt,
            opt_size: row.opt_size,
            profile,
            format: row.format.clone(),
            at: crate::ledger::now(),
        };
        store.journal().append(&record, false)?;
    }
    Ok(true)
}
