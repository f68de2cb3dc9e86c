//! The scan: walk a folder, stat every file, and bring the ledger up to date. A file whose
//! size, mtime and inode all match the ledger keeps its recorded hash and is not read; only
//! new or changed files are hashed (in parallel). Images are recognised by content.
//!
//! Never followed: symlinks (so nothing outside the folder is touched). Never scanned: the
//! agent's temporary files, files it wrote beside a result (WebP/AVIF), hidden files and
//! folders, NAS housekeeping folders, partial downloads, the folder's `exclude` globs, and
//! files its `include` globs or `min_size` leave out.

mod ahead;

use std::path::{Path, PathBuf};

use crate::config::{Folder, Mode};
use crate::content::{inspect, Format};
use crate::ledger::{FileRow, Ledger, LedgerError, Stat, State, Tracked};
use crate::output::TEMP_PREFIX;

/// What a scan of one folder found. The files that may need work are in the ledger, not
/// here: the caller reads them below [`ScanReport::roots`] page by page, so a scan's memory
/// is bounded by what changed at once, not by the size of the folder.
#[derive(Debug, Default)]
pub struct ScanReport {
    /// What was walked: the folder, or the paths the daemon saw change.
    pub roots: Vec<PathBuf>,
    /// Folders that could not be read: their rows are neither forgotten nor worked on.
    pub unreadable: Vec<PathBuf>,
    pub hashed: usize,
    /// Of those, new contents the scan itself recorded as skipped (not images): the run's
    /// summary counts them with what processing skipped.
    pub skipped: usize,
    pub unchanged: usize,
    /// Tracked files that are gone, as the ledger had them (their rows are deleted).
    pub forgotten: Vec<FileRow>,
    /// Things the user should know: unreadable folders and the like.
    pub problems: Vec<String>,
    /// Files that changed while they were read (still being written): not recorded, to be
    /// looked at again once they are quiet.
    pub changing: Vec<PathBuf>,
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
            .any(|s| ends_with_ignoring_case(name, s))
}

