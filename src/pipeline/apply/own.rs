//! The agent's own copies beside a file (mirror copies, WebP/AVIF extras): written only
//! where nothing is, or where the bytes still are exactly what the agent wrote there; a
//! copy someone else wrote or edited is theirs and left alone.

use std::path::{Path, PathBuf};

use super::super::Ctx;
use super::one::{io, ApplyError};
use crate::config::Convert;
use crate::content::hash_bytes;
use crate::output::{self, Carry};

/// Writes a file the agent owns (an extra), never overwriting a file it did not write
/// itself.
pub(super) fn write_owned(
    ctx: &Ctx,
    target: &Path,
    source: &Path,
    kind: &str,
    bytes: &[u8],
    carry: &Carry,
) -> Result<(), ApplyError> {
    owned(ctx, target)?;
    output::write_atomic(target, bytes, carry).map_err(io)?;
    ctx.ledger()
        .put_extra(target, source, kind, &hash_bytes(bytes))?;
    Ok(())
}

/// Whether the agent may write `target`: it is not there, or still holds exactly the bytes
/// the agent wrote there (a copy someone edited or replaced since is theirs now). Creates
/// its folder.
pub(super) fn owned(ctx: &Ctx, target: &Path) -> Result<(), ApplyError> {
    if std::fs::symlink_metadata(target).is_ok() {
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
    Ok(())
}

/// `photo.jpg` → `photo.jpg.webp`: unambiguous when photo.png sits beside photo.jpg.
pub fn extra_path(base: &Path, convert: Convert) -> PathBuf {
    let mut name = base.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(convert.as_str());
    base.with_file_name(name)
}
