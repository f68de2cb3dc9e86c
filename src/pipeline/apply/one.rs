//! One file's result put in place, in the order the module above guarantees (G1, G2, G3,
//! G5, G9), and the agent's own copies (mirror, extras) written without ever overwriting a
//! file someone else wrote.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::super::{Ctx, Work};
use super::{ALREADY_OPTIMAL, MIRROR_COPY};
use crate::backup::{Event, Record};
use crate::config::{Convert, Mode};
use crate::content::hash_bytes;
use crate::ledger::{FileRow, ResultRow, Stat, State};
use crate::optimize::Delivered;
use crate::output::{self, Carry};

pub(super) enum ApplyError {
    Changed,
    /// A file the agent would overwrite is someone else's now; it is left, with the reason.
    Kept(String),
    Io(String),
    Ledger(crate::ledger::LedgerError),
}

impl From<crate::ledger::LedgerError> for ApplyError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        ApplyError::Ledger(e)
    }
}

fn io(e: impl std::fmt::Display) -> ApplyError {
    ApplyError::Io(e.to_string())
}

pub(super) fn apply_one(
    ctx: &Ctx,
    work: &Work,
    file: &FileRow,
    d: &Delivered,
    result: &ResultRow,
) -> Result<(), ApplyError> {
    let Some(folder) = ctx.config.folder_of(&file.path) else {
        return Err(ApplyError::Io(
            "the file is no longer in a configured folder".into(),
        ));
    };
    let (original, meta, carry) = read_if_unchanged(&file.path, &work.hash, file.stat.inode)?;
    // Where the result (and the extras beside it) go.
    let base = folder
        .target_of(&file.path)
        .ok_or_else(|| io("the file is no longer in its folder"))?;

    // A saving below the folder's `min_saving` is not worth replacing the original for: it
    // is kept and the file recorded as already optimal (the result stays known: G4).
    let too_small =
        (d.main.as_ref()).and_then(|opt| folder.too_small_a_saving(work.size, opt.len() as u64));
    let main = d.main.as_ref().filter(|_| too_small.is_none());
    let optimal = too_small.as_deref().unwrap_or(ALREADY_OPTIMAL);
    match (main, folder.mode) {
        (Some(opt), Mode::Replace) => {
            ctx.backups.store(&work.hash, &original).map_err(io)?;
            ctx.ledger().record_backup(&work.hash, work.size)?;
            // The store says what it holds before the file changes (G9).
            describe(
                ctx,
                Event::Optimized,
                &file.path,
                folder.mode,
                work,
                result,
                true,
            )?;
            // Last look before the rename: was the file edited while we worked? (G3)
            let now = std::fs::symlink_metadata(&file.path)
                .map_err(|e| io(format!("the file vanished: {e}")))?;
            if Stat::of(&now) != Stat::of(&meta) {
                return Err(ApplyError::Changed);
            }
            let stat = output::write_atomic(&file.path, opt, &carry).map_err(io)?;
            ctx.ledger().set_content(
                &file.path,
                stat,
                result.opt_hash.as_deref().unwrap_or_default(),
                State::Optimized,
                Some(&work.hash),
                Some(work.size),
                Some(opt.len() as u64),
            )?;
        }
        (main, Mode::Mirror) => {
            let target = base.clone();
            let bytes: &[u8] = main.map_or(&original, |m| m.as_slice());
            write_owned(ctx, &target, &file.path, MIRROR_COPY, bytes, &carry)?;
            describe(
                ctx,
                result_event(main),
                &file.path,
                folder.mode,
                work,
                result,
                false,
            )?;
            let state = if main.is_some() {
                State::Optimized
            } else {
                State::Skipped
            };
            ctx.ledger().set_content(
                &file.path,
                Stat::of(&meta),
                &work.hash,
                state,
                Some(&work.hash),
                Some(work.size),
                Some(bytes.len() as u64),
            )?;
            if main.is_none() {
                ctx.ledger()
                    .set_state(&file.path, State::Skipped, Some(optimal))?;
            }
        }
        (None, Mode::Replace) => {
            describe(
                ctx,
                Event::AlreadyOptimal,
                &file.path,
                folder.mode,
                work,
                result,
                false,
            )?;
            ctx.ledger()
                .set_state(&file.path, State::Skipped, Some(optimal))?;
        }
    }
    for (convert, bytes) in &d.extras {
        let target = extra_path(&base, *convert);
        let carry = Carry {
            mtime: None,
            ..carry.clone()
        };
        if let Err(e) = write_owned(ctx, &target, &file.path, convert.as_str(), bytes, &carry) {
            match e {
                ApplyError::Io(m) | ApplyError::Kept(m) => {
                    tracing::warn!("{}: extra not written: {m}", target.display())
                }
                other => return Err(other),
            }
        }
    }
    match main {
        Some(opt) => {
            ctx.tally.optimized.fetch_add(1, Ordering::Relaxed);
            ctx.tally
                .bytes_before
                .fetch_add(work.size, Ordering::Relaxed);
            ctx.tally
                .bytes_after
                .fetch_add(opt.len() as u64, Ordering::Relaxed);
            tracing::info!(
                "optimized {}: {} -> {} ({:.1}% smaller)",
                file.path.display(),
                crate::status::human_bytes(work.size),
                crate::status::human_bytes(opt.len() as u64),
                100.0 * (1.0 - opt.len() as f64 / work.size.max(1) as f64)
            );
        }
        None => {
            ctx.tally.already_optimal.fetch_add(1, Ordering::Relaxed);
            tracing::info!("{}: {optimal}", file.path.display());
        }
    }
    Ok(())
}