/// Asked of every file in every scan: no allocation.
fn ends_with_ignoring_case(name: &str, suffix: &str) -> bool {
    name.len() >= suffix.len()
        && name.as_bytes()[name.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
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
    let Some(rel) = crate::names::below(path, &folder.path) else {
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

/// Walks the whole of `folder`, updates the ledger, and returns the tracked files of it that
/// may need work.
pub fn scan_folder(
    ledger: &mut Ledger,
    folder: &Folder,
    leftovers: Leftovers,
) -> Result<ScanReport, LedgerError> {
    let mut walk = Walk::new(folder, leftovers);
    walk.tree(ledger, &folder.path)?;
    walk.roots.push(folder.path.clone());
    if walk.entries == 0 && walk.known > 0 && walk.unreadable.is_empty() {
        // An unmounted share looks like an empty folder: forgetting everything (and, in
        // mirror mode, deleting the mirror) on that evidence would be a disaster.
        walk.problems.push(format!(
            "{} looks empty but {} file(s) were tracked there; if it is a network share it may not be mounted. Nothing was forgotten",
            folder.path.display(),
            walk.known
        ));
        walk.gone.clear();
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
    // A path below another one in the list is walked with it, not twice.
    let mut roots: Vec<&PathBuf> = paths.iter().collect();
    roots.sort();
    roots.dedup();
    let mut kept: Vec<&PathBuf> = Vec::with_capacity(roots.len());
    for p in roots {
        if !kept.last().is_some_and(|k| p.starts_with(k)) {
            kept.push(p);
        }
    }
    let mut walk = Walk::new(folder, Leftovers::Keep);
    for p in kept {
        if !ignored(folder, p) || p == &folder.path {
            walk.tree(ledger, p)?;
            walk.roots.push(p.clone());
        }
    }
    walk.finish(ledger)
}

/// Rows fetched from the ledger per query while walking: the scan's memory is bounded by
/// this and by what changed, not by the size of the folder.
const PAGE: usize = 2048;

/// The ledger's paths at or below a root, read page by page in path order, alongside a
/// walk that visits the tree in the same order.
struct Ordered<T> {
    page: std::collections::VecDeque<T>,
    last: Vec<u8>,
    done: bool,
}

/// What the ledger orders its paths by: their bytes (G10).
trait Keyed {
    fn key(&self) -> &[u8];
}

impl Keyed for Tracked {
    fn key(&self) -> &[u8] {
        &self.path
    }
}

impl Keyed for Vec<u8> {
    fn key(&self) -> &[u8] {
        self
    }
}

impl<T: Keyed> Ordered<T> {
    fn new() -> Self {
        Ordered {
            page: Default::default(),
            last: Vec::new(),
            done: false,
        }
    }

    /// The next item, fetching the next page when this one is used up.
    fn front(
        &mut self,
        fetch: impl Fn(&[u8]) -> Result<Vec<T>, LedgerError>,
    ) -> Result<Option<&T>, LedgerError> {
        if self.page.is_empty() && !self.done {
            let page = fetch(&self.last)?;
            self.done = page.len() < PAGE;
            if let Some(l) = page.last() {
                self.last = l.key().to_vec();
            }
            self.page = page.into();
        }
        Ok(self.page.front())
    }

    /// Takes the next item if its key is below `bound` (any item when there is no bound).
    fn pop_before(
        &mut self,
        bound: Option<&[u8]>,
        fetch: impl Fn(&[u8]) -> Result<Vec<T>, LedgerError>,
    ) -> Result<Option<T>, LedgerError> {
        let take = match self.front(fetch)? {
            Some(t) => bound.is_none_or(|b| t.key() < b),
            None => false,
        };
        Ok(if take { self.page.pop_front() } else { None })
    }

    /// Takes the next item if its key is `k`.
    fn pop_eq(
        &mut self,
        k: &[u8],
        fetch: impl Fn(&[u8]) -> Result<Vec<T>, LedgerError>,
    ) -> Result<Option<T>, LedgerError> {
        let take = self.front(fetch)?.is_some_and(|t| t.key() == k);
        Ok(if take { self.page.pop_front() } else { None })
    }
}

/// One entry of a folder, with the key that orders it among its siblings the way the
/// ledger orders paths (byte order, a folder's contents after "name/"), so that a
/// depth-first walk meets paths in ascending order.
struct Child {
    key: Vec<u8>,
    entry: std::fs::DirEntry,
    is_dir: bool,
}

/// A folder's entries that the scan looks at, in ledger order; hidden, housekeeping and
/// partial files are left out (and, with `remove_temp`, the agent's own leftovers deleted).
fn children(dir: &Path, remove_temp: bool) -> std::io::Result<Vec<Child>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Ok(kind) = entry.file_type() else {
            continue; // vanished
        };
        let raw = entry.file_name();
        if remove_temp && kind.is_file() && crate::output::is_own_temp(&raw) {
            // Only a killed run leaves these; the target beside it is intact (G2). A user's
            // file that only looks like one (no mark) is left alone.
            let _ = std::fs::remove_file(entry.path());
            continue;
        }
        if skip_name(&raw.to_string_lossy(), kind.is_dir()) {
            continue;
        }
        // The name's own bytes, not a lossy text form: that would order (and match) names
        // that are not UTF-8 wrongly (G10).
        let mut key = std::os::unix::ffi::OsStringExt::into_vec(raw);
        if kind.is_dir() {
            key.push(b'/');
        }
        out.push(Child {
            key,
            entry,
            is_dir: kind.is_dir(),
        });
    }
    out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

/// The ledger's side of one walked root: its file rows and its extras, in path order.
struct Merge<'l> {
    ledger: &'l Ledger,
    root: &'l Path,
    rows: Ordered<Tracked>,
    /// The rows' pages read ahead (a folder's walk), or `None` to read them on demand.
    ahead: Option<ahead::Ahead>,
    extras: Ordered<Vec<u8>>,
}

impl Merge<'_> {
    /// The next row the walk has passed without meeting its path: below `key`, or any row
    /// left once the walk is over (`None`).
    fn passed(&mut self, key: Option<&[u8]>) -> Result<Option<Tracked>, LedgerError> {
        let (ledger, root, ahead) = (self.ledger, self.root, &self.ahead);
        self.rows.pop_before(key, |after| match ahead {
            Some(a) => a.next(),
            None => ledger.tracked_under_page(root, after, PAGE),
        })
    }

    /// The row of the path `key`, once the rows before it are passed.
    fn row_at(&mut self, key: &[u8]) -> Result<Option<Tracked>, LedgerError> {
        let (ledger, root, ahead) = (self.ledger, self.root, &self.ahead);
        self.rows.pop_eq(key, |after| match ahead {
            Some(a) => a.next(),
            None => ledger.tracked_under_page(root, after, PAGE),
        })
    }

    /// Whether `key` is a file the agent wrote beside a result (never an input).
    fn is_extra(&mut self, key: &[u8]) -> Result<bool, LedgerError> {
        let (ledger, root) = (self.ledger, self.root);
        let fetch = |after: &[u8]| ledger.extras_under_page(root, after, PAGE);
        while self.extras.pop_before(Some(key), fetch)?.is_some() {}
        Ok(self.extras.pop_eq(key, fetch)?.is_some())
    }
}

/// New or changed files hashed and recorded together, in one transaction: the walk never
/// holds more than this many waiting.
const HASH_CHUNK: usize = 1024;

/// One scan in progress: the walk of the tree merged with the ledger's rows of it.
struct Walk<'a> {
    folder: &'a Folder,
    leftovers: Leftovers,
    roots: Vec<PathBuf>,
    unchanged: usize,
    hashed: usize,
    /// New contents recorded as skipped (not images).
    skipped: usize,
    /// New or changed files, with what the ledger knew of the path: hashed and recorded
    /// every [`HASH_CHUNK`].
    to_hash: Vec<(PathBuf, std::fs::Metadata, Option<FileRow>)>,
    /// Files that changed while they were read.
    changing: Vec<PathBuf>,
    /// Tracked paths the walk did not find.
    gone: Vec<PathBuf>,
    unreadable: Vec<PathBuf>,
    problems: Vec<String>,
    entries: usize,
    /// Tracked files at or below the walked roots.
    known: usize,
}

