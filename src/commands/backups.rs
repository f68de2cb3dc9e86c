//! `backups [list]`: what the backup store holds. `backups prune --older-than AGE |
//! --max-size SIZE [--dry-run] [--force]`: deletes old backups, never the only copy of an
//! original whose file is optimized in place unless forced (see `backup::prune`).

use std::path::Path;

use crate::backup::prune::{self, Criteria, Inventory, Kind};
use crate::backup::BackupStore;
use crate::cli::BackupsAction;
use crate::config::Config;
use crate::ledger::Ledger;
use crate::status::human_bytes;

pub fn run(config: Option<&Path>, action: Option<&BackupsAction>) -> anyhow::Result<i32> {
    let config = super::load(config)?;
    match action {
        None | Some(BackupsAction::List) => list(&config),
        Some(BackupsAction::Prune {
            older_than,
            max_size,
            dry_run,
            force,
            deleted_older_than,
        }) => {
            let criteria = Criteria {
                older_than: *older_than,
                max_size: *max_size,
                force: *force,
                deleted_older_than: *deleted_older_than,
            };
            prune(&config, criteria, *dry_run)
        }
    }
}

fn list(config: &Config) -> anyhow::Result<i32> {
    // Read-only, like status: safe while the daemon runs.
    let ledger = Ledger::open_read_only(&config.ledger)?;
    let store = BackupStore::new(&config.backup_dir);
    let inv = Inventory::load(&store, ledger.as_ref())?;
    let (orig_n, orig_b) = inv.count(Kind::Original, false);
    let (needed_n, needed_b) = inv.count(Kind::Original, true);
    let (kept_n, kept_b) = inv.count(Kind::Result, false);
    println!(
        "backups in {}: {} files, {}",
        store.dir().display(),
        inv.entries.len(),
        human_bytes(inv.bytes())
    );
    println!(
        "  originals:      {orig_n} files, {}; {needed_n} of them ({}) are the only copy of a file optimized in place",
        human_bytes(orig_b),
        human_bytes(needed_b)
    );
    println!(
        "  kept results:   {kept_n} files, {} (optimized bytes, so a copy of an original is never paid for twice)",
        human_bytes(kept_b)
    );
    let deleted = inv
        .entries
        .iter()
        .filter(|e| e.deleted.is_some() && !e.needed)
        .fold((0u64, 0u64), |(n, b), e| (n + 1, b + e.size));
    if deleted.0 > 0 {
        println!(
            "  of deleted files: {} originals, {}, of files deleted after they were optimized in place (`restore --deleted` brings them back)",
            deleted.0,
            human_bytes(deleted.1)
        );
    }
    if let Some(oldest) = inv.entries.first() {
        println!("  oldest:         {}", prune::date(oldest.created));
    }
    if inv.pruned_earlier > 0 {
        let unrestorable = match &ledger {
            Some(l) => l.backup_totals()?.unrestorable,
            None => 0,
        };
        println!(
            "  pruned earlier: {} originals; {unrestorable} optimized file(s) can no longer be restored",
            inv.pruned_earlier
        );
    }
    if !inv.entries.is_empty() {
        println!(
            "To free space: {} (or --max-size 10GiB); add --dry-run to see what would go.",
            super::hint::command("backups prune --older-than 90d")
        );
    }
    Ok(0)
}

fn prune(config: &Config, criteria: Criteria, dry_run: bool) -> anyhow::Result<i32> {
    // Pruning decides from the ledger which backups are needed: no agent may change that
    // meanwhile.
    let _lock = crate::lock::acquire(&config.ledger)?;
    let store = BackupStore::new(&config.backup_dir);
    let mut ledger = crate::recover::open(config, &store)?;
    let inv = Inventory::load(&store, Some(&ledger))?;
    let now = crate::ledger::now();
    let plan = prune::plan(&inv, &criteria, now);
    let chosen = |kind: Kind| {
        plan.prune
            .iter()
            .map(|&i| &inv.entries[i])
            .filter(|e| e.kind == kind)
            .fold((0u64, 0u64), |(n, b), e| (n + 1, b + e.size))
    };
    let (orig_n, orig_b) = chosen(Kind::Original);
    let (kept_n, kept_b) = chosen(Kind::Result);
    let needed_pruned = plan
        .prune
        .iter()
        .filter(|&&i| inv.entries[i].needed || inv.entries[i].deleted.is_some())
        .count();
    let (files, bytes) = if dry_run {
        (orig_n + kept_n, orig_b + kept_b)
    } else {
        prune::execute(&inv, &plan, &mut ledger, now)?
    };
    let verb = if dry_run { "would prune" } else { "pruned" };
    println!(
        "{verb} {files} backup(s), {} ({orig_n} original(s), {kept_n} kept result(s)); {} left",
        human_bytes(bytes),
        human_bytes(plan.left_bytes)
    );
    if needed_pruned > 0 {
        println!(
            "{needed_pruned} of them {} the only copy of an original whose file is optimized in place (or was, before it was deleted): those originals can no longer be restored",
            if dry_run { "would be" } else { "were" }
        );
    }
    let kept = |of_deleted: bool| {
        plan.kept_needed
            .iter()
            .map(|&i| &inv.entries[i])
            .filter(|e| e.needed != of_deleted)
            .fold((0u64, 0u64), |(n, b), e| (n + 1, b + e.size))
    };
    let (live_n, live_b) = kept(false);
    if live_n > 0 {
        println!(
            "kept {live_n} backup(s) ({}) that are the only copy of an original whose file is optimized in place; \
             restore those files first, or add --force to prune them anyway (they could then never be restored)",
            human_bytes(live_b)
        );
    }
    let (gone_n, gone_b) = kept(true);
    if gone_n > 0 {
        println!(
            "kept {gone_n} backup(s) ({}) that are the only copy of the original of a file deleted since it was optimized \
             (`restore --deleted --dry-run` lists them); add --deleted-older-than AGE to let those go",
            human_bytes(gone_b)
        );
    }
    if let Some(max) = criteria.max_size {
        if plan.left_bytes > max {
            println!(
                "the backups still take {}, more than {}: the rest is needed",
                human_bytes(plan.left_bytes),
                human_bytes(max)
            );
        }
    }
    Ok(0)
}
