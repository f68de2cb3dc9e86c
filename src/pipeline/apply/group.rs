//! Group commit: the durability of many files paid for at once, in the order that keeps G1,
//! G2 and G3 for each of them. A group holds files whose originals are already read and
//! checked, their backups written and journal lines appended, nothing flushed yet
//! ([`super::one::prepare`]). Its commit then:
//!
//! 1. flushes every backup of the group (and the kept results), their folders and the
//!    journal, then reads each backup back and checks its hash (G1, G9);
//! 2. records the backups in the ledger, one transaction;
//! 3. for each file, checks it still is the original read (G3) and writes its temporary file
//!    beside it; then flushes every temporary file;
//! 4. for each file, checks once more (G3) and renames the temporary file into place (G2);
//!    then flushes every folder touched;
//! 5. records the new contents, one transaction.
//!
//! A kill anywhere leaves each file wholly original (before its rename) or wholly optimized
//! (after it) with its original already durable in the store, since no rename happens before
//! step 1 is done. The result's hash was recorded as the agent's own before the group began,
//! so a file renamed but not yet recorded is recognised by the next run, not optimized again
//! (G5), and the result itself is known, so nothing is paid twice (G4). A file that fails (a
//! full disk for its temporary file, an edit) fails alone; a flush that fails fails the files
//! it covers, with their originals untouched.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use super::one::{done, io, ApplyError, Job, Put};
use super::{hook, settle, Applied};
use crate::backup::Unflushed;
use crate::ledger::Stat;
use crate::output::{self, flush, Staged};
use crate::pipeline::Ctx;

/// The most files a group holds: bounds the open work (and what a flush waits for).
const MAX_FILES: usize = 256;
/// The most bytes of results a group holds in memory.
const MAX_BYTES: u64 = 32 << 20;

/// Files (and kept results) waiting for one commit.
#[derive(Default)]
pub(super) struct Group {
    puts: Vec<Put>,
    /// Results kept in the store (G4), by hash, to flush and verify with the backups.
    kept: Vec<(String, Unflushed)>,
    /// Paid results whose remote job is forgotten by this commit if it makes them durable.
    forget: Vec<Forget>,
    bytes: u64,
}

/// A paid result whose every file is in this group, with what happened to it before: its
/// job may be forgotten once the result is [`Applied::durable`] (G4).
pub(super) struct Forget {
    pub job: Arc<Job>,
    /// Before the group: whether its kept copy could be written (or there is none to keep)
    /// and how many of its files failed on I/O.
    pub before: Applied,
}

impl Group {
    pub fn add(&mut self, put: Put) {
        self.bytes += put.bytes.len() as u64;
        self.puts.push(put);
    }

    /// Has the commit forget `forget.job`'s remote job if its result ends up durable. Every
    /// file of that job must be in this group (see [`Group::absorb`]).
    pub fn forget(&mut self, forget: Forget) {
        self.forget.push(forget);
    }

    pub fn keep(&mut self, hash: &str, copy: Unflushed) {
        self.kept.push((hash.to_string(), copy));
    }

    pub fn is_full(&self) -> bool {
        self.puts.len() >= hook::group_files().unwrap_or(MAX_FILES) || self.bytes >= MAX_BYTES
    }

    pub fn absorb(&mut self, other: Group) {
        self.puts.extend(other.puts);
        self.kept.extend(other.kept);
        self.forget.extend(other.forget);
        self.bytes += other.bytes;
    }

    /// Nothing to commit: no file, no kept result, no job to forget.
    pub fn is_empty(&self) -> bool {
        self.puts.is_empty() && self.kept.is_empty() && self.forget.is_empty()
    }

