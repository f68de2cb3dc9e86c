//! Helpers shared by every test module: the temp tree and binary runner (`env`), the config
//! builder (`config`), real image fixtures (`images`), blake3 (`blake3`), and small readers
//! for `status --json` and the emulator's request log.
//!
//! Tests assert on what the emulator saw (uploads per content hash, polls, api-status calls)
//! and on bytes on disk, never on timings; anything that must happen "meanwhile" is awaited
//! with `wait_until`, never with a bare sleep.

#![allow(dead_code)] // each test module uses a different subset

pub mod blake3;
pub mod config;
pub mod env;
pub mod images;
pub mod tmpfs;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use shortpixel_emulator::{Emulator, Endpoint, Request};

pub use config::{Config, Folder};
pub use env::{bin, files_under, hash, is_root, read, write_file, Chmod, Outcome, TestEnv};

/// The API key the emulator accepts in most tests.
pub const KEY: &str = "TESTKEY-abc123";

/// Polls `cond` every 20 ms until it holds; fails the test after `timeout`.
#[track_caller]
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The parsed output of `status --json`.
pub struct Status(pub Value);

impl Status {
    /// `totals.<key>` as a number; fails the test if it is missing.
    #[track_caller]
    pub fn total(&self, key: &str) -> u64 {
        self.0["totals"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("status totals.{key} missing or not a number:\n{self}"))
    }

    /// The `folders[]` entry whose `path` is `path` (compared canonically).
    #[track_caller]
    pub fn folder(&self, path: &Path) -> &Value {
        let want = canonical(path);
        self.0["folders"]
            .as_array()
            .and_then(|fs| fs.iter().find(|f| f["path"].as_str() == Some(&want)))
            .unwrap_or_else(|| panic!("no folder {want} in status:\n{self}"))
    }

    /// `(path, reason)` of every entry in `failures`.
    pub fn failures(&self) -> Vec<(String, String)> {
        self.0["failures"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
                        (s("path"), s("reason"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The recorded reason for `path`, if `failures` lists it.
    pub fn reason_for(&self, path: &Path) -> Option<String> {
        let want = canonical(path);
        self.failures()
            .into_iter()
            .find(|(p, _)| *p == want)
            .map(|(_, r)| r)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

/// An absolute canonical path as a string (the form `status` reports paths in).
pub fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Requests that carried at least one uploaded file.
pub fn upload_requests(emu: &Emulator) -> Vec<Request> {
    emu.requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Upload && !r.files.is_empty())
        .collect()
}

/// How many requests hit `endpoint`, faulted or not.
pub fn count(emu: &Emulator, endpoint: Endpoint) -> usize {
    emu.requests()
        .iter()
        .filter(|r| r.endpoint == endpoint)
        .count()
}

/// A request log fit for a failure message: endpoint, file count, reply codes, fault.
pub fn log_summary(emu: &Emulator) -> String {
    emu.requests()
        .iter()
        .map(|r| {
            format!(
                "{:?} files={} urls={} codes={:?} http={} fault={:?}\n",
                r.endpoint,
                r.files.len(),
                r.urls.len(),
                r.codes,
                r.http_status,
                r.fault
            )
        })
        .collect()
}

/// Asserts that the file at `path` still has content `hash`.
#[track_caller]
pub fn assert_untouched(path: &Path, original_hash: &str) {
    assert_eq!(
        hash(path),
        original_hash,
        "{} must keep its original bytes",
        path.display()
    );
}

/// Asserts that `path` was optimized in place: smaller than `original_size`, decodes with
/// the same format and dimensions, and its original is in the backup store.
#[track_caller]
pub fn assert_optimized_in_place(env: &TestEnv, path: &Path, original: &[u8]) {
    let now = read(path);
    assert!(
        now.len() < original.len(),
        "{} should be smaller than its original ({} >= {} bytes)",
        path.display(),
        now.len(),
        original.len()
    );
    let before = images::decode_bytes(original).expect("original decodes");
    assert_eq!(
        images::decode_bytes(&now),
        Ok(before),
        "{} should decode with the original's format and size",
        path.display()
    );
    let backup = env.backup_of(&blake3::hex(original));
    assert_eq!(
        std::fs::read(&backup).ok().as_deref(),
        Some(original),
        "backup {} should hold the original bytes of {}",
        backup.display(),
        path.display()
    );
}

/// A name the agent's own temporary files carry (see `output::temp_name`): the keyed hash
/// of the nonce marks it, so a killed run's leftovers can be told from a user's files.
pub fn own_temp_name(nonce: &str) -> String {
    let mark = ::blake3::keyed_hash(b"shortpixel-agent temp file mark1", nonce.as_bytes());
    format!(".spa-tmp-{nonce}-{}", &mark.to_hex()[..16])
}
