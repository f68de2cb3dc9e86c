//! One agent per ledger. `run` holds an exclusive lock on `<ledger>.lock` (an OS file lock,
//! released by the kernel if the process dies, so a crash never leaves a stale lock) and
//! writes its pid there; `status` asks for the lock to learn whether a daemon is running.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::output::IoError;

pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

fn lock_path(ledger: &Path) -> PathBuf {
    let mut name = ledger.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    ledger.with_file_name(name)
}

/// Takes the lock, or says which pid holds it.
pub fn acquire(ledger: &Path) -> anyhow::Result<InstanceLock> {
    let path = lock_path(ledger);
    let io = |what: &'static str, e: std::io::Error| IoError::new(what, &path, e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| IoError::new("cannot create", dir, e))?;
    }
    crate::ledger::private_file(&path).map_err(|e| io("cannot create the lock file", e))?;
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io("cannot open the lock file", e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = read_pid(&mut file)
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default();
            anyhow::bail!(
                "another shortpixel-agent{pid} is already running on the ledger {}; stop it first, or use `status` to see what it is doing",
                ledger.display()
            );
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io("cannot lock", e).into()),
    }
    let write_pid = |file: &mut File| -> std::io::Result<()> {
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.sync_all()
    };
    write_pid(&mut file).map_err(|e| io("cannot write the lock file", e))?;
    Ok(InstanceLock { _file: file, path })
}

/// `Some(pid)` (pid may be unknown) when another process holds the lock.
pub fn holder(ledger: &Path) -> Option<Option<u32>> {
    let mut file = File::options()
        .read(true)
        .write(true)
        .open(lock_path(ledger))
        .ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(_) => Some(read_pid(&mut file)),
    }
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut s).ok()?;
    s.trim().parse().ok()
}
