//! Putting a verified result in place. The order of steps is the guarantee:
//!
//! 1. record the result's hash as ours *before* writing it, so a crash right after a
//!    rename still leaves a file the next run recognises (G5), and keep the result itself
//!    in the backup store (G4);
//! 2. read each original and check it still is the content that was optimized (G3);
//! 3. replace mode: store the original in the backup store and describe it in the journal
//!    (G1, G9), flushed and verified before the file changes;
//! 4. check once more that nobody changed the file (G3), then write atomically (G2);
//! 5. record the new content and state.
//!
//! Steps 3–5 are paid for by groups of files, not file by file: see `group` for how a
//! group keeps this order for each of its files. [`apply`] commits a work's files at once
//! (a result reused from the store); [`apply_later`] lets the built-in optimizer's works
//! share groups, and [`apply_paid`] the service's results, whose jobs the group's commit
//! forgets once they are durable; both are committed by [`Pending::finish`] at the latest.
//!
//! A file that fails here fails alone, with the reason; its original is untouched.

mod group;
mod hook;
mod one;
mod own;

pub use hook::STEPS as KILL_STEPS;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Ctx, Work};
use crate::content::hash_bytes;
use crate::ledger::{FileRow, Outcome, ResultRow, Stat, State};
use crate::optimize::Delivered;
pub use group::Pending;
use group::{Forget, Group};
pub use one::mode_name;
use one::{prepare, ApplyError, Job};
pub use own::extra_path;

/// The extras' kind of a mirror copy (the others are named by their format).
pub const MIRROR_COPY: &str = "mirror";

pub const ALREADY_OPTIMAL: &str = "already optimal: the optimizer could not make it smaller";
pub const CHANGED: &str = "changed while it was being optimized; the new content will be processed";

/// How far a result got. A paid result may be let go (its remote job forgotten) only once
/// it is [`Applied::durable`]: kept in the backup store, or in place in every file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// The result's bytes are kept in the backup store (or there were none to keep).
    pub kept: bool,
    /// Files the result did not reach: an I/O error (a full disk, a permission), a target
    /// left to its owner, or a file that changed meanwhile.
    pub not_placed: usize,
}

impl Applied {
    /// Whether nothing of the result would be lost if its job were forgotten now.
    pub fn durable(&self) -> bool {
        self.kept || self.not_placed == 0
    }
}

/// Applies `delivered` to every file of `work` and returns once they are in place.
pub fn apply(ctx: &Ctx, work: &Work, delivered: &Delivered) -> anyhow::Result<Applied> {
    let mut applied = Applied {
        kept: true,
        not_placed: 0,
    };
    gather(ctx, work, delivered, &mut applied, |group, applied| {
        let done = group.commit(ctx)?;
        applied.kept &= done.kept;
        applied.not_placed += done.not_placed;
        Ok(())
    })?;
    Ok(applied)
}

/// Applies `delivered` to every file of `work` in groups shared with other works: the files
/// are in place once `pending` is committed (at the latest by [`Pending::finish`]).
pub fn apply_later(
    ctx: &Ctx,
    work: &Work,
    delivered: &Delivered,
    pending: &Pending,
) -> anyhow::Result<()> {
    let mut applied = Applied::default();
    gather(ctx, work, delivered, &mut applied, |group, _| {
        pending.add(ctx, group)
    })
    .map(drop)
}

/// Applies a paid result (the service's) to every file of `work` in groups shared with
/// other works, like [`apply_later`]; the commit that makes the result durable also forgets
/// its remote job (G4: a paid result is let go only once it is kept or in place).
pub fn apply_paid(
    ctx: &Ctx,
    work: &Work,
    delivered: &Delivered,
    pending: &Pending,
) -> anyhow::Result<()> {
    let mut applied = Applied {
        kept: true,
        not_placed: 0,
    };
    // Every file of the work in one group, so that one commit knows the whole outcome.
    let mut whole = Group::default();
    let job = gather(ctx, work, delivered, &mut applied, |group, _| {
        whole.absorb(group);
        Ok(())
    })?;
    if let Some(job) = job {
        whole.forget(Forget {
            job,
            before: applied,
        });
    }
    pending.add(ctx, whole)
}

