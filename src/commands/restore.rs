//! `restore [--dry-run] [--force] (--all | PATH...)`: the arguments and what is said; the
//! restoring itself is `crate::restore`.

use std::path::{Path, PathBuf};

use super::{hint, Usage};
use crate::backup::BackupStore;
use crate::names::shown;
use crate::restore::{restore, select, Options, Outcome};

pub fn run(
    config: Option<&Path>,
    paths: &[PathBuf],
    all: bool,
    deleted: bool,
    opts: Options,
) -> anyhow::Result<i32> {
    if paths.is_empty() && !all && !deleted {
        return Err(Usage(format!(
            "name the files or folders to restore, or restore every file the agent changed with `{}` (add --dry-run to see what would come back)",
            hint::command("restore --all")
        ))
        .into());
    }
    let config = super::load(config)?;
    // A restore writes files the daemon may be working on: take the same lock.
    let _lock = crate::lock::acquire(&config.ledger)?;
    let backups = BackupStore::new(&config.backup_dir);
    let ledger = crate::recover::open(&config, &backups)?;
    let sel = select(&ledger, paths, all, deleted)?;
    let mut code = 0;
    for (p, exists) in &sel.unknown {
        if *exists {
            eprintln!(
                "{}: not a file the agent manages; nothing to restore",
                shown(p)
            );
        } else {
            eprintln!(
                "{}: no such file, and the agent has no record of a file there",
                shown(p)
            );
        }
        code = 1;
    }
    let (mut restored, mut refused) = (0, 0);
    let single = !all && sel.targets.len() == 1;
    for target in &sel.targets {
        let path = target.path();
        // One file's I/O error must not stop the rest: it becomes a refusal with the reason.
        let outcome = restore(&config, &ledger, &backups, target, opts)
            .unwrap_or_else(|e| Outcome::Refused(format!("{e:#}")));
        match outcome {
            Outcome::Restored => {
                restored += 1;
                println!("restored {}", shown(path));
            }
            Outcome::WouldRestore => {
                restored += 1;
                println!("would restore {}", shown(path));
            }
            Outcome::Refused(why) => {
                refused += 1;
                eprintln!("not restored {}: {why}", shown(path));
            }
            Outcome::Nothing(why) => {
                if single {
                    println!("{}: nothing to restore: {why}", shown(path));
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
