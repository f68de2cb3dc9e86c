//! `restore`: puts the original bytes back, byte for byte (G1), atomically (G2). A file that
//! was edited since the agent optimized it is not overwritten unless forced. The WebP/AVIF
//! files the agent wrote beside it are removed (only if they are still what it wrote). The
//! restored file is then marked `restored` and left alone until its content changes (G5).

use std::path::{Path, PathBuf};

use crate::backup::BackupStore;
use crate::config::{Config, Mode};
use crate::content::hash_file;
use crate::ledger::{FileRow, Ledger, State};
use crate::output::{self, Carry};

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub dry_run: bool,
    pub force: bool,
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Restored,
    WouldRestore,
    /// Refused, with the reason.
    Refused(String),
    /// Nothing to do, with the reason (not an error).
    Nothing(String),
}

/// Which files a restore covers: tracked files at or below each path, or all.
pub fn select(
    ledger: &Ledger,
    paths: &[PathBuf],
    all: bool,
) -> anyhow::Result<(Vec<FileRow>, Vec<PathBuf>)> {
    if all {
        let rows = ledger
            .all_files()?
            .into_iter()
            .filter(|r| r.state == State::Optimized)
            .collect();
        return Ok((rows, Vec::new()));
    }
    let mut rows = Vec::new();
    let mut unknown = Vec::new();
    for p in paths {
        let abs = absolute(p);
        let found = ledger.files_under(&abs)?;
        if found.is_empty() {
            unknown.push(abs);
        }
        rows.extend(found);
    }
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    rows.dedup_by(|a, b| a.path == b.path);
    Ok((rows, unknown))
}

/// A path as the ledger stores it: absolute, with symlinks in its folders resolved.
fn absolute(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    // The file itself may be gone: resolve its folder.
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map(|d| d.join(name))
                .unwrap_or_else(|_| p.to_path_buf())
        }
        _ => p.to_path_buf(),
    }
}

pub fn restore_one(
    config: &Config,
    ledger: &Ledger,
    backups: &BackupStore,
    row: &FileRow,
    opts: Options,
) -> anyhow::Result<Outcome> {
    let mode = config.folder_of(&row.path).map(|f| f.mode);
    if row.state != State::Optimized {
        return Ok(Outcome::Nothing(format!(
            "it is {}, not optimized",
            row.state.as_str()
        )));
    }
    // Replaced files hold other content than their original, whatever the config says now.
    let replaced = row.orig_hash.as_deref().is_some_and(|o| o != row.hash);
    if !replaced && mode == Some(Mode::Mirror) {
        return Ok(Outcome::Nothing(
            "mirror mode never changes originals".into(),
        ));
    }
    let Some(orig_hash) = row.orig_hash.as_deref() else {
        return Ok(Outcome::Nothing("no original is recorded for it".into()));
    };
    let current = std::fs::symlink_metadata(&row.path).ok();
    if current.is_none() && !opts.force {
        return Ok(Outcome::Refused(
            "it was deleted; use --force to bring the original back anyway".into(),
        ));
    }
    if current.is_some() && !opts.force {
        let hash = hash_file(&row.path)?;
        if hash != row.hash {
            return Ok(Outcome::Refused(
                "it was edited after it was optimized; restoring would lose that edit (use --force to restore anyway)".into(),
            ));
        }
    }
    let original = match backups.read(orig_hash) {
        Ok(b) => b,
        Err(e) => {
            // A pruned backup is a decision someone made, not damage: say so.
            if let Some(when) = ledger.pruned_on(orig_hash)? {
                return Ok(Outcome::Refused(format!(
                    "its backup was pruned on {} (`backups prune`); the original cannot be restored",
                    crate::backup::prune::date(when)
                )));
            }
            return Ok(Outcome::Refused(format!("the backup cannot be used: {e}")));
        }
    };
    // Never write one format's bytes under another's name (e.g. a copied .webp result).
    let backup_format = crate::content::sniff(&original).map(|f| f.as_str());
    if row.format.is_some() && backup_format != row.format.as_deref() {
        return Ok(Outcome::Refused(format!(
            "its backup is {}, but the file is {}; it looks like a copy of a converted result",
            backup_format.unwrap_or("not an image"),
            row.format.as_deref().unwrap_or("unknown")
        )));
    }
    if opts.dry_run {
        return Ok(Outcome::WouldRestore);
    }
    let carry = current.as_ref().map(Carry::from_meta).unwrap_or_default();
    let stat = output::write_atomic(&row.path, &original, &carry)?;
    for extra in ledger.extras_of(&row.path)? {
        // Remove only what is still exactly what the agent wrote.
        if hash_file(&extra.path).ok().as_deref() == Some(extra.hash.as_str()) {
            output::remove(&extra.path)?;
        }
        ledger.delete_extra(&extra.path)?;
    }
    ledger.set_content(
        &row.path,
        stat,
        orig_hash,
        State::Restored,
        Some(orig_hash),
        row.orig_size,
        None,
    )?;
    Ok(Outcome::Restored)
}