/// Records the result, then prepares each file of `work` into groups handed to `commit`
/// (when full, and the last one); returns the result shared by the files' puts (none in a
/// dry run).
fn gather(
    ctx: &Ctx,
    work: &Work,
    delivered: &Delivered,
    applied: &mut Applied,
    mut commit: impl FnMut(Group, &mut Applied) -> anyhow::Result<()>,
) -> anyhow::Result<Option<Arc<Job>>> {
    if ctx.dry_run {
        // A dry run counts what would be written and writes nothing (SPEC §1).
        let counter = match &delivered.main {
            Some(_) => &ctx.tally.optimized,
            None => &ctx.tally.already_optimal,
        };
        counter.fetch_add(work.files.len() as u64, Ordering::Relaxed);
        return Ok(None);
    }
    let result = match &delivered.main {
        Some(bytes) => ResultRow {
            outcome: Outcome::Optimized,
            opt_hash: Some(hash_bytes(bytes)),
            orig_size: work.size,
            opt_size: Some(bytes.len() as u64),
            reason: None,
        },
        None => ResultRow {
            outcome: Outcome::AlreadyOptimal,
            opt_hash: None,
            orig_size: work.size,
            opt_size: None,
            reason: Some(ALREADY_OPTIMAL.into()),
        },
    };
    let mut group = Group::default();
    if let (Some(bytes), Some(h)) = (&delivered.main, &result.opt_hash) {
        // Keep the paid-for result itself, so a copy of the original, a write that failed,
        // or a restore followed by a new copy never costs another upload (G4).
        match ctx.backups.store_unflushed(h, bytes) {
            Ok(copy) => group.keep(h, copy),
            Err(e) => {
                tracing::warn!("cannot keep a copy of the result: {e}");
                applied.kept = false;
            }
        }
    }
    {
        let ledger = ctx.ledger();
        ledger.put_result(&work.hash, &work.profile, &result)?;
        if let Some(h) = &result.opt_hash {
            ledger.put_output(h, &work.hash, work.size)?;
        }
        for (_, bytes) in &delivered.extras {
            ledger.put_output(&hash_bytes(bytes), &work.hash, work.size)?;
        }
    }
    let job = Arc::new(Job {
        work: work.clone(),
        result,
        main: delivered.main.clone().map(Arc::new),
        extras: delivered.extras.clone(),
    });
    for file in &work.files {
        match prepare(ctx, &job, file) {
            Ok(Some(put)) => group.add(put),
            Ok(None) => {}
            Err(e) => settle(ctx, file, Err(e), &mut applied.not_placed)?,
        }
        if group.is_full() {
            commit(std::mem::take(&mut group), applied)?;
        }
    }
    commit(group, applied)?;
    Ok(Some(job))
}

/// Records how a file's put ended: nothing more to do, changed under the agent, left to
/// its owner, or failed with the reason (all but the first counted in `not_placed`).
fn settle(
    ctx: &Ctx,
    file: &FileRow,
    outcome: Result<(), ApplyError>,
    not_placed: &mut usize,
) -> anyhow::Result<()> {
    *not_placed += usize::from(outcome.is_err());
    match outcome {
        Ok(()) => {}
        Err(ApplyError::Changed) => changed(ctx, file)?,
        Err(ApplyError::Kept(why)) => {
            tracing::warn!("{}: {why}", file.path.display());
            ctx.ledger()
                .set_state(&file.path, State::Skipped, Some(&why))?;
            ctx.tally.skipped.fetch_add(1, Ordering::Relaxed);
        }
        Err(ApplyError::Io(e)) => {
            tracing::error!("{}: {e}", file.path.display());
            ctx.ledger()
                .set_state(&file.path, State::Failed, Some(&e))?;
            ctx.tally.failed.fetch_add(1, Ordering::Relaxed);
        }
        Err(ApplyError::Ledger(e)) => return Err(e.into()),
    }
    Ok(())
}

