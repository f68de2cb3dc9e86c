//! `restore [--dry-run] [--force] (--all | PATH...)`: the arguments and what is said; the
//! restoring itself is `crate::restore`.

use std::path::{Path, PathBuf};

use super::{hint, Usage};
use crate::backup::BackupStore;
use crate::ledger::Ledger;
use crate::restore::{restore_one, select, Options, Outcome};

pub fn run(
    config: Option<&Path>,
    paths: &[PathBuf],
    all: bool,
    opts: Options,
) -> anyhow::Result<i32> {
    if paths.is_empty() && !all {
        return Err(Usage(format!(
            "name the files or folders to restore, or restore every file the agent changed with `{}` (add --dry-run to see what would come back)",
            hint::command("restore --all")
        ))
        .into());
    }
    let config = super::load(config)?;
    // A restore writes files the daemon may be working on: take the same lock.
    let _lock = crate::lock::acquire(&config.ledger)?;
    let ledger = Ledger::open(&config.ledger)?;
    let backups = BackupStore::new(&config.backup_dir);
    let (rows, unknown) = select(&ledger, paths, all)?;
    let mut code = 0;
    for p in &unknown {
        // A path that is gone may still be a file the agent knows (then it is not here).
        if std::fs::symlink_metadata(p).is_err() {
            eprintln!(
                "{}: no such file or folder, and the agent has no record of it; nothing to restore",
                p.display()
            );
        } else {
            eprintln!(
                "{}: not a file the agent manages; nothing to restore",
                p.display()
            );
        }
        code = 1;
    }
    let (mut restored, mut refused) = (0, 0);
    for row in &rows {
        // One file's I/O error must not stop the rest: it becomes a refusal with the reason.
        let outcome = restore_one(&config, &ledger, &backups, row, opts)
            .unwrap_or_else(|e| Outcome::Refused(format!("{e:#}")));
        match outcome {
            Outcome::Restored => {
                restored += 1;
                println!("restored {}", row.path.display());
            }
            Outcome::WouldRestore => {
                restored += 1;
                println!("would restore {}", row.path.display());
            }
            Outcome::Refused(why) => {
                refused += 1;
                eprintln!("not restored {}: {why}", row.path.display());
            }
            Outcome::Nothing(why) => {
                if !all && rows.len() == 1 {
                    println!("{}: nothing to restore: {why}", row.path.display());
                }
            }
        }
    }
    let verb = if opts.dry_run {
        "would restore"
    } else {
        "restored"
    };
    println!(
        "{verb} {restored} file(s){}",
        if refused > 0 {
            format!(", {refused} refused")
        } else {
            String::new()
        }
    );
    if refused > 0 {
        code = 1;
    }
    Ok(code)
}
