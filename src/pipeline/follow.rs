//! Following the user's renames, moves and deletes.
//!
//! - A rename inside a folder moves the file's ledger row (content, state and history go
//!   with it: nothing is hashed or uploaded again, a restored file stays restored) and moves
//!   the files the agent wrote for it: the mirror copy and the WebP/AVIF extras.
//! - A file that is gone takes its mirror copy and the extras in the mirror with it.
//!
//! The only files ever deleted or moved here are ones the ledger records as written by the
//! agent, still holding the bytes it wrote, inside the mirror tree (mirror mode) or beside
//! the renamed file (its extras). In replace mode, the extras of a deleted file stay.

use std::path::Path;

use super::apply::{extra_path, MIRROR_COPY};
use super::Ctx;
use crate::config::{Convert, Folder, Mode};
use crate::content::hash_file;
use crate::ledger::{FileRow, Stat};

/// Cleans up after files that are gone (their rows are already forgotten).
pub fn gone(ctx: &Ctx, rows: &[FileRow]) -> anyhow::Result<()> {
    for row in rows {
        let Some(folder) = ctx.config.folder_of(&row.path) else {
            continue;
        };
        if folder.mode != Mode::Mirror {
            continue;
        }
        let output = folder
            .output
            .as_deref()
            .expect("mirror folders have an output");
        // Bound first: the guard of a `for` header would live through the loop body.
        let extras = ctx.ledger().extras_of(&row.path)?;
        for extra in extras {
            if extra.path.starts_with(output) && holds(&extra.path, &extra.hash) {
                match std::fs::remove_file(&extra.path) {
                    Ok(()) => tracing::info!(
                        "removed {} ({} is gone)",
                        extra.path.display(),
                        row.path.display()
                    ),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", extra.path.display()),
                }
                prune_empty_dirs(&extra.path, output);
            }
            ctx.ledger().delete_extra(&extra.path)?;
        }
    }
    Ok(())
}

/// Follows a rename inside one folder. Returns false when the ledger knew nothing at `from`
/// (the caller then treats `to` as new).
pub fn moved(ctx: &Ctx, folder: &Folder, from: &Path, to: &Path) -> anyhow::Result<bool> {
    let rows = ctx.ledger().files_under(from)?;
    if rows.is_empty() {
        return Ok(false);
    }
    let to_is_dir = std::fs::symlink_metadata(to).is_ok_and(|m| m.is_dir());
    let mut moved = 0;
    for row in rows {
        let new = if row.path == from {
            to.to_path_buf()
        } else {
            match row.path.strip_prefix(from) {
                Ok(rel) if to_is_dir => to.join(rel),
                _ => continue,
            }
        };
        // Only a true move keeps the row: same inode, size and mtime at the new place.
        let same = std::fs::symlink_metadata(&new).is_ok_and(|m| Stat::of(&m) == row.stat);
        if !same {
            continue;
        }
        ctx.ledger().move_file(&row.path, &new, &folder.path)?;
        move_extras(ctx, folder, &row.path, &new)?;
        moved += 1;
    }
    if moved > 0 {
        tracing::info!(
            "{} -> {}: {moved} tracked file(s) followed",
            from.display(),
            to.display()
        );
    }
    Ok(moved > 0)
}

/// Moves what the agent wrote for `old` so it belongs to `new`.
fn move_extras(ctx: &Ctx, folder: &Folder, old: &Path, new: &Path) -> anyhow::Result<()> {
    let extras = ctx.ledger().extras_of(old)?;
    if extras.is_empty() {
        return Ok(());
    }
    let Some(base) = folder.target_of(new) else {
        return Ok(());
    };
    for extra in extras {
        let target = match (extra.kind.as_str(), Convert::parse(&extra.kind)) {
            (MIRROR_COPY, _) => base.clone(),
            (_, Some(convert)) => extra_path(&base, convert),
            (_, None) => continue,
        };
        if target == extra.path {
            ctx.ledger().move_extra(&extra.path, &target, new)?;
            continue;
        }
        if holds(&extra.path, &extra.hash) && !target.exists() {
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&extra.path, &target)?;
            if let Some(out) = &folder.output {
                prune_empty_dirs(&extra.path, out);
            }
            ctx.ledger().move_extra(&extra.path, &target, new)?;
        } else if holds(&target, &extra.hash) {
            // Already there: the folder holding both was renamed.
            ctx.ledger().move_extra(&extra.path, &target, new)?;
        } else {
            ctx.ledger().delete_extra(&extra.path)?;
        }
    }
    Ok(())
}

/// Whether `path` still holds exactly the bytes the agent wrote there.
fn holds(path: &Path, hash: &str) -> bool {
    hash_file(path).is_ok_and(|h| h == hash)
}

/// Removes the folders left empty above `file`, up to (not including) `root`.
fn prune_empty_dirs(file: &Path, root: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

/// Removes the temporary files a killed run left in a mirror tree (G2: the targets beside
/// them are whole). Called at start-up only, when no write of this agent can be under way.
pub fn remove_mirror_leftovers(folder: &Folder) {
    let Some(out) = &folder.output else { return };
    for entry in walkdir::WalkDir::new(out).into_iter().flatten() {
        if entry.file_type().is_file() && crate::output::is_own_temp(entry.file_name()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