/// A file no longer holds the content that was optimized. If it now holds bytes the agent
/// wrote (another batch, working from an older look at the file, finished it first), it is
/// simply optimized: the agent never takes its own write for a user's edit (G5). Otherwise
/// it is the user's new content: marked new and handed back to the batch's caller to be
/// looked at again, so it never waits for a restart.
fn changed(ctx: &Ctx, file: &FileRow) -> anyhow::Result<()> {
    let now = crate::open::open_regular(&file.path).and_then(|(mut f, meta)| {
        let hash = crate::open::hash_reader(&mut f, meta.len())?;
        Ok((hash, meta))
    });
    if let Ok((hash, meta)) = now {
        let ledger = ctx.ledger();
        if let Some(out) = ledger.output(&hash)? {
            ledger.set_content(
                &file.path,
                Stat::of(&meta),
                &hash,
                State::Optimized,
                Some(&out.orig_hash),
                Some(out.orig_size),
                Some(meta.len()),
            )?;
            tracing::debug!("{}: already holds the agent's result", file.path.display());
            return Ok(());
        }
    }
    tracing::info!("{}: {CHANGED}", file.path.display());
    ctx.ledger()
        .set_state(&file.path, State::New, Some(CHANGED))?;
    ctx.look_again(file.path.clone());
    Ok(())
}

/// [`changed`] for every file of a work whose content could not be read back.
pub fn changed_all(ctx: &Ctx, work: &Work) -> anyhow::Result<()> {
    work.files.iter().try_for_each(|f| changed(ctx, f))
}

