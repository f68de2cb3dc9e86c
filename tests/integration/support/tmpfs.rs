//! A small tmpfs mounted for one test, to fill a disk on purpose (ENOSPC) or make one
//! read-only. Mounting needs root: CI runs as root; elsewhere [`Tmpfs::mount`] returns
//! `None` and the test says that it was skipped and why.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` at `path` (created if missing); `None`, with a line on
    /// stderr naming `test`, when this machine does not let the test mount one.
    pub fn mount(path: &Path, bytes: u64, test: &str) -> Option<Tmpfs> {
        if !super::is_root() {
            eprintln!("SKIPPED {test}: mounting a small tmpfs needs root (CI runs as root)");
            return None;
        }
        std::fs::create_dir_all(path).expect("create the mount point");
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED {test}: `mount -t tmpfs` failed (no mount permission here)");
            return None;
        }
        Some(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    fn remount(&self, options: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {} with {options}", self.path.display());
    }

    /// Makes the filesystem read-only.
    pub fn read_only(&self) {
        self.remount("ro");
    }

    /// Gives the filesystem `bytes` of room (space returns).
    pub fn resize(&self, bytes: u64) {
        self.remount(&format!("size={bytes}"));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process of the test may still hold a file open there.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
