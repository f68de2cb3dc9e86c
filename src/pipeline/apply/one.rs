//! One file's result put in place, in the order the module above guarantees (G1, G2, G3,
//! G5, G9), and the agent's own copies (mirror, extras) written without ever overwriting a
//! file someone else wrote.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use std::sync::Arc;

use super::super::{Ctx, Work};
use super::own::{extra_path, owned, write_owned};
use super::{ALREADY_OPTIMAL, MIRROR_COPY};
use crate::backup::{Event, Record, Unflushed};
use crate::config::{Convert, Mode};
use crate::content::hash_bytes;
use crate::ledger::{FileRow, Ledger, LedgerError, ResultRow, Stat, State};
use crate::output::Carry;

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

pub(super) fn io(e: impl std::fmt::Display) -> ApplyError {
    ApplyError::Io(e.to_string())
}

/// One work's result, shared by the puts of its files.
pub(super) struct Job {
    pub work: Work,
    pub result: ResultRow,
    pub main: Option<Arc<Vec<u8>>>,
    pub extras: Vec<(Convert, Vec<u8>)>,
}

/// One file's write, prepared: its original read and checked (G3), in replace mode its
/// backup written and its journal line appended, neither flushed yet (the group does that).
pub(super) struct Put {
    pub job: Arc<Job>,
    pub file: FileRow,
    pub mode: Mode,
    /// The path written: the file itself (replace) or its mirror copy.
    pub target: PathBuf,
    /// Where the extras go (beside `target`).
    pub base: PathBuf,
    pub bytes: Arc<Vec<u8>>,
    /// Whether `bytes` is the optimized result (false: a mirror copy of the original).
    pub optimized: bool,
    /// Why the original is kept, when it is.
    pub optimal: String,
    pub carry: Carry,
    /// The original's stat as read: a replace happens only while the file still has it (G3).
    pub stat: Stat,
    /// Replace: the original's backup, which must be durable before the rename (G1).
    pub backup: Option<Unflushed>,
}

/// Prepares one file's put; `None` when there is nothing to write (the original is kept),
/// in which case the file is already recorded.
pub(super) fn prepare(
    ctx: &Ctx,
    job: &Arc<Job>,
    file: &FileRow,
) -> Result<Option<Put>, ApplyError> {
    let work = &job.work;
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
        (job.main.as_ref()).and_then(|opt| folder.too_small_a_saving(work.size, opt.len() as u64));
    let main = job.main.as_ref().filter(|_| too_small.is_none());
    let optimal = too_small.unwrap_or_else(|| ALREADY_OPTIMAL.into());
    let mut put = Put {
        job: job.clone(),
        file: file.clone(),
        mode: folder.mode,
        target: base.clone(),
        base,
        bytes: Arc::new(Vec::new()),
        optimized: main.is_some(),
        optimal,
        carry,
        stat: Stat::of(&meta),
        backup: None,
    };
    match (main, folder.mode) {
        (Some(opt), Mode::Replace) => {
            put.backup = Some(
                ctx.backups
                    .store_unflushed(&work.hash, &original)
                    .map_err(io)?,
            );
            // The store says what it holds before the file changes (G9); flushed with the
            // backups.
            describe(ctx, Event::Optimized, &put)?;
            put.bytes = opt.clone();
        }
        (Some(opt), Mode::Mirror) => put.bytes = opt.clone(),
        (None, Mode::Mirror) => put.bytes = Arc::new(original),
        (None, Mode::Replace) => {
            describe(ctx, Event::AlreadyOptimal, &put)?;
            ctx.ledger()
                .set_state(&file.path, State::Skipped, Some(&put.optimal))?;
            done(ctx, &put)?;
            return Ok(None);
        }
    }
    Ok(Some(put))
}