/// Records a verdict on the content itself: not retried until the content changes.
pub fn verdict(ctx: &Ctx, work: &Work, outcome: Outcome, why: &str) -> anyhow::Result<()> {
    let state = match outcome {
        Outcome::Failed => State::Failed,
        _ => State::Skipped,
    };
    let ledger = ctx.ledger();
    ledger.put_result(
        &work.hash,
        &work.profile,
        &ResultRow {
            outcome,
            opt_hash: None,
            orig_size: work.size,
            opt_size: None,
            reason: Some(why.into()),
        },
    )?;
    for f in &work.files {
        ledger.set_state(&f.path, state, Some(why))?;
        tracing::warn!("{}: {}: {why}", state.as_str(), f.path.display());
    }
    let counter = if state == State::Failed {
        &ctx.tally.failed
    } else {
        &ctx.tally.skipped
    };
    counter.fetch_add(work.files.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// The original bytes, from the first file that still holds them.
pub fn read_original(work: &Work) -> Option<Vec<u8>> {
    work.files
        .iter()
        .filter_map(|f| crate::open::read_regular(&f.path).ok())
        .map(|(b, _)| b)
        .find(|b| hash_bytes(b) == work.hash)
}

/// Records a failure that says nothing about the content (network, disk): retried next run.
pub fn fail(ctx: &Ctx, work: &Work, why: &str) -> anyhow::Result<()> {
    ctx.ledger()
        .set_states(&work.paths(), State::Failed, Some(why))?;
    for f in &work.files {
        tracing::error!("failed: {}: {why}", f.path.display());
    }
    ctx.tally
        .failed
        .fetch_add(work.files.len() as u64, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use super::*;
    use crate::backup::BackupStore;
    use crate::content::Format;
    use crate::ledger::Ledger;
    use crate::pipeline::Shared;

    /// A context over `<tmp>/photos`, with one file `a.jpg` holding `bytes`, tracked as
    /// queued with the content `orig` (an older look at the file).
    fn setup(dir: &Path, bytes: &[u8], orig: &str) -> (Arc<Ctx>, Work) {
        setup_in(dir, bytes, orig, "")
    }

    /// [`setup`] with `folder` added to the folder's settings.
    fn setup_in(dir: &Path, bytes: &[u8], orig: &str, folder: &str) -> (Arc<Ctx>, Work) {
        let photos = dir.join("photos");
        std::fs::create_dir_all(&photos).unwrap();
        let file = dir.join("config.toml");
        let text = format!(
            "ledger = \"l.db\"\nbackup_dir = \"b\"\n[[folder]]\npath = \"photos\"\n{folder}"
        );
        let config = Arc::new(crate::config::load_str(&file, &text, None).unwrap());
        let path = config.folders[0].path.join("a.jpg");
        std::fs::write(&path, bytes).unwrap();
        let row = FileRow::seen(
            path.clone(),
            config.folders[0].path.clone(),
            Stat::of(&std::fs::metadata(&path).unwrap()),
            orig.into(),
            Some("jpeg".into()),
            State::Queued,
        );
        let ledger = Ledger::open(&config.ledger).unwrap();
        ledger.upsert_files(std::slice::from_ref(&row)).unwrap();
        let shared = Shared::new(ledger, BackupStore::new(&config.backup_dir), 1 << 30);
        let work = Work {
            hash: orig.into(),
            profile: "p".into(),
            format: Format::Jpeg,
            size: 100,
            folder: 0,
            files: vec![row],
            attempts: 0,
        };
        (Arc::new(Ctx::new(config, shared)), work)
    }

    #[test]
    fn a_file_another_batch_already_replaced_is_optimized_not_taken_for_an_edit() {
        let dir = tempfile::tempdir().unwrap();
        let result = b"the agent's result".to_vec();
        let (ctx, work) = setup(dir.path(), &result, "original-hash");
        ctx.ledger()
            .put_output(&hash_bytes(&result), "original-hash", 100)
            .unwrap();
        let delivered = Delivered {
            main: Some(result.clone()),
            extras: vec![],
        };
        apply(&ctx, &work, &delivered).unwrap();
        let row = ctx.ledger().file(&work.files[0].path).unwrap().unwrap();
        assert_eq!(row.state, State::Optimized, "{row:?}");
        assert_eq!(row.orig_hash.as_deref(), Some("original-hash"));
        assert!(ctx.take_again().is_empty(), "nothing to look at again");
    }

    #[test]
    fn a_file_the_user_changed_is_new_and_looked_at_again() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, work) = setup(dir.path(), b"the user's new picture", "original-hash");
        let delivered = Delivered {
            main: Some(b"result".to_vec()),
            extras: vec![],
        };
        apply(&ctx, &work, &delivered).unwrap();
        let row = ctx.ledger().file(&work.files[0].path).unwrap().unwrap();
        assert_eq!(row.state, State::New);
        assert_eq!(ctx.take_again(), vec![work.files[0].path.clone()]);
    }

    const ORIGINAL: &[u8] = b"the original picture, long enough to shrink";
    const RESULT: &[u8] = b"result";

    /// A file (its path returned) holding [`ORIGINAL`], whose result [`RESULT`] waits in a
    /// group.
    fn waiting(dir: &Path) -> (Arc<Ctx>, Work, Pending, PathBuf) {
        handed(dir, false, "")
    }

    /// [`waiting`], by `apply_paid` when `paid` (its job recorded first), else `apply_later`;
    /// `folder` is added to the folder's settings.
    fn handed(dir: &Path, paid: bool, folder: &str) -> (Arc<Ctx>, Work, Pending, PathBuf) {
        let (ctx, work) = setup_in(dir, ORIGINAL, &hash_bytes(ORIGINAL), folder);
        let pending = Pending::default();
        let delivered = Delivered {
            main: Some(RESULT.to_vec()),
            extras: vec![],
        };
        if paid {
            ctx.ledger()
                .put_job(&crate::ledger::Job {
                    orig_hash: work.hash.clone(),
                    profile: work.profile.clone(),
                    original_url: "http://127.0.0.1:1/a.jpg".into(),
                    by_url: false,
                })
                .unwrap();
            apply_paid(&ctx, &work, &delivered, &pending).unwrap();
        } else {
            apply_later(&ctx, &work, &delivered, &pending).unwrap();
        }
        let path = work.files[0].path.clone();
        (ctx, work, pending, path)
    }

    #[test]
    fn g1_g2_a_group_changes_nothing_until_its_commit_then_replaces_with_the_backup_durable() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, work, pending, path) = waiting(dir.path());
        assert_eq!(
            std::fs::read(&path).unwrap(),
            ORIGINAL,
            "in place before the commit"
        );
        pending.finish(&ctx).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), RESULT);
        assert_eq!(ctx.backups.read(&work.hash).unwrap(), ORIGINAL);
        assert!(ctx.ledger().has_backup(&work.hash).unwrap());
        let row = ctx.ledger().file(&path).unwrap().unwrap();
        assert_eq!(row.state, State::Optimized, "{row:?}");
        assert_eq!(row.hash, hash_bytes(RESULT));
    }

    #[test]
    fn g3_a_file_edited_while_its_group_waits_is_left_as_the_user_saved_it() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _, pending, path) = waiting(dir.path());
        // The user saves over the file while the group has not been committed yet.
        let edit = b"the user's edit".to_vec();
        std::fs::write(&path, &edit).unwrap();
        pending.finish(&ctx).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            edit,
            "the edit was overwritten"
        );
        let row = ctx.ledger().file(&path).unwrap().unwrap();
        assert_eq!(row.state, State::New, "{row:?}");
        assert_eq!(ctx.take_again(), vec![path]);
    }

    #[test]
    fn g4_a_paid_result_is_forgotten_by_the_commit_that_puts_it_in_place_not_before() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, work, pending, path) = handed(dir.path(), true, "");
        let job = || ctx.ledger().job(&work.hash, &work.profile).unwrap();
        assert!(job().is_some(), "forgotten before its group was committed");
        assert_eq!(std::fs::read(&path).unwrap(), ORIGINAL);
        pending.finish(&ctx).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), RESULT);
        assert!(job().is_none(), "the job outlived its durable result");
    }

    /// The work's job is still recorded: the next run can fetch the paid result again.
    fn assert_job_kept(ctx: &Ctx, work: &Work) {
        let job = ctx.ledger().job(&work.hash, &work.profile).unwrap();
        assert!(
            job.is_some(),
            "the only way to the paid result was forgotten"
        );
    }

    #[test]
    fn g4_a_paid_result_neither_kept_nor_in_place_keeps_its_job() {
        let dir = tempfile::tempdir().unwrap();
        // The backup store cannot be written (its place is taken by a file): the result
        // cannot be kept, and no original can be backed up, so nothing is replaced.
        std::fs::write(dir.path().join("b"), b"not a folder").unwrap();
        let (ctx, work, pending, path) = handed(dir.path(), true, "");
        pending.finish(&ctx).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), ORIGINAL);
        let row = ctx.ledger().file(&path).unwrap().unwrap();
        assert_eq!(row.state, State::Failed, "{row:?}");
        assert_job_kept(&ctx, &work);
    }

    #[test]
    fn g4_a_paid_result_left_out_of_a_mirror_copy_someone_else_wrote_and_not_kept_keeps_its_job() {
        let dir = tempfile::tempdir().unwrap();
        // The result cannot be kept (the store's place is taken by a file), and the mirror
        // copy's place holds a file the agent did not write: the result reaches nowhere.
        std::fs::write(dir.path().join("b"), b"not a folder").unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("a.jpg"), b"someone else's file").unwrap();
        let mirror = "mode = \"mirror\"\noutput = \"out\"\n";
        let (ctx, work, pending, _) = handed(dir.path(), true, mirror);
        pending.finish(&ctx).unwrap();
        assert_eq!(
            std::fs::read(out.join("a.jpg")).unwrap(),
            b"someone else's file"
        );
        assert_job_kept(&ctx, &work);
    }

    #[test]
    fn g3_a_file_edited_while_its_backup_fails_is_taken_as_edited_not_failed() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, work, pending, path) = waiting(dir.path());
        // Both at once: the backup is damaged and the user saves over the file.
        std::fs::write(ctx.backups.path_for(&work.hash), b"damaged").unwrap();
        let edit = b"the user's edit".to_vec();
        std::fs::write(&path, &edit).unwrap();
        pending.finish(&ctx).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), edit);
        // The new content is looked at again, not left failed for a backup it never had.
        let row = ctx.ledger().file(&path).unwrap().unwrap();
        assert_eq!(row.state, State::New, "{row:?}");
        assert_eq!(ctx.take_again(), vec![path]);
    }

    #[test]
    fn g1_no_file_of_a_group_is_replaced_when_its_backup_does_not_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, work, pending, path) = waiting(dir.path());
        // The backup written for the group is damaged before the group is committed.
        std::fs::write(ctx.backups.path_for(&work.hash), b"damaged").unwrap();
        pending.finish(&ctx).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            ORIGINAL,
            "replaced without a backup"
        );
        assert!(!ctx.ledger().has_backup(&work.hash).unwrap());
        let row = ctx.ledger().file(&path).unwrap().unwrap();
        assert_eq!(row.state, State::Failed, "{row:?}");
        assert!(row.reason.unwrap_or_default().contains("backup"));
    }
}
