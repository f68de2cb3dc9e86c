//! The scan: walk a folder, stat every file, and bring the ledger up to date. A file whose
//! size, mtime and inode all match the ledger keeps its recorded hash and is not read; only
//! new or changed files are hashed (in parallel). Images are recognised by content.
//!
//! Never followed: symlinks (so nothing outside the folder is touched). Never scanned: the
//! agent's temporary files, files it wrote beside a result (WebP/AVIF), hidden files and
//! folders, NAS housekeeping folders, partial downloads, and the folder's `exclude` globs.

use std::collections::{HashMap, HashSet};
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
    /// Tracked files that are gone, as the ledger had them (their rows are deleted).
    pub forgotten: Vec<FileRow>,
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
    entry.depth() > 0
        && skip_name(
            &entry.file_name().to_string_lossy(),
            entry.file_type().is_dir(),
        )
}

fn skip_name(name: &str, is_dir: bool) -> bool {
    name.starts_with('.')
        || (is_dir && SKIPPED_DIRS.contains(&name))
        || (!is_dir && is_partial_name(name))
}

/// Whether a path below `folder` is never the agent's business: hidden, in a NAS
/// housekeeping folder, a partial download or temp file, or excluded. The watcher uses this
/// to drop events early; the scan applies the same rules while walking.
pub fn ignored(folder: &Folder, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(&folder.path) else {
        return true;
    };
    let n = rel.components().count();
    rel.components().enumerate().any(|(i, c)| {
        let name = c.as_os_str().to_string_lossy();
        // Every component but the last is a folder; the last may be either.
        skip_name(&name, true) || (i + 1 == n && skip_name(&name, false))
    }) || folder.exclude.is_match(rel)
}

/// How a scan treats the agent's own temporary files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftovers {
    /// Leave them: a write of this process may be under way.
    Keep,
    /// Delete them: at start-up, they can only be left by a killed process (G2).
    Remove,
}

/// Walks the whole of `folder`, updates the ledger, and returns every tracked file of it.
pub fn scan_folder(
    ledger: &mut Ledger,
    folder: &Folder,
    leftovers: Leftovers,
) -> Result<ScanReport, LedgerError> {
    let known: HashMap<PathBuf, FileRow> = ledger
        .files_in(&folder.path)?
        .into_iter()
        .map(|r| (r.path.clone(), r))
        .collect();
    let mut walk = Walk::new(folder, known, leftovers);
    walk.tree(ledger, &folder.path)?;
    if walk.entries == 0 && !walk.known.is_empty() && walk.unreadable.is_empty() {
        // An unmounted share looks like an empty folder: forgetting everything (and, in
        // mirror mode, deleting the mirror) on that evidence would be a disaster.
        walk.problems.push(format!(
            "{} looks empty but {} file(s) were tracked there; if it is a network share it may not be mounted. Nothing was forgotten",
            folder.path.display(),
            walk.known.len()
        ));
        walk.unreadable.push(folder.path.clone());
    }
    walk.finish(ledger)
}

/// Brings the ledger up to date for some paths of `folder` only (the daemon's changes): each
/// path may be a file, a folder (walked) or gone (forgotten, with everything below it).
pub fn scan_paths(
    ledger: &mut Ledger,
    folder: &Folder,
    paths: &[PathBuf],
) -> Result<ScanReport, LedgerError> {
    let mut known = HashMap::new();
    for p in paths {
        for r in ledger.files_under(p)? {
            known.insert(r.path.clone(), r);
        }
    }
    let mut walk = Walk::new(folder, known, Leftovers::Keep);
    for p in paths {
        if !ignored(folder, p) || p == &folder.path {
            walk.tree(ledger, p)?;
        }
    }
    walk.finish(ledger)
}

/// One scan in progress: what the ledger knew, what the walk found.
struct Walk<'a> {
    folder: &'a Folder,
    known: HashMap<PathBuf, FileRow>,
    leftovers: Leftovers,
    unchanged: Vec<FileRow>,
    to_hash: Vec<(PathBuf, std::fs::Metadata)>,
    unreadable: Vec<PathBuf>,
    problems: Vec<String>,
    entries: usize,
}

impl<'a> Walk<'a> {
    fn new(folder: &'a Folder, known: HashMap<PathBuf, FileRow>, leftovers: Leftovers) -> Self {
        Walk {
            folder,
            known,
            leftovers,
            unchanged: Vec::new(),
            to_hash: Vec::new(),
            unreadable: Vec::new(),
            problems: Vec::new(),
            entries: 0,
        }
    }

    /// Walks `root` (a file or a folder; a missing one is simply not seen).
    fn tree(&mut self, ledger: &Ledger, root: &Path) -> Result<(), LedgerError> {
        if std::fs::symlink_metadata(root).is_err() {
            return Ok(()); // gone: its rows are forgotten by `finish`
        }
        // One query for the whole walk instead of one per file.
        let extras = ledger.extras_under(root)?;
        let remove_temp = self.leftovers == Leftovers::Remove;
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .into_iter()
            .filter_entry(|e| {
                if remove_temp
                    && e.file_type().is_file()
                    && e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                {
                    // Only a killed run leaves these; the target beside it is intact (G2).
                    let _ = std::fs::remove_file(e.path());
                }
                !skip_entry(e)
            });
        for entry in walker {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    let path = e.path().unwrap_or(root).to_path_buf();
                    self.problems.push(format!(
                        "cannot read {}: {}; files below it are left as they were",
                        path.display(),
                        e.io_error()
                            .map_or_else(|| e.to_string(), |io| io.to_string())
                    ));
                    self.unreadable.push(path);
                    continue;
                }
            };
            if entry.depth() > 0 {
                self.entries += 1;
            }
            if !entry.file_type().is_file() {
                continue;
            }
            let path = entry.path();
            if let Ok(rel) = path.strip_prefix(&self.folder.path) {
                if self.folder.exclude.is_match(rel) {
                    continue;
                }
            }
            if extras.contains(path) {
                continue;
            }
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(_) => continue, // vanished between listing and stat
            };
            let stat = Stat::of(&meta);
            match self.known.get(path) {
                Some(row) if row.stat == stat && !row.hash.is_empty() => {
                    self.unchanged.push(row.clone())
                }
                _ => self.to_hash.push((path.to_path_buf(), meta)),
            }
        }
        Ok(())
    }

    /// Hashes what changed, writes the ledger in one transaction per step, and forgets the
    /// known files the walk did not find (except below folders it could not read).
    fn finish(self, ledger: &mut Ledger) -> Result<ScanReport, LedgerError> {
        let Walk {
            folder,
            known,
            unchanged,
            to_hash,
            unreadable,
            problems,
            ..
        } = self;
        let mut changed: Vec<FileRow> = Vec::new();
        for (path, meta, content) in hash_all(to_hash) {
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
        ledger.upsert_files(&changed)?;
        let seen: HashSet<&Path> = unchanged
            .iter()
            .chain(&changed)
            .map(|r| r.path.as_path())
            .collect();
        let gone: Vec<PathBuf> = known
            .keys()
            .filter(|p| !seen.contains(p.as_path()))
            .filter(|p| !unreadable.iter().any(|u| p.starts_with(u)))
            .cloned()
            .collect();
        let forgotten = ledger.forget(&gone)?;
        let mut report = ScanReport {
            hashed: changed.len(),
            unchanged: unchanged.len(),
            forgotten,
            problems,
            files: unchanged,
        };
        report.files.extend(changed);
        report.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(report)
    }
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