    /// Puts every file of the group in place (see the module doc); what the caller learns
    /// is how many files failed on I/O and whether every kept result is durable.
    pub fn commit(self, ctx: &Ctx) -> anyhow::Result<Applied> {
        let mut applied = Applied {
            kept: true,
            not_placed: 0,
        };
        if self.is_empty() {
            return Ok(applied);
        }
        let n = hook::next_group();
        let began = Instant::now();
        let Group {
            puts, kept, forget, ..
        } = self;
        // 1. Backups and kept results: flushed, then verified.
        let bad = flush_store(ctx, &puts, &kept);
        hook::at("after-backups-flushed", n);
        for (hash, _) in &kept {
            if let Some(why) = bad.get(hash).or(bad.get("")) {
                tracing::warn!("cannot keep a copy of the result: {why}");
                applied.kept = false;
            }
        }
        let refused = |put: &Put| -> Option<String> {
            let hash = &put.backup.as_ref()?.hash;
            bad.get(hash.as_str()).or(bad.get("")).cloned()
        };
        // 2. The backups, recorded once durable.
        ctx.ledger().in_transaction(|l| {
            for put in puts.iter().filter(|p| refused(p).is_none()) {
                if let Some(b) = &put.backup {
                    l.record_backup(&b.hash, put.job.work.size)?;
                }
            }
            Ok::<_, crate::ledger::LedgerError>(())
        })?;
        // 3. Temporary files, written then flushed. The last look comes first: a file the
        // user changed is reported as changed (and looked at again), whatever else failed.
        let mut staged: Vec<Result<Staged, ApplyError>> = puts
            .iter()
            .map(|put| {
                put.check(ctx).and_then(|()| match refused(put) {
                    Some(why) => Err(ApplyError::Io(why)),
                    None => output::stage(&put.target, &put.bytes, &put.carry).map_err(io),
                })
            })
            .collect();
        hook::at("after-temps-written", n);
        let flushed = flush::each(&staged, |s| match s {
            Ok(temp) => flush::file(temp.temp()),
            Err(_) => Ok(()),
        });
        for (s, f) in staged.iter_mut().zip(flushed) {
            if let Err(e) = f {
                *s = Err(io(e));
            }
        }
        hook::at("after-temps-flushed", n);
        // 4. The renames, each after a last look (G3), then their folders flushed.
        let half = staged.iter().filter(|s| s.is_ok()).count() / 2;
        let mut folders = BTreeSet::new();
        let mut placed: Vec<Result<Stat, ApplyError>> = Vec::with_capacity(puts.len());
        let mut renamed = 0;
        for (put, s) in puts.iter().zip(staged) {
            if renamed == half && half > 0 {
                hook::at("after-some-renames", n);
            }
            renamed += usize::from(s.is_ok());
            placed.push(s.and_then(|temp| {
                put.check(ctx)?;
                folders.insert(parent(temp.target()));
                temp.persist().map_err(io)
            }));
        }
        let folders: Vec<PathBuf> = folders.into_iter().collect();
        for e in flush::each(&folders, |d| output::sync_dir(d))
            .into_iter()
            .filter_map(Result::err)
        {
            // The files are whole and in place; a folder that cannot be flushed only risks
            // a rename being undone by a power cut, which leaves the original (kept).
            tracing::warn!("{e}");
        }
        hook::at("before-ledger-commit", n);
        // 5. The new contents, recorded in one transaction.
        ctx.ledger().in_transaction(|l| {
            for (put, stat) in puts.iter().zip(&placed) {
                if let Ok(stat) = stat {
                    put.record(l, *stat)?;
                }
            }
            Ok::<_, crate::ledger::LedgerError>(())
        })?;
        hook::at("after-ledger-commit", n);
        // Jobs with a file the result did not reach, by the address of their shared `Job`.
        let mut unplaced_jobs = BTreeSet::new();
        for (put, stat) in puts.iter().zip(placed) {
            let outcome = stat.and_then(|_| done(ctx, put));
            let before = applied.not_placed;
            settle(ctx, &put.file, outcome, &mut applied.not_placed)?;
            if applied.not_placed > before {
                unplaced_jobs.insert(Arc::as_ptr(&put.job));
            }
        }
        // 6. The paid results now durable: their jobs forgotten, one transaction.
        let kept_ok = |h: &String| !bad.contains_key(h) && !bad.contains_key("");
        let (durable, stranded): (Vec<_>, Vec<_>) = forget.iter().partition(|f| {
            let after = Applied {
                kept: f.before.kept && f.job.result.opt_hash.as_ref().is_none_or(kept_ok),
                not_placed: f.before.not_placed
                    + usize::from(unplaced_jobs.contains(&Arc::as_ptr(&f.job))),
            };
            after.durable()
        });
        if !durable.is_empty() {
            ctx.ledger().in_transaction(|l| {
                durable
                    .iter()
                    .try_for_each(|f| l.delete_job(&f.job.work.hash, &f.job.work.profile))
            })?;
        }
        for f in stranded {
            // Neither kept nor in place (a full disk): the job stays, so the next run
            // fetches the paid result again instead of uploading again (G4).
            tracing::warn!(
                "{}: the result could not be stored here; it stays at ShortPixel for the next run",
                f.job.work.files[0].path.display()
            );
        }
        tracing::debug!(
            "group of {} file(s) committed in {:.0?}",
            puts.len(),
            began.elapsed()
        );
        Ok(applied)
    }
}