fn result_event(main: Option<&Vec<u8>>) -> Event {
    match main {
        Some(_) => Event::Optimized,
        None => Event::AlreadyOptimal,
    }
}

/// Appends the journal line for one file's result (G9); `durable` for a replace, which
/// must not happen before its line is on disk.
fn describe(
    ctx: &Ctx,
    event: Event,
    path: &Path,
    mode: Mode,
    work: &Work,
    result: &ResultRow,
    durable: bool,
) -> Result<(), ApplyError> {
    let record = Record {
        event,
        path: crate::names::shown(path),
        mode: mode_name(mode).into(),
        orig: work.hash.clone(),
        orig_size: work.size,
        opt: result.opt_hash.clone(),
        opt_size: result.opt_size,
        profile: work.profile.clone(),
        format: Some(work.format.as_str().into()),
        at: crate::ledger::now(),
    };
    ctx.backups.journal().append(&record, durable).map_err(io)
}

pub fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Replace => "replace",
        Mode::Mirror => "mirror",
    }
}

/// Reads a file and checks it still is the file that was optimized (G3): a regular file
/// (not a link or a FIFO swapped in, see `open`), the same inode the scan recorded, holding
/// `hash`. The metadata is the descriptor's, so what is carried over (mode, owner) is the
/// file's own, never a link's.
fn read_if_unchanged(
    path: &Path,
    hash: &str,
    inode: u64,
) -> Result<(Vec<u8>, std::fs::Metadata, Carry), ApplyError> {
    use std::os::unix::fs::MetadataExt;
    let (bytes, meta, carry) =
        crate::open::read_regular_carry(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ApplyError::Changed,
            _ => io(format!("cannot read the file: {e}")),
        })?;
    if meta.ino() != inode || hash_bytes(&bytes) != hash {
        return Err(ApplyError::Changed);
    }
    Ok((bytes, meta, carry))
}

/// Writes a file the agent owns (mirror copy or extra), never overwriting a file it did not
/// write itself.
fn write_owned(
    ctx: &Ctx,
    target: &Path,
    source: &Path,
    kind: &str,
    bytes: &[u8],
    carry: &Carry,
) -> Result<(), ApplyError> {
    if std::fs::symlink_metadata(target).is_ok() {
        // Overwrite only what still holds exactly the bytes the agent wrote there: a copy
        // someone edited (or replaced) since is theirs now.
        let Some(ours) = ctx.ledger().extra(target)? else {
            return Err(ApplyError::Kept(format!(
                "{} exists and was not written by the agent; left as it is",
                target.display()
            )));
        };
        if crate::content::hash_file(target).ok().as_deref() != Some(ours.hash.as_str()) {
            return Err(ApplyError::Kept(format!(
                "{} was changed since the agent wrote it; left as it is (delete it to let the agent write it again)",
                target.display()
            )));
        }
    }
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| io(format!("cannot create {}: {e}", dir.display())))?;
    }
    output::write_atomic(target, bytes, carry).map_err(io)?;
    ctx.ledger()
        .put_extra(target, source, kind, &hash_bytes(bytes))?;
    Ok(())
}

/// `photo.jpg` → `photo.jpg.webp`: unambiguous when photo.png sits beside photo.jpg.
pub fn extra_path(base: &Path, convert: Convert) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(convert.as_str());
    base.with_file_name(name)
}