impl<'a> Walk<'a> {
    fn new(folder: &'a Folder, leftovers: Leftovers) -> Self {
        Walk {
            folder,
            leftovers,
            roots: Vec::new(),
            unchanged: 0,
            hashed: 0,
            skipped: 0,
            to_hash: Vec::new(),
            changing: Vec::new(),
            gone: Vec::new(),
            unreadable: Vec::new(),
            problems: Vec::new(),
            entries: 0,
            known: 0,
        }
    }

    /// A tracked file the walk passed without finding: gone, unless it is below a folder
    /// that could not be read.
    fn unseen(&mut self, row: Tracked) {
        let path = crate::names::from_bytes(row.path);
        if !self.unreadable.iter().any(|u| path.starts_with(u)) {
            self.gone.push(path);
        }
    }

    /// Walks `root` (a file or a folder; a missing one is simply not seen, so its rows are
    /// forgotten).
    fn tree(&mut self, ledger: &Ledger, root: &Path) -> Result<(), LedgerError> {
        let mut m = Merge {
            ledger,
            root,
            rows: Ordered::new(),
            ahead: None,
            extras: Ordered::new(),
        };
        // Links are never followed. A configured folder that is a link (a NAS share linked
        // into place) arrives here already resolved: the config canonicalizes it.
        match std::fs::symlink_metadata(root) {
            Ok(meta) if meta.is_dir() => {
                m.ahead = ledger
                    .location()
                    .and_then(|file| ahead::Ahead::start(&file, root, PAGE));
                self.walk_folder(&mut m, root)?
            }
            Ok(meta) if meta.is_file() => self.file(&mut m, root, Ok(meta))?,
            _ => {}
        }
        while let Some(r) = m.passed(None)? {
            self.known += 1;
            self.unseen(r);
        }
        Ok(())
    }

    /// Walks one folder, depth first, its entries in ledger order.
    fn walk_folder(&mut self, m: &mut Merge<'_>, dir: &Path) -> Result<(), LedgerError> {
        let remove_temp = self.leftovers == Leftovers::Remove;
        let entries = match children(dir, remove_temp) {
            Ok(c) => c,
            Err(e) => {
                self.problems.push(format!(
                    "cannot read {}: {e}; files below it are left as they were",
                    dir.display()
                ));
                self.unreadable.push(dir.to_path_buf());
                return Ok(());
            }
        };
        for child in entries {
            self.entries += 1;
            let path = child.entry.path();
            if child.is_dir {
                self.walk_folder(m, &path)?;
            } else if child.entry.file_type().is_ok_and(|t| t.is_file()) {
                // Stat relative to the open folder, not by the whole path again.
                let meta = child.entry.metadata();
                self.file(m, &path, meta)?;
            }
        }
        Ok(())
    }