/// Flushes the backups of `puts`, the kept results, their folders and the journal, then
/// verifies each; returns why each hash that failed did (the key "" standing for all).
fn flush_store(ctx: &Ctx, puts: &[Put], kept: &[(String, Unflushed)]) -> HashMap<String, String> {
    let mut bad = HashMap::new();
    let mut folders = BTreeSet::new();
    let mut seen = BTreeSet::new();
    let copies = (puts.iter().filter_map(|p| p.backup.as_ref())).chain(kept.iter().map(|(_, c)| c));
    let copies: Vec<&Unflushed> = copies.filter(|c| seen.insert(c.hash.clone())).collect();
    for (copy, flushed) in copies
        .iter()
        .zip(flush::each(&copies, |c| flush::file(&c.path)))
    {
        if let Err(e) = flushed {
            bad.insert(copy.hash.clone(), e.to_string());
        }
        // Its name in its folder, and the folder's in the store: also for a copy found
        // there already, which a killed run or a group not committed yet may have written
        // without flushing its folder (the set flushes each folder once).
        folders.insert(parent(&copy.path));
        folders.insert(ctx.backups.dir().to_path_buf());
    }
    let folders: Vec<PathBuf> = folders.into_iter().collect();
    let flushed = (flush::each(&folders, |d| output::sync_dir(d)).into_iter())
        .collect::<Result<(), _>>()
        .and_then(|()| ctx.backups.journal().flush());
    if let Err(e) = flushed {
        bad.insert(String::new(), e.to_string());
        return bad;
    }
    for hash in seen {
        // Read back: a backup that was not verified is not a backup.
        if let std::collections::hash_map::Entry::Vacant(v) = bad.entry(hash) {
            if let Err(e) = ctx.backups.read(v.key()) {
                v.insert(e.to_string());
            }
        }
    }
    bad
}

fn parent(path: &Path) -> PathBuf {
    path.parent().unwrap_or(Path::new(".")).to_path_buf()
}

/// A group filled by several works at once (the built-in optimizer's, each work on its own
/// thread; the service's results as they are downloaded), committed whenever it is full and
/// once more at the end ([`Pending::finish`]).
///
/// Commits of different groups may run at once (each is about its own files; a file's
/// whole work is in one group): while one waits on the disk, the next one's files are being
/// written. [`Pending::finish`] returns only once every commit under way has ended, so what
/// the caller lets go after it is settled in the ledger.
#[derive(Default)]
pub struct Pending {
    group: Mutex<Group>,
    /// Commits under way.
    running: Mutex<usize>,
    ended: Condvar,
}

impl Pending {
    /// Adds a work's files; commits the group if that filled it.
    pub(super) fn add(&self, ctx: &Ctx, group: Group) -> anyhow::Result<()> {
        let full = {
            let mut g = self.group.lock().unwrap_or_else(|p| p.into_inner());
            g.absorb(group);
            g.is_full().then(|| std::mem::take(&mut *g))
        };
        match full {
            Some(g) => self.commit(ctx, g),
            None => Ok(()),
        }
    }

    /// Whether anything waits to be committed.
    pub fn is_waiting(&self) -> bool {
        !self
            .group
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Commits what is waiting, alongside any other commit under way (the remote flow,
    /// which counts its own).
    pub fn commit_waiting(&self, ctx: &Ctx) -> anyhow::Result<()> {
        let g = std::mem::take(&mut *self.group.lock().unwrap_or_else(|p| p.into_inner()));
        self.commit(ctx, g)
    }

    /// Commits what is waiting, then waits for every other commit under way: before the
    /// work's page is let go (its contents must then be settled in the ledger) and before
    /// the process ends.
    pub fn finish(&self, ctx: &Ctx) -> anyhow::Result<()> {
        let committed = self.commit_waiting(ctx);
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        while *running > 0 {
            running = self.ended.wait(running).unwrap_or_else(|p| p.into_inner());
        }
        committed
    }

    fn commit(&self, ctx: &Ctx, g: Group) -> anyhow::Result<()> {
        /// Counts a commit as ended however it ends (a panic included), so no `finish`
        /// waits for it forever.
        struct Running<'a>(&'a Pending);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                *self.0.running.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
                self.0.ended.notify_all();
            }
        }
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let _running = Running(self);
        g.commit(ctx).map(|_| ())
    }
}
