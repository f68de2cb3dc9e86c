//! G9: the backup store describes itself. Beside the originals (named by hash), the store
//! keeps an append-only journal, `<backup_dir>/journal/*.jsonl`: one JSON line per result
//! put in place (which path, which original hash, which optimized hash, which settings,
//! when) and per restore. With the ledger deleted or corrupt, the journal alone says which
//! files hold optimized bytes and where their originals are (see `recover`).
//!
//! Order is the guarantee: the line for a replace is appended and flushed to disk *before*
//! the file is replaced, just as its original is (G1). A crash can leave a torn last line;
//! readers skip lines they cannot parse. Each process appends to a segment of its own, so
//! no two writers share a file.

use std::fs::File;
use std::io::{BufRead, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::output::IoError;

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The optimized bytes `opt` were put in place (replace) or mirrored (mirror).
    Optimized,
    /// The optimizer could not make `orig` smaller; it was left as it is.
    AlreadyOptimal,
    /// The original was put back; the file holds `orig` and stays as it is (G5).
    Restored,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub event: Event,
    /// The file, as `names::shown` writes it (reversible, so names need not be UTF-8).
    pub path: String,
    /// "replace" or "mirror".
    pub mode: String,
    pub orig: String,
    pub orig_size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_size: Option<u64>,
    pub profile: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Seconds since the epoch.
    pub at: i64,
}

impl Record {
    /// The file's path, if the line holds one this agent could have written.
    pub fn file(&self) -> Option<PathBuf> {
        crate::names::parse_shown(&self.path)
    }
}

/// The journal of one backup store. Cloning shares the open segment.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
    segment: Arc<Mutex<Option<File>>>,
}

impl Journal {
    pub fn new(backup_dir: &Path) -> Journal {
        Journal {
            dir: backup_dir.join("journal"),
            segment: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `r`; with `durable`, flushes it to disk before returning (a replace must not
    /// happen before its line is safe).
    pub fn append(&self, r: &Record, durable: bool) -> Result<(), IoError> {
        let mut line = serde_json::to_vec(r).expect("a record serializes");
        line.push(b'\n');
        let mut seg = self.segment.lock().unwrap_or_else(|p| p.into_inner());
        if seg.is_none() {
            *seg = Some(self.open_segment()?);
        }
        let file = seg.as_mut().expect("just opened");
        file.write_all(&line)
            .map_err(|e| IoError::new("cannot write the backup journal in", &self.dir, e))?;
        if durable {
            file.sync_data()
                .map_err(|e| IoError::new("cannot flush the backup journal in", &self.dir, e))?;
        }
        Ok(())
    }

    /// Flushes what was appended without `durable`.
    pub fn flush(&self) -> Result<(), IoError> {
        let seg = self.segment.lock().unwrap_or_else(|p| p.into_inner());
        match seg.as_ref() {
            Some(f) => f
                .sync_data()
                .map_err(|e| IoError::new("cannot flush the backup journal in", &self.dir, e)),
            None => Ok(()),
        }
    }

    fn open_segment(&self) -> Result<File, IoError> {
        crate::output::private_dir(&self.dir)?;
        let name = format!("{}-{}.jsonl", crate::ledger::now(), std::process::id());
        let path = self.dir.join(name);
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| IoError::new("cannot create the backup journal", &path, e))?;
        crate::output::sync_dir(&self.dir)?;
        Ok(file)
    }

    /// Whether the journal holds anything.
    pub fn is_empty(&self) -> bool {
        self.segments().map(|s| s.is_empty()).unwrap_or(true)
    }

    /// The segment files, oldest first.
    pub fn segments(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut out: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        // Names start with the creation time, so this is oldest first within a second's
        // resolution; within a segment, lines are in order.
        out.sort_by_key(|p| {
            let name = p.file_name().unwrap_or_default().to_string_lossy();
            let t: i64 = name
                .split('-')
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            (t, name.into_owned())
        });
        Ok(out)
    }

    /// Every record, oldest first, handed to `f`; lines that do not parse (a torn last line
    /// after a crash) are skipped. Returns how many were skipped.
    pub fn read(&self, mut f: impl FnMut(Record)) -> Result<usize, IoError> {
        let mut skipped = 0;
        for seg in self
            .segments()
            .map_err(|e| IoError::new("cannot read the backup journal in", &self.dir, e))?
        {
            let file = File::open(&seg)
                .map_err(|e| IoError::new("cannot read the backup journal", &seg, e))?;
            for line in std::io::BufReader::new(file).split(b'\n') {
                let line =
                    line.map_err(|e| IoError::new("cannot read the backup journal", &seg, e))?;
                match serde_json::from_slice::<Record>(&line) {
                    Ok(r) => f(r),
                    Err(_) if line.iter().all(u8::is_ascii_whitespace) => {}
                    Err(_) => skipped += 1,
                }
            }
        }
        Ok(skipped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, orig: &str) -> Record {
        Record {
            event: Event::Optimized,
            path: path.into(),
            mode: "replace".into(),
            orig: orig.into(),
            orig_size: 10,
            opt: Some("o".into()),
            opt_size: Some(5),
            profile: "local;lossy".into(),
            format: Some("jpeg".into()),
            at: 1,
        }
    }

    #[test]
    fn records_come_back_in_order_and_a_torn_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(dir.path());
        assert!(j.is_empty());
        j.append(&record("/p/a.jpg", "1"), true).unwrap();
        j.append(&record("/p/\\xff.jpg", "2"), false).unwrap();
        // A crash mid-append.
        let seg = j.segments().unwrap().remove(0);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&seg)
            .unwrap()
            .write_all(b"{\"event\":\"optim")
            .unwrap();
        let mut seen = Vec::new();
        let skipped = Journal::new(dir.path()).read(|r| seen.push(r)).unwrap();
        assert_eq!(skipped, 1);
        assert_eq!(seen.len(), 2);
        assert_eq!(
            seen[1].file().unwrap(),
            crate::names::from_bytes(b"/p/\xff.jpg".to_vec())
        );
    }
}