    /// One regular file met by the walk: pairs it with its ledger row, if any.
    fn file(
        &mut self,
        m: &mut Merge<'_>,
        path: &Path,
        meta: std::io::Result<std::fs::Metadata>,
    ) -> Result<(), LedgerError> {
        let key = crate::names::bytes(path);
        while let Some(r) = m.passed(Some(key))? {
            self.known += 1;
            self.unseen(r);
        }
        let row = m.row_at(key)?;
        if row.is_some() {
            self.known += 1;
        }
        let is_extra = m.is_extra(key)?;
        // Excluded, not included, or too small to be worth it (unless already tracked).
        let taken = |m: &std::fs::Metadata| {
            crate::names::below(path, &self.folder.path)
                .is_some_and(|rel| self.folder.takes(rel, m.len(), row.is_some()))
        };
        let meta = match meta {
            Ok(m) if !is_extra && taken(&m) => m,
            // Not taken, the agent's own extra, or vanished between listing and stat.
            _ => {
                if let Some(r) = row {
                    self.unseen(r);
                }
                return Ok(());
            }
        };
        let stat = Stat::of(&meta);
        match row {
            Some(r) if r.stat == stat && r.hashed => self.unchanged += 1,
            Some(_) => {
                let previous = m.ledger.file(path)?;
                self.to_hash.push((path.to_path_buf(), meta, previous))
            }
            None => self.to_hash.push((path.to_path_buf(), meta, None)),
        }
        if self.to_hash.len() >= HASH_CHUNK {
            self.record(m.ledger)?;
        }
        Ok(())
    }

    /// Hashes the new or changed files waiting and records them in one transaction.
    fn record(&mut self, ledger: &Ledger) -> Result<(), LedgerError> {
        let folder = self.folder;
        let mut changed: Vec<FileRow> = Vec::new();
        for (path, meta, content, previous) in hash_all(std::mem::take(&mut self.to_hash)) {
            let stat = Stat::of(&meta);
            let row = match content {
                Ok(None) => {
                    self.changing.push(path);
                    continue;
                }
                Ok(Some((hash, format))) => {
                    if format.is_none() && !has_image_extension(&path) {
                        continue; // not an image and not pretending to be one: not ours to track
                    }
                    match previous {
                        // Same bytes under a new stat (touched, copied back): keep what we knew.
                        Some(prev) if prev.hash == hash => FileRow { stat, ..prev },
                        _ => {
                            let row = new_row(folder, &path, stat, hash, format, &meta);
                            self.skipped += usize::from(row.state == State::Skipped);
                            row
                        }
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
        self.hashed += changed.len();

        Ok(())
    }

    /// Records what is still waiting and forgets the tracked files the walk did not find.
    fn finish(mut self, ledger: &mut Ledger) -> Result<ScanReport, LedgerError> {
        self.record(ledger)?;
        let forgotten = ledger.forget(&self.gone)?;
        Ok(ScanReport {
            roots: self.roots,
            unreadable: self.unreadable,
            hashed: self.hashed,
            skipped: self.skipped,
            unchanged: self.unchanged,
            forgotten,
            problems: self.problems,
            changing: self.changing,
        })
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
    let state = match skip {
        Some(_) => State::Skipped,
        None => State::New,
    };
    let format = format.map(|f| f.as_str().to_string());
    FileRow {
        reason: skip,
        ..FileRow::seen(
            path.to_path_buf(),
            folder.path.clone(),
            stat,
            hash,
            format,
            state,
        )
    }
}

type Hashed = (
    PathBuf,
    std::fs::Metadata,
    std::io::Result<Option<(String, Option<Format>)>>,
    Option<FileRow>,
);

/// Hashes files on all cores; order of the result is not meaningful.
fn hash_all(files: Vec<(PathBuf, std::fs::Metadata, Option<FileRow>)>) -> Vec<Hashed> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(8);
    if files.len() < 2 || workers < 2 {
        return files
            .into_iter()
            .map(|(p, m, r)| {
                let c = hash_one(&p, &m);
                (p, m, c, r)
            })
            .collect();
    }
    let queue = std::sync::Mutex::new(files);
    let out = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let next = queue.lock().expect("queue lock").pop();
                let Some((p, m, r)) = next else { break };
                let c = hash_one(&p, &m);
                out.lock().expect("result lock").push((p, m, c, r));
            });
        }
    });
    out.into_inner().expect("result lock")
}

