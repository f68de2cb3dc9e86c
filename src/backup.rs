//! G1: the backup store. Originals are kept by content hash (`<dir>/ab/abcdef…`), so a file
//! renamed or copied shares one backup, and a backup is never overwritten. A backup counts
//! only once its bytes are on disk, flushed (with the rest of its group, see
//! `pipeline::apply`), and read back with the right hash.

use std::path::{Path, PathBuf};

use crate::content::hash_bytes;
use crate::output::{self, Carry, IoError};

pub mod journal;
pub mod prune;

pub use journal::{Event, Journal, Record};

/// The backup store: originals and kept results by hash, and the journal that describes
/// them (G9). Cloning shares the journal's open segment.
#[derive(Debug, Clone)]
pub struct BackupStore {
    dir: PathBuf,
    journal: Journal,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("the backup {} does not hold the original (hash mismatch); it was changed or damaged on disk", path.display())]
    Damaged { path: PathBuf },
}

impl BackupStore {
    pub fn new(dir: &Path) -> BackupStore {
        BackupStore {
            dir: dir.to_path_buf(),
            journal: Journal::new(dir),
        }
    }

    /// The store's description of itself (G9).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The folder the store lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_for(&self, hash: &str) -> PathBuf {
        self.dir.join(&hash[..2.min(hash.len())]).join(hash)
    }

    /// Puts `bytes` (whose blake3 is `hash`) in the store without waiting for the disk, for
    /// a caller that flushes a whole group at once: the backup counts only once the
    /// returned file and its folders are flushed ([`crate::output::flush::file`],
    /// [`crate::output::sync_dir`]) and [`BackupStore::read`] verifies it. An intact copy
    /// already there is kept (and still flushed by the caller: a killed run may have left it
    /// written but never flushed).
    pub fn store_unflushed(&self, hash: &str, bytes: &[u8]) -> Result<Unflushed, BackupError> {
        let path = self.path_for(hash);
        if self.read(hash).is_ok() {
            return Ok(Unflushed {
                hash: hash.into(),
                path,
                new: false,
            });
        }
        let dir = path.parent().expect("backup paths have a parent");
        output::private_dir(&self.dir)?;
        output::private_dir(dir)?;
        output::stage(&path, bytes, &private_file())?.persist()?;
        Ok(Unflushed {
            hash: hash.into(),
            path,
            new: true,
        })
    }

    /// The original bytes, verified against their hash.
    pub fn read(&self, hash: &str) -> Result<Vec<u8>, BackupError> {
        let path = self.path_for(hash);
        let bytes =
            std::fs::read(&path).map_err(|e| IoError::new("cannot read the backup", &path, e))?;
        if hash_bytes(&bytes) != hash {
            return Err(BackupError::Damaged { path });
        }
        Ok(bytes)
    }

    pub fn exists(&self, hash: &str) -> bool {
        self.path_for(hash).is_file()
    }
}

/// A backup written by [`BackupStore::store_unflushed`], to be flushed.
#[derive(Debug, Clone)]
pub struct Unflushed {
    pub hash: String,
    pub path: PathBuf,
    /// Whether it was written now (its folders changed too); false for a copy already there.
    pub new: bool,
}

/// What a file in the store gets: readable by the agent's user only.
fn private_file() -> Carry {
    Carry {
        permissions: Some(std::os::unix::fs::PermissionsExt::from_mode(0o600)),
        ..Carry::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_once_verifies_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = BackupStore::new(dir.path());
        let bytes = b"original bytes";
        let hash = hash_bytes(bytes);
        let first = store.store_unflushed(&hash, bytes).unwrap();
        assert!(first.new);
        assert_eq!(store.read(&hash).unwrap(), bytes);
        let again = store.store_unflushed(&hash, bytes).unwrap();
        assert_eq!((again.path, again.new), (first.path.clone(), false));
        let p = first.path;
        std::fs::write(&p, b"damaged").unwrap();
        assert!(matches!(
            store.read(&hash),
            Err(BackupError::Damaged { .. })
        ));
        // Storing again repairs a damaged backup.
        assert!(store.store_unflushed(&hash, bytes).unwrap().new);
        assert_eq!(store.read(&hash).unwrap(), bytes);
    }
}
