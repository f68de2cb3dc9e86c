//! G1: the backup store. Originals are kept by content hash (`<dir>/ab/abcdef…`), so a file
//! renamed or copied shares one backup, and the bytes under a name never change. An
//! original is kept as a second name for the file itself where the store shares its
//! filesystem (the file replaced later is a new one), else as a copy. A backup counts only
//! once its bytes are on disk, flushed (with the rest of its group, see `pipeline::apply`),
//! and read back with the right hash, and is relied on later only while the store's name is
//! the file's only one.

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
        if self.trusted(hash) {
            return Ok(Unflushed {
                hash: hash.into(),
                path,
                new: false,
            });
        }
        self.private_dirs(&path)?;
        // Over a copy that is damaged or still someone's file (see `trusted`): the name
        // then holds the same bytes as before, now the store's own.
        output::stage(&path, bytes, &private_file())?.persist()?;
        Ok(Unflushed {
            hash: hash.into(),
            path,
            new: true,
        })
    }

    /// Keeps the original of the file at `source` like [`BackupStore::store_unflushed`]
    /// (`bytes` are what was read from it, inode `inode`, hashing to `hash`), but by giving
    /// that very file a second name in the store where they share a filesystem: no bytes
    /// copied, no new file made (a file's creation costs more than anything else the agent
    /// does per file). The name is kept only if it reaches the inode that was read (a file
    /// swapped in meanwhile is unlinked again); otherwise, and where no link can be made
    /// (another filesystem, a protected file), the bytes are copied. Until the original is
    /// replaced the backup is still the user's file too: the group's read-back catches an
    /// edit made before it, the last look before the rename (G3) one made after, and
    /// [`BackupStore::store_unflushed`] never relies on a copy that has another name.
    pub fn store_original(
        &self,
        hash: &str,
        source: &Path,
        inode: u64,
        bytes: &[u8],
    ) -> Result<Unflushed, BackupError> {
        use std::os::unix::fs::MetadataExt;
        let path = self.path_for(hash);
        if !self.trusted(hash) {
            self.private_dirs(&path)?;
            if std::fs::hard_link(source, &path).is_ok() {
                let same = std::fs::symlink_metadata(&path).is_ok_and(|m| {
                    m.is_file() && m.ino() == inode && m.len() == bytes.len() as u64
                });
                if same {
                    return Ok(Unflushed {
                        hash: hash.into(),
                        path,
                        new: true,
                    });
                }
                let _ = std::fs::remove_file(&path);
            }
        }
        self.store_unflushed(hash, bytes)
    }

    /// Takes back the name [`BackupStore::store_original`] gave the file of inode `inode`
    /// as the backup of `hash`, when that file was not replaced after all (an edit, a
    /// failed write, a kill before the rename): the file is the user's alone again, and an
    /// edit in place cannot pass for a hard link. A copy (another inode) is left alone;
    /// so is a name that is already the store's only one. Says whether a name was taken.
    pub fn unlink_original(&self, hash: &str, inode: u64) -> bool {
        use std::os::unix::fs::MetadataExt;
        let path = self.path_for(hash);
        let linked = std::fs::symlink_metadata(&path)
            .is_ok_and(|m| m.is_file() && m.ino() == inode && m.nlink() > 1);
        linked && std::fs::remove_file(&path).is_ok()
    }

    /// Whether the copy of `hash` in the store can be relied on: whole, and the store's
    /// alone. A copy with a second name is an original linked in by
    /// [`BackupStore::store_original`] and not replaced (an edit, a kill before the rename):
    /// its user could still change it in place, so it is copied over instead.
    fn trusted(&self, hash: &str) -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(self.path_for(hash)).is_ok_and(|m| m.is_file() && m.nlink() == 1)
            && self.read(hash).is_ok()
    }

    fn private_dirs(&self, path: &Path) -> Result<(), IoError> {
        output::private_dir(&self.dir)?;
        output::private_dir(path.parent().expect("backup paths have a parent"))
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

    use std::os::unix::fs::MetadataExt;

    /// A user's photo in `dir`: its path, bytes, hash and inode.
    fn photo(dir: &Path, name: &str, bytes: &[u8]) -> (PathBuf, String, u64) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let ino = std::fs::metadata(&path).unwrap().ino();
        (path, hash_bytes(bytes), ino)
    }

    #[test]
    fn g1_an_original_is_kept_as_a_second_name_for_the_file_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = BackupStore::new(&dir.path().join("backups"));
        let bytes = b"the original photo";
        let (path, hash, ino) = photo(dir.path(), "a.jpg", bytes);
        let kept = store.store_original(&hash, &path, ino, bytes).unwrap();
        assert!(kept.new);
        let meta = std::fs::metadata(&kept.path).unwrap();
        assert_eq!((meta.ino(), meta.nlink()), (ino, 2), "linked, not copied");
        assert_eq!(store.read(&hash).unwrap(), bytes);
        // The file replaced as the agent does (a new file renamed over it): the backup is
        // the original file, now the store's alone, and relied on from then on.
        let temp = dir.path().join("a.tmp");
        std::fs::write(&temp, b"optimized").unwrap();
        std::fs::rename(&temp, &path).unwrap();
        assert_eq!(std::fs::metadata(&kept.path).unwrap().nlink(), 1);
        assert!(!store.store_unflushed(&hash, bytes).unwrap().new);
        assert_eq!(store.read(&hash).unwrap(), bytes);
    }

    #[test]
    fn g1_g3_a_file_swapped_in_after_the_read_is_not_kept_as_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let store = BackupStore::new(&dir.path().join("backups"));
        let bytes = b"the original photo";
        let (path, hash, ino) = photo(dir.path(), "a.jpg", bytes);
        // Another file of the same size takes the name between the read and the backup.
        std::fs::write(dir.path().join("b.jpg"), b"someone else's photo").unwrap();
        std::fs::rename(dir.path().join("b.jpg"), &path).unwrap();
        let kept = store.store_original(&hash, &path, ino, bytes).unwrap();
        let meta = std::fs::metadata(&kept.path).unwrap();
        assert_ne!(meta.ino(), std::fs::metadata(&path).unwrap().ino());
        assert_eq!(meta.nlink(), 1, "a copy of the bytes read, the store's own");
        assert_eq!(store.read(&hash).unwrap(), bytes);
        assert_eq!(std::fs::read(&path).unwrap(), b"someone else's photo");
    }

    #[test]
    fn g1_a_backup_that_is_still_a_users_file_is_never_relied_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = BackupStore::new(&dir.path().join("backups"));
        let bytes = b"the original photo";
        let (path, hash, ino) = photo(dir.path(), "a.jpg", bytes);
        // Linked, then never replaced (a kill before the rename, or an edit seen by G3).
        store.store_original(&hash, &path, ino, bytes).unwrap();
        // A copy of the same photo elsewhere is optimized later: its backup must not be the
        // first file, which its user may still edit in place.
        let (copy, _, copy_ino) = photo(dir.path(), "copy.jpg", bytes);
        let kept = store.store_original(&hash, &copy, copy_ino, bytes).unwrap();
        assert!(kept.new, "the linked copy was not trusted");
        let meta = std::fs::metadata(&kept.path).unwrap();
        assert_eq!(meta.nlink(), 1, "the store's own copy");
        assert_ne!(meta.ino(), ino);
        assert_ne!(meta.ino(), copy_ino);
        // The first file is untouched and no longer shares its inode with the store.
        assert_eq!(std::fs::metadata(&path).unwrap().nlink(), 1);
        std::fs::write(&path, b"edited in place").unwrap();
        assert_eq!(store.read(&hash).unwrap(), bytes);
    }

    #[test]
    fn g1_an_original_on_another_filesystem_is_copied() {
        let dir = tempfile::tempdir().unwrap();
        let Some(other) = ["/dev/shm", "/run"].iter().map(Path::new).find(|d| {
            std::fs::metadata(d)
                .is_ok_and(|m| m.dev() != std::fs::metadata(dir.path()).unwrap().dev())
                && tempfile::tempdir_in(d).is_ok()
        }) else {
            eprintln!("no second filesystem to try a link across");
            return;
        };
        let elsewhere = tempfile::tempdir_in(other).unwrap();
        let store = BackupStore::new(elsewhere.path());
        let bytes = b"the original photo";
        let (path, hash, ino) = photo(dir.path(), "a.jpg", bytes);
        let kept = store.store_original(&hash, &path, ino, bytes).unwrap();
        assert!(kept.new);
        assert_eq!(std::fs::metadata(&kept.path).unwrap().nlink(), 1);
        assert_eq!(store.read(&hash).unwrap(), bytes);
    }
}
