//! Opening files in the user's folders. Between the scan and the moment the agent reads or
//! replaces a file, the user (or another program) may swap it for a symlink, a FIFO or a
//! device. Every read of a user file goes through [`open_regular`], which:
//!
//! - never follows a symlink (`O_NOFOLLOW`), so nothing outside the folder is read as if it
//!   were the file;
//! - never blocks on open (`O_NONBLOCK`), so a FIFO cannot hang a run;
//! - refuses anything that is not a regular file, checked on the open descriptor (`fstat`),
//!   so what is checked is what is read.
//!
//! Contents are read through the descriptor, never memory-mapped: a file truncated while
//! mapped would kill the agent with SIGBUS.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;

/// Opens `path` for reading if, and only if, it is a regular file (not a link to one).
pub fn open_regular(path: &Path) -> std::io::Result<(File, Metadata)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            // O_NOFOLLOW on a symlink.
            Some(libc::ELOOP) => not_regular("a symbolic link"),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular(kind_of(&meta)));
    }
    Ok((file, meta))
}

/// What a non-regular file is, in words.
fn kind_of(meta: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a named pipe (FIFO)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn not_regular(what: &str) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("it is now {what}, not a regular file; the agent leaves it alone"),
    )
}

/// The whole content of a regular file, with the metadata of the descriptor it was read
/// from.
pub fn read_regular(path: &Path) -> std::io::Result<(Vec<u8>, Metadata)> {
    let (mut file, meta) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)?;
    Ok((bytes, meta))
}

/// Like [`read_regular`], with the carry-over of the file (mode, owner, mtime, extended
/// attributes and ACLs) read from the same descriptor.
pub fn read_regular_carry(
    path: &Path,
) -> std::io::Result<(Vec<u8>, Metadata, crate::output::Carry)> {
    let (mut file, meta) = open_regular(path)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)?;
    let carry = crate::output::Carry::from_file(&file, &meta);
    Ok((bytes, meta, carry))
}

/// Files at least this big are hashed on every core (blake3's tree splits them).
const PARALLEL_HASH: usize = 16 * 1024 * 1024;

/// Bytes read per call while hashing.
const CHUNK: usize = 1024 * 1024;

/// blake3 of everything `file` has left to read, as lowercase hex.
pub fn hash_reader(file: &mut File, size_hint: u64) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    let chunk = if size_hint as usize >= PARALLEL_HASH {
        PARALLEL_HASH
    } else {
        CHUNK
    };
    let mut buf = vec![0u8; chunk.min(size_hint.max(4096) as usize)];
    loop {
        let n = read_full(file, &mut buf)?;
        if n == 0 {
            break;
        }
        if n >= PARALLEL_HASH {
            h.update_rayon(&buf[..n]);
        } else {
            h.update(&buf[..n]);
        }
        if n < buf.len() {
            break;
        }
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_a_fifo_and_a_folder_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.jpg");
        std::fs::write(&real, b"bytes").unwrap();
        let link = dir.path().join("link.jpg");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let fifo = dir.path().join("fifo.jpg");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo reads a NUL-terminated path and touches nothing else.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);

        assert_eq!(read_regular(&real).unwrap().0, b"bytes");
        for (p, what) in [(&link, "symbolic link"), (&fifo, "FIFO")] {
            let e = read_regular(p).unwrap_err();
            assert!(e.to_string().contains(what), "{}: {e}", p.display());
        }
        assert!(open_regular(dir.path()).is_err());
    }

    #[test]
    fn hashing_a_reader_matches_hashing_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 1, 4095, CHUNK + 7, PARALLEL_HASH + 3] {
            let bytes: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let p = dir.path().join(format!("f{size}"));
            std::fs::write(&p, &bytes).unwrap();
            let (mut f, meta) = open_regular(&p).unwrap();
            assert_eq!(
                hash_reader(&mut f, meta.len()).unwrap(),
                blake3::hash(&bytes).to_hex().to_string(),
                "{size} bytes"
            );
        }
    }
}
