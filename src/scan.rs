//! The scan: walk a folder, stat every file, and bring the ledger up to date. A file whose
//! size, mtime and inode all match the ledger keeps its recorded hash and is not read; only
//! new or changed files are hashed (in parallel). Images are recognised by content.
//!
//! Never followed: symlinks (so nothing outside the folder is touched). Never scanned: the
//! agent's temporary files, files it wrote beside a result (WebP/AVIF), hidden files and
//! folders, NAS housekeeping folders, partial downloads, and the folder's `exclude` globs.

use std::path::{Path, PathBuf};

use crate::config::{Folder, Mode};
use crate::content::{hash_file, sniff_file, Format};
use crate::ledger::{FileRow, Ledger, LedgerError, Stat, State};
use crate::output::TEMP_PREFIX;

/// What a scan of one folder found.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// Every tracked file of the folder, as the ledger now has it.
    pub files: Vec<FileRow>,
    pub hashed: usize,
    pub unchanged: usize,
    pub forgotten: usize,
    /// Things the user should know: unreadable folders and the like.
    pub problems: Vec<String>,
}

/// Extensions that promise an image: such a file whose content is not one is reported.
const IMAGE_EXTENSIONS: &[&str] = &[
    "jpg", "jpeg", "jpe", "jfif", "png", "gif", "webp", "tif", "tiff", "bmp", "avif",
];

/// Folder names that NAS systems and desktops fill with their own files.
const SKIPPED_DIRS: &[&str] = &[
    "@eaDir",
    "#recycle",
    "#snapshot",
    "@Recycle",
    "$RECYCLE.BIN",
];

/// Name patterns of files still being written by some other program.
fn is_partial_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
        || name.starts_with("~$")
        || [".part", ".crdownload", ".tmp", ".download", ".partial"]
            .iter()
            .any(|s| name.to_ascii_lowercase().ends_with(s))
}

fn skip_entry(entry: &walkdir::DirEntry) -> bool {
    if entry.depth() == 0 {
        return false;
    }
    let name = entry.file_name().to_string_lossy();
    name.starts_with('.')
        || (entry.file_type().is_dir() && SKIPPED_DIRS.contains(&name.as_ref()))
        || (!entry.file_type().is_dir() && is_partial_name(&name))
}

/// Walks `folder`, updates the ledger, and returns every tracked file of the folder.
pub fn scan_folder(ledger: &mut Ledger, folder: &Folder) -> Result<ScanReport, LedgerError> {
    let mut report = ScanReport::default();
    let known: std::collections::HashMap<PathBuf, FileRow> = ledger
        .files_in(&folder.path)?
        .into_iter()
        .map(|r| (r.path.clone(), r))
        .collect();
    let generation = ledger.next_generation()?;

    let mut unchanged: Vec<FileRow> = Vec::new();
    let mut to_hash: Vec<(PathBuf, std::fs::Metadata)> = Vec::new();
    let mut unreadable_dirs: Vec<PathBuf> = Vec::new();

    let walker = walkdir::WalkDir::new(&folder.path)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| !skip_entry(e));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(&folder.path).to_path_buf();
                report.problems.push(format!(
                    "cannot read {}: {}; files below it are left as they were",
                    path.display(),
                    e.io_error()
                        .map_or_else(|| e.to_string(), |io| io.to_string())
                ));
                unreadable_dirs.push(path);
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        if let Ok(rel) = path.strip_prefix(&folder.path) {
            if folder.exclude.is_match(rel) {
                continue;
            }
        }
        if ledger.is_extra(path)? {
            continue;
        }
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(_) => continue, // vanished between listing and stat
        };
        let stat = Stat::of(&meta);
        match known.get(path) {
            Some(row) if row.stat == stat && !row.hash.is_empty() => unchanged.push(row.clone()),
            _ => to_hash.push((path.to_path_buf(), meta)),
        }
    }

    let hashed = hash_all(to_hash);
    let mut changed: Vec<FileRow> = Vec::new();
    for (path, meta, content) in hashed {
        let stat = Stat::of(&meta);
        let previous = known.get(&path);
        let row = match content {
            Ok((hash, format)) => {
                if format.is_none() && !has_image_extension(&path) {
                    continue; // not an image and not pretending to be one: not ours to track
                }
                match previous {
                    // Same bytes under a new stat (touched, copied back): keep what we knew.
                    Some(prev) if prev.hash == hash => FileRow {
                        stat,
                        ..prev.clone()
                    },
                    _ => new_row(folder, &path, stat, hash, format, &meta),
                }
            }
            Err(e) => FileRow {
                state: State::Failed,
                reason: Some(format!("cannot read the file: {e}")),
                ..new_row(folder, &path, stat, String::new(), None, &meta)
            },
        };
        changed.push(row);
    }
    report.hashed = changed.len();
    report.unchanged = unchanged.len();

    ledger.upsert_files(&changed, generation)?;
    let seen: Vec<PathBuf> = unchanged.iter().map(|r| r.path.clone()).collect();
    ledger.mark_seen(&seen, generation)?;
    report.forgotten = ledger.forget_unseen(&folder.path, generation, &unreadable_dirs)?;
    report.files = unchanged;
    report.files.extend(changed);
    report.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// A row for content seen for the first time at this path, with the reason it will be
/// skipped when it cannot be processed at all.
fn new_row(
    folder: &Folder,
    path: &Path,
    stat: Stat,
    hash: String,
    format: Option<Format>,
    meta: &std::fs::Metadata,
) -> FileRow {
    use std::os::unix::fs::MetadataExt;
    let skip = match format {
        None => Some("not an image: the content is not JPEG, PNG, GIF, WebP, TIFF or BMP".to_string()),
        Some(Format::Avif) => Some("unsupported format: AVIF originals are left as they are".to_string()),
        Some(_) if folder.mode == Mode::Replace && meta.nlink() > 1 => Some(format!(
            "hard-linked ({} links): replacing it would separate the links; use mirror mode for this folder",
            meta.nlink()
        )),
        Some(_) => None,
    };
    FileRow {
        path: path.to_path_buf(),
        folder: folder.path.clone(),
        stat,
        hash,
        format: format.map(|f| f.as_str().to_string()),
        state: if skip.is_some() {
            State::Skipped
        } else {
            State::New
        },
        reason: skip,
        orig_hash: None,
        orig_size: None,
        opt_size: None,
    }
}

type Hashed = (
    PathBuf,
    std::fs::Metadata,
    std::io::Result<(String, Option<Format>)>,
);

/// Hashes files on all cores; order of the result is not meaningful.
fn hash_all(files: Vec<(PathBuf, std::fs::Metadata)>) -> Vec<Hashed> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    if files.len() < 2 || workers < 2 {
        return files
            .into_iter()
            .map(|(p, m)| {
                let c = hash_one(&p);
                (p, m, c)
            })
            .collect();
    }
    let queue = std::sync::Mutex::new(files);
    let out = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some((p, m)) = next else { break };
                let c = hash_one(&p);
                out.lock().expect("result lock").push((p, m, c));
            });
        }
    });
    out.into_inner().expect("result lock")
}

fn hash_one(path: &Path) -> std::io::Result<(String, Option<Format>)> {
    let format = sniff_file(path)?;
    let hash = hash_file(path)?;
    Ok((hash, format))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_are_recognised() {
        for n in [
            ".spa-tmp-abc",
            "a.jpg.part",
            "b.crdownload",
            "~$doc.png",
            "x.TMP",
        ] {
            assert!(is_partial_name(n), "{n}");
        }
        assert!(!is_partial_name("photo.jpg"));
    }
}
