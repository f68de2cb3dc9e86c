//! G2: every file the agent writes appears whole or not at all. Bytes go to a temporary file
//! in the target's own folder (same filesystem, so the rename is atomic), are flushed, get the
//! original's permissions, owner and mtime, and are renamed over the target; then the folder
//! itself is flushed so the rename survives a power cut. [`stage`] is the first half, for a
//! caller that flushes a group of files at once before renaming each (`pipeline::apply`).

use std::fs::{File, Metadata};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::ledger::Stat;

/// Prefix of the agent's temporary files; the scanner ignores them.
pub const TEMP_PREFIX: &str = ".spa-tmp-";

/// The key of the mark in the agent's temporary file names. A temporary file is named
/// `.spa-tmp-<nonce>-<mark>`, the mark being the keyed blake3 of the nonce: a name no user
/// file has by chance, so only files the agent provably made are ever deleted as leftovers.
const TEMP_MARK_KEY: [u8; 32] = *b"shortpixel-agent temp file mark1";

fn temp_mark(nonce: &str) -> String {
    blake3::keyed_hash(&TEMP_MARK_KEY, nonce.as_bytes()).to_hex()[..16].to_string()
}

/// A fresh temporary file name carrying the agent's mark.
fn temp_name() -> String {
    let nonce = format!("{:016x}", fastrand::u64(..));
    format!("{TEMP_PREFIX}{nonce}-{}", temp_mark(&nonce))
}

/// Whether `name` is a temporary file this agent made (and a killed run may have left).
/// A user's file that merely starts with the prefix is not.
pub fn is_own_temp(name: &std::ffi::OsStr) -> bool {
    let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
        return false;
    };
    match rest.split_once('-') {
        Some((nonce, mark)) => nonce.len() == 16 && mark == temp_mark(nonce),
        None => false,
    }
}

/// An I/O failure with the path it concerns, and what the user can do about it.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {}", path.display(), explain(source, path))]
pub struct IoError {
    pub action: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(action: &'static str, path: &Path, source: std::io::Error) -> IoError {
        IoError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An I/O error in words, with what to do where there is something to do.
pub fn explain(e: &std::io::Error, path: &Path) -> String {
    let whoami = || {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let uid = unsafe { libc::geteuid() };
        std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("uid {uid}"))
    };
    use std::io::ErrorKind;
    // By kind, not by errno: wrappers (tempfile's, for one) keep the kind but not the code.
    match e.kind() {
        ErrorKind::StorageFull => format!(
            "no space left on the disk holding {}; free some space there and run again: nothing was lost, and what was already paid for is fetched again, not uploaded again",
            path.display()
        ),
        ErrorKind::QuotaExceeded => format!(
            "the disk quota of {} is used up ({}); free some space or raise the quota and run again",
            whoami(),
            path.display()
        ),
        ErrorKind::ReadOnlyFilesystem => format!(
            "{} is on a read-only file system; remount it read-write, or point the config at a writable place",
            path.display()
        ),
        ErrorKind::PermissionDenied => format!(
            "permission denied; the agent runs as {}: give it access to {}",
            whoami(),
            path.display()
        ),
        _ => e.to_string(),
    }
}

mod attrs;
pub mod flush;

pub use attrs::Attrs;

/// What to carry over from the file being replaced.
#[derive(Debug, Clone, Default)]
pub struct Carry {
    pub permissions: Option<std::fs::Permissions>,
    pub mtime: Option<SystemTime>,
    pub owner: Option<(u32, u32)>,
    /// Extended attributes and ACLs (see `attrs`).
    pub attrs: Attrs,
}

impl Carry {
    pub fn from_meta(meta: &Metadata) -> Carry {
        use std::os::unix::fs::MetadataExt;
        Carry {
            permissions: Some(meta.permissions()),
            mtime: meta.modified().ok(),
            owner: Some((meta.uid(), meta.gid())),
            attrs: Attrs::default(),
        }
    }

    /// Everything of an open file: mode, owner, mtime, extended attributes and ACLs.
    pub fn from_file(file: &File, meta: &Metadata) -> Carry {
        Carry {
            attrs: Attrs::of(file),
            ..Carry::from_meta(meta)
        }
    }
}

/// Writes `bytes` to `target` atomically and returns the new file's stat.
pub fn write_atomic(target: &Path, bytes: &[u8], carry: &Carry) -> Result<Stat, IoError> {
    let tmp = temp_with(target, bytes, carry)?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| IoError::new("cannot flush", target, e))?;
    tmp.persist(target)
        .map_err(|e| IoError::new("cannot rename into place", target, e.error))?;
    sync_dir(target.parent().unwrap_or(Path::new(".")))?;
    let meta =
        std::fs::symlink_metadata(target).map_err(|e| IoError::new("cannot stat", target, e))?;
    Ok(Stat::of(&meta))
}

