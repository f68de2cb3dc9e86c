//! `restore`: puts the original bytes back, byte for byte (G1), atomically (G2). A file that
//! was edited since the agent optimized it is not overwritten unless forced. The WebP/AVIF
//! files the agent wrote beside it are removed (only if they are still what it wrote). The
//! restored file is then marked `restored` and left alone until its content changes (G5).
//!
//! A file optimized in place and then deleted is brought back only when asked for: by its
//! own path, or with `--deleted` (see `ledger::deleted`); `--all` lists it without
//! resurrecting it.
//!
//! Like the pipeline, restore reads and replaces only regular files (see `open`): a file
//! swapped for a symlink, a FIFO or a device since is refused, even with `--force`.

use std::path::{Path, PathBuf};

use crate::backup::BackupStore;
use crate::config::{Config, Mode};
use crate::ledger::{DeletedRow, FileRow, Ledger, Stat, State};
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

/// One file a restore looks at.
#[derive(Debug, Clone)]
pub enum Target {
    /// A tracked file.
    Tracked(FileRow),
    /// A file optimized in place and then deleted.
    Deleted(DeletedRow),
}

impl Target {
    pub fn path(&self) -> &Path {
        match self {
            Target::Tracked(r) => &r.path,
            Target::Deleted(d) => &d.path,
        }
    }
}

/// What a restore covers.
#[derive(Debug, Default)]
pub struct Selection {
    pub targets: Vec<Target>,
    /// Paths given that the ledger knows nothing about: (path, exists on disk).
    pub unknown: Vec<(PathBuf, bool)>,
}

/// Which files a restore covers: tracked files at or below each path (or all optimized
/// ones with `all`); deleted files named by their exact path, or all of those at or below
/// the paths (everywhere, without paths) with `deleted`.
pub fn select(
    ledger: &Ledger,
    paths: &[PathBuf],
    all: bool,
    deleted: bool,
) -> anyhow::Result<Selection> {
    let mut sel = Selection::default();
    if all {
        sel.targets.extend(
            ledger
                .all_files()?
                .into_iter()
                .filter(|r| r.state == State::Optimized)
                .map(Target::Tracked),
        );
    }
    if deleted && paths.is_empty() {
        sel.targets
            .extend(ledger.all_deleted()?.into_iter().map(Target::Deleted));
    }
    for p in paths {
        let abs = absolute(p);
        let found = ledger.files_under(&abs)?;
        let gone: Vec<DeletedRow> = ledger
            .deleted_under(&abs)?
            .into_iter()
            .filter(|d| deleted || d.path == abs)
            .collect();
        if found.is_empty() && gone.is_empty() {
            let exists = std::fs::symlink_metadata(&abs).is_ok();
            sel.unknown.push((abs.clone(), exists));
        }
        for row in found {
            // A tracked file found gone before a scan noticed: named by its path (or with
            // `--deleted`), it is a deleted file to bring back.
            let named = deleted || row.path == abs;
            let vanished = named && std::fs::symlink_metadata(&row.path).is_err();
            match DeletedRow::of_gone(&row).filter(|_| vanished) {
                Some(d) => sel.targets.push(Target::Deleted(d)),
                None => sel.targets.push(Target::Tracked(row)),
            }
        }
        sel.targets.extend(gone.into_iter().map(Target::Deleted));
    }
    // A deleted record whose path is tracked again (the file came back) is covered by the
    // tracked row.
    let tracked: std::collections::HashSet<PathBuf> = sel
        .targets
        .iter()
        .filter_map(|t| match t {
            Target::Tracked(r) => Some(r.path.clone()),
            Target::Deleted(_) => None,
        })
        .collect();
    sel.targets.retain(|t| match t {
        Target::Deleted(d) => !tracked.contains(&d.path),
        Target::Tracked(_) => true,
    });
    sel.targets.sort_by(|a, b| a.path().cmp(b.path()));
    sel.targets.dedup_by(|a, b| {
        a.path() == b.path() && matches!((a, b), (Target::Tracked(_), Target::Tracked(_)))
    });
    Ok(sel)
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
            absolute(dir).join(name)
        }
        _ => p.to_path_buf(),
    }
}

/// What restore needs to know of a target, whichever kind it is.
struct Plan<'a> {
    path: &'a Path,
    orig_hash: &'a str,
    /// What the file held when the agent last wrote or saw it.
    hash: &'a str,
    format: Option<&'a str>,
    deleted: bool,
}