impl Put {
    /// Checks, just before its temporary file is written and again just before the rename,
    /// that the put may still go ahead: a replaced file still is the original that was read
    /// (G3); a mirror copy overwrites only what the agent itself wrote there.
    pub(super) fn check(&self, ctx: &Ctx) -> Result<(), ApplyError> {
        match self.mode {
            Mode::Replace => {
                let now = std::fs::symlink_metadata(&self.file.path)
                    .map_err(|e| io(format!("the file vanished: {e}")))?;
                if Stat::of(&now) != self.stat {
                    return Err(ApplyError::Changed);
                }
                Ok(())
            }
            Mode::Mirror => owned(ctx, &self.target),
        }
    }

    /// Records the file once its put is in place (inside the group's transaction).
    pub(super) fn record(&self, ledger: &Ledger, stat: Stat) -> Result<(), LedgerError> {
        let work = &self.job.work;
        let len = Some(self.bytes.len() as u64);
        match self.mode {
            Mode::Replace => ledger.set_content(
                &self.file.path,
                stat,
                self.job.result.opt_hash.as_deref().unwrap_or_default(),
                State::Optimized,
                Some(&work.hash),
                Some(work.size),
                len,
            ),
            Mode::Mirror => {
                let state = match self.optimized {
                    true => State::Optimized,
                    false => State::Skipped,
                };
                ledger.put_extra(
                    &self.target,
                    &self.file.path,
                    MIRROR_COPY,
                    &hash_bytes(&self.bytes),
                )?;
                ledger.set_content(
                    &self.file.path,
                    self.stat,
                    &work.hash,
                    state,
                    Some(&work.hash),
                    Some(work.size),
                    len,
                )?;
                if !self.optimized {
                    ledger.set_state(&self.file.path, State::Skipped, Some(&self.optimal))?;
                }
                Ok(())
            }
        }
    }
}

/// What follows a file's put once it is in place (or once it is known that nothing is
/// written): the mirror's journal line, the extras, the counts and the log line.
pub(super) fn done(ctx: &Ctx, put: &Put) -> Result<(), ApplyError> {
    if put.mode == Mode::Mirror {
        let event = match put.optimized {
            true => Event::Optimized,
            false => Event::AlreadyOptimal,
        };
        describe(ctx, event, put)?;
    }
    let work = &put.job.work;
    for (convert, bytes) in &put.job.extras {
        let target = extra_path(&put.base, *convert);
        let carry = Carry {
            mtime: None,
            ..put.carry.clone()
        };
        if let Err(e) = write_owned(
            ctx,
            &target,
            &put.file.path,
            convert.as_str(),
            bytes,
            &carry,
        ) {
            match e {
                ApplyError::Io(m) | ApplyError::Kept(m) => {
                    tracing::warn!("{}: extra not written: {m}", target.display())
                }
                other => return Err(other),
            }
        }
    }
    match put.job.main.as_ref().filter(|_| put.optimized) {
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
                put.file.path.display(),
                crate::status::human_bytes(work.size),
                crate::status::human_bytes(opt.len() as u64),
                100.0 * (1.0 - opt.len() as f64 / work.size.max(1) as f64)
            );
        }
        None => {
            ctx.tally.already_optimal.fetch_add(1, Ordering::Relaxed);
            tracing::info!("{}: {}", put.file.path.display(), put.optimal);
        }
    }
    Ok(())
}

/// Appends the journal line for one file's result (G9), not flushed: a replace's line is
/// flushed with its group's backups, before any of the group's renames.
fn describe(ctx: &Ctx, event: Event, put: &Put) -> Result<(), ApplyError> {
    let (work, result) = (&put.job.work, &put.job.result);
    let record = Record {
        event,
        path: crate::names::shown(&put.file.path),
        mode: mode_name(put.mode).into(),
        orig: work.hash.clone(),
        orig_size: work.size,
        opt: result.opt_hash.clone(),
        opt_size: result.opt_size,
        profile: work.profile.clone(),
        format: Some(work.format.as_str().into()),
        at: crate::ledger::now(),
    };
    ctx.backups.journal().append(&record, false).map_err(io)
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