/// A temporary file beside its target holding the target's new bytes and attributes, its
/// writing to disk started but not waited for. Dropped, it is removed; [`Staged::persist`]
/// renames it into place once the caller has flushed it (see [`flush::file`]).
#[derive(Debug)]
pub struct Staged {
    temp: tempfile::TempPath,
    target: PathBuf,
}

/// Writes `bytes` and `carry` to a temporary file beside `target`, for a caller that flushes
/// many files at once (see `pipeline::apply`'s groups) before renaming each into place.
pub fn stage(target: &Path, bytes: &[u8], carry: &Carry) -> Result<Staged, IoError> {
    let tmp = temp_with(target, bytes, carry)?;
    flush::start(tmp.as_file());
    Ok(Staged {
        temp: tmp.into_temp_path(),
        target: target.to_path_buf(),
    })
}

impl Staged {
    /// The temporary file (to flush before [`Staged::persist`]).
    pub fn temp(&self) -> &Path {
        &self.temp
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temporary file over the target and returns the new file's stat; the
    /// folder still has to be flushed for the rename to survive a power cut.
    pub fn persist(self) -> Result<Stat, IoError> {
        let target = self.target;
        self.temp
            .persist(&target)
            .map_err(|e| IoError::new("cannot rename into place", &target, e.error))?;
        let meta = std::fs::symlink_metadata(&target)
            .map_err(|e| IoError::new("cannot stat", &target, e))?;
        Ok(Stat::of(&meta))
    }
}

/// A temporary file beside `target` holding `bytes`, with `carry` applied, not flushed.
fn temp_with(
    target: &Path,
    bytes: &[u8],
    carry: &Carry,
) -> Result<tempfile::NamedTempFile, IoError> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = loop {
        match tempfile::Builder::new()
            .prefix(&temp_name())
            .rand_bytes(0)
            .tempfile_in(dir)
        {
            Ok(t) => break t,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(IoError::new("cannot create a temporary file in", dir, e)),
        }
    };
    tmp.write_all(bytes)
        .map_err(|e| IoError::new("cannot write", target, e))?;
    let file = tmp.as_file();
    if let Some(p) = &carry.permissions {
        file.set_permissions(p.clone())
            .map_err(|e| IoError::new("cannot set permissions on", target, e))?;
    }
    if let Some((uid, gid)) = carry.owner {
        // Only root (or the owner, for the group) may do this; failing keeps the agent's owner,
        // which is what a user running it for their own files has anyway.
        let _ = std::os::unix::fs::fchown(file, Some(uid), Some(gid));
    }
    // After the mode: an ACL sets the group bits itself (its mask), consistently with the
    // mode carried from the same file.
    carry.attrs.apply(file, target);
    if let Some(m) = carry.mtime {
        file.set_modified(m)
            .map_err(|e| IoError::new("cannot set the modification time of", target, e))?;
    }
    Ok(tmp)
}

/// Creates `dir` (and missing parents) for the agent's own data, readable by its user only
/// (0700): the ledger and the backup store list every private path and hold every original.
/// A folder that exists already is tightened to 0700 if this user owns it.
pub fn private_dir(dir: &Path) -> Result<(), IoError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            if meta.uid() == me && meta.mode() & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| IoError::new("cannot make private the folder", dir, e))?;
            }
            Ok(())
        }
        _ => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| IoError::new("cannot create the folder", dir, e)),
    }
}

/// Flushes a folder's entries (renames, creations) to disk.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IoError::new("cannot flush the folder", dir, e))
}

/// Removes a file the agent wrote, flushing its folder.
pub fn remove(path: &Path) -> Result<(), IoError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(IoError::new("cannot remove", path, e)),
    }
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn only_names_with_the_mark_count_as_the_agents_temporary_files() {
        let own = temp_name();
        assert!(is_own_temp(std::ffi::OsStr::new(&own)), "{own}");
        for user in [
            ".spa-tmp-holiday.jpg",
            ".spa-tmp-0123456789abcdef-0123456789abcdef",
            ".spa-tmp-",
            "photo.jpg",
        ] {
            assert!(!is_own_temp(std::ffi::OsStr::new(user)), "{user}");
        }
    }

    #[test]
    fn replaces_whole_and_keeps_mode_and_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.jpg");
        std::fs::write(&target, b"original").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        let old = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        File::options()
            .write(true)
            .open(&target)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let carry = Carry::from_meta(&std::fs::metadata(&target).unwrap());
        let stat = write_atomic(&target, b"new", &carry).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        assert_eq!(meta.modified().unwrap(), old);
        assert_eq!(stat.size, 3);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }
}