pub fn restore(
    config: &Config,
    ledger: &Ledger,
    backups: &BackupStore,
    target: &Target,
    opts: Options,
) -> anyhow::Result<Outcome> {
    let plan = match target {
        Target::Tracked(row) => {
            if row.state != State::Optimized {
                return Ok(Outcome::Nothing(format!(
                    "it is {}, not optimized",
                    row.state.as_str()
                )));
            }
            // Replaced files hold other content than their original, whatever the config
            // says now.
            let replaced = row.orig_hash.as_deref().is_some_and(|o| o != row.hash);
            let mode = config.folder_of(&row.path).map(|f| f.mode);
            if !replaced && mode == Some(Mode::Mirror) {
                return Ok(Outcome::Nothing(
                    "mirror mode never changes originals".into(),
                ));
            }
            let Some(orig_hash) = row.orig_hash.as_deref() else {
                return Ok(Outcome::Nothing("no original is recorded for it".into()));
            };
            Plan {
                path: &row.path,
                orig_hash,
                hash: &row.hash,
                format: row.format.as_deref(),
                deleted: false,
            }
        }
        Target::Deleted(d) => Plan {
            path: &d.path,
            orig_hash: &d.orig_hash,
            hash: &d.hash,
            format: d.format.as_deref(),
            deleted: true,
        },
    };
    let path = plan.path;
    let current = match crate::open::open_regular(path) {
        Ok((mut file, meta)) => {
            let hash = crate::open::hash_reader(&mut file, meta.len())?;
            let carry = Carry::from_file(&file, &meta);
            Some((hash, meta, carry))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Ok(Outcome::Refused(e.to_string())),
    };
    match (&current, plan.deleted) {
        (None, false) => {
            return Ok(Outcome::Refused(
                "it was deleted; name it (`restore PATH`) or use `restore --deleted` to bring the original back".into(),
            ))
        }
        (Some((hash, ..)), _) if hash == plan.orig_hash => {
            return Ok(Outcome::Nothing("it already holds its original".into()))
        }
        (Some(_), true) if !opts.force => {
            return Ok(Outcome::Refused(
                "it was deleted, and another file now has its name; restoring would overwrite that file (use --force to restore anyway)".into(),
            ))
        }
        (Some((hash, ..)), false) if hash != plan.hash && !opts.force => {
            return Ok(Outcome::Refused(
                "it was edited after it was optimized; restoring would lose that edit (use --force to restore anyway)".into(),
            ))
        }
        _ => {}
    }
    let original = match backups.read(plan.orig_hash) {
        Ok(b) => b,
        Err(e) => {
            // A pruned backup is a decision someone made, not damage: say so.
            if let Some(when) = ledger.pruned_on(plan.orig_hash)? {
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
    if plan.format.is_some() && backup_format != plan.format {
        return Ok(Outcome::Refused(format!(
            "its backup is {}, but the file is {}; it looks like a copy of a converted result",
            backup_format.unwrap_or("not an image"),
            plan.format.unwrap_or("unknown")
        )));
    }
    let Some(folder) = config.folder_of(path) else {
        return Ok(Outcome::Refused(
            "it is no longer inside a configured folder".into(),
        ));
    };
    if opts.dry_run {
        return Ok(Outcome::WouldRestore);
    }
    let carry = current
        .as_ref()
        .map(|(.., carry)| carry.clone())
        .unwrap_or_default();
    if let Some((_, meta, _)) = &current {
        // Last look: still the regular file that was checked (not swapped meanwhile).
        let now = std::fs::symlink_metadata(path).ok().map(|m| Stat::of(&m));
        if now != Some(Stat::of(meta)) {
            return Ok(Outcome::Refused(
                "it changed while it was being restored; run restore again".into(),
            ));
        }
    } else if let Some(dir) = path.parent() {
        // A deleted file's folder may be gone too; it lies inside the configured folder.
        if !dir.starts_with(&folder.path) {
            return Ok(Outcome::Refused(
                "its folder is outside the configured folder".into(),
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| output::IoError::new("cannot create the folder", dir, e))?;
    }
    let stat = output::write_atomic(path, &original, &carry)?;
    for extra in ledger.extras_of(path)? {
        // Remove only what is still exactly what the agent wrote.
        if crate::content::hash_file(&extra.path).ok().as_deref() == Some(extra.hash.as_str()) {
            output::remove(&extra.path)?;
        }
        ledger.delete_extra(&extra.path)?;
    }
    match target {
        Target::Tracked(row) => ledger.set_content(
            path,
            stat,
            plan.orig_hash,
            State::Restored,
            Some(plan.orig_hash),
            row.orig_size,
            None,
        )?,
        Target::Deleted(d) => {
            ledger.track_restored(&FileRow {
                path: d.path.clone(),
                folder: folder.path.clone(),
                stat,
                hash: d.orig_hash.clone(),
                format: d.format.clone(),
                state: State::Restored,
                reason: None,
                orig_hash: Some(d.orig_hash.clone()),
                orig_size: d.orig_size,
                opt_size: None,
            })?;
            ledger.drop_deleted(&d.path, &d.orig_hash)?;
        }
    }
    // The store remembers that this file holds its original now, so it stays restored even
    // if the ledger is lost (G9, G5).
    backups.journal().append(
        &crate::backup::Record {
            event: crate::backup::Event::Restored,
            path: crate::names::shown(path),
            mode: crate::pipeline::mode_name(folder.mode).into(),
            orig: plan.orig_hash.to_string(),
            orig_size: original.len() as u64,
            opt: None,
            opt_size: None,
            profile: folder.settings.profile(config.backend),
            format: plan.format.map(str::to_string),
            at: crate::ledger::now(),
        },
        true,
    )?;
    Ok(Outcome::Restored)
}