/// The hash and format of a file the walk stat'ed as `seen`; `None` when it no longer has
/// that stat once read (or is gone). The hash may then be of bytes the stat never saw (a copy in
/// progress): a row pairing the two would misdescribe the file, and the upload's size check
/// would take it for a damaged transfer and send it again.
fn hash_one(
    path: &Path,
    seen: &std::fs::Metadata,
) -> std::io::Result<Option<(String, Option<Format>)>> {
    let (hash, format, opened) = inspect(path)?;
    // The descriptor read must be the file the walk saw (not a file swapped in since), and
    // the path must still hold it, unchanged, once read.
    let after = std::fs::symlink_metadata(path).ok().map(|m| Stat::of(&m));
    let seen = Stat::of(seen);
    Ok((Stat::of(&opened) == seen && after == Some(seen)).then_some((hash, format)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(root: &Path) -> Folder {
        Folder {
            path: root.to_path_buf(),
            mode: Mode::Replace,
            output: None,
            settings: crate::config::FolderSettings {
                compression: crate::config::Compression::Lossy,
                convert: vec![],
                keep_exif: false,
                resize: None,
            },
            exclude: globset::GlobSet::empty(),
            include: None,
            min_size: 0,
            min_saving: crate::config::DEFAULT_MIN_SAVING,
            watch: crate::config::WatchMode::Auto,
            public_url: None,
        }
    }

    /// A rescan over several pages of rows (read ahead on a second connection) meets each
    /// tracked file once: unchanged ones stay, gone ones are forgotten, new and changed
    /// ones are hashed.
    #[test]
    fn a_rescan_across_many_pages_merges_every_row_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        let jpeg = [0xFF, 0xD8, 0xFF, 0xE0];
        let n = 2 * PAGE + 900;
        let path = |i: usize| root.join(format!("d{}/f{i:05}.jpg", i % 3));
        for d in 0..3 {
            std::fs::create_dir_all(root.join(format!("d{d}"))).unwrap();
        }
        for i in 0..n {
            std::fs::write(path(i), jpeg).unwrap();
        }
        let folder = folder(&root);
        let mut ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        let first = scan_folder(&mut ledger, &folder, Leftovers::Keep).unwrap();
        assert_eq!((first.hashed, first.unchanged), (n, 0));

        let gone = [0, 1, PAGE - 1, PAGE, PAGE + 1, 2 * PAGE, n - 1];
        for i in gone {
            std::fs::remove_file(path(i)).unwrap();
        }
        std::fs::write(path(PAGE + 7), [0xFF, 0xD8, 0xFF, 0xE0, 9]).unwrap();
        for i in n..n + 5 {
            std::fs::write(path(i), jpeg).unwrap();
        }
        let again = scan_folder(&mut ledger, &folder, Leftovers::Keep).unwrap();
        let mut forgotten: Vec<PathBuf> = again.forgotten.iter().map(|r| r.path.clone()).collect();
        forgotten.sort();
        let mut want: Vec<PathBuf> = gone.iter().map(|&i| path(i)).collect();
        want.sort();
        assert_eq!(forgotten, want);
        assert_eq!(again.hashed, 6, "five new files and one changed");
        assert_eq!(again.unchanged, n - gone.len() - 1);
    }

    /// A file that grows while it is hashed (a copy in progress) must not be recorded with
    /// the stat from before and the hash from after: that row would carry a wrong size.
    #[test]
    fn a_file_changing_while_hashed_is_deferred_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("photos");
        std::fs::create_dir_all(&root).unwrap();
        let file = root.join("a.jpg");
        std::fs::write(&file, [0xFF, 0xD8, 0xFF, 0xE0]).unwrap();
        let before = std::fs::metadata(&file).unwrap();
        std::fs::write(&file, [0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4, 5, 6]).unwrap();
        let folder = folder(&root);
        let mut ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
        let mut walk = Walk::new(&folder, Leftovers::Keep);
        walk.to_hash.push((file.clone(), before, None));
        let report = walk.finish(&mut ledger).unwrap();
        assert_eq!(report.changing, vec![file.clone()]);
        assert_eq!(report.hashed, 0);
        assert!(ledger.file(&file).unwrap().is_none(), "nothing recorded");

        // Once quiet, the same file is recorded with the stat that matches its bytes.
        let report = scan_folder(&mut ledger, &folder, Leftovers::Keep).unwrap();
        assert!(report.changing.is_empty());
        assert_eq!(ledger.file(&file).unwrap().unwrap().stat.size, 10);
    }

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
