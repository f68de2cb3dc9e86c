//! The config file: TOML with the keys fixed by SPEC §2, plus an optional `[network]` table
//! for tuning. Parsing is strict (unknown keys are errors, with the nearest valid key
//! suggested) and every error names the file, the key and what is wrong, because a daemon
//! that silently ignores a misspelt key is worse than one that refuses to start. Relative
//! paths resolve against the config file's folder.
//!
//! Loading has no side effects: it reads the file (and `api_key_file`) and looks at paths,
//! but creates nothing, so `check` and `status` never write. What only `run` needs — every
//! folder present (an unmounted share is refused there, not here) and the mirror outputs
//! created — is [`Config::prepare_for_run`].
//!
//! The API key is wrapped in [`ApiKey`], whose `Debug`/`Display` never print it (G8).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Which optimizer does the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    Shortpixel,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Replace,
    Mirror,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    Lossy,
    Glossy,
    Lossless,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Convert {
    Webp,
    Avif,
}

impl Convert {
    /// The name used in the config, in settings profiles and as the extras' kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Convert::Webp => "webp",
            Convert::Avif => "avif",
        }
    }

    pub fn parse(s: &str) -> Option<Convert> {
        [Convert::Webp, Convert::Avif]
            .into_iter()
            .find(|c| c.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    Inner,
    Outer,
}

/// How a folder's changes are noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchMode {
    /// Native events, except on network filesystems, which are polled.
    Auto,
    /// The OS's change events (inotify, FSEvents, ReadDirectoryChangesW).
    Native,
    /// A stat walk every `watch_poll_interval`: works everywhere, costs a walk.
    Poll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resize {
    pub mode: ResizeMode,
    pub width: u32,
    pub height: u32,
}

/// The secret API key. Never printed, never stored in the ledger (G8).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    /// The key itself, for the one place that needs it: the request body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How one folder is optimized. Everything that changes the result is here, so that
/// [`FolderSettings::profile`] can key cached results (G4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSettings {
    pub compression: Compression,
    pub convert: Vec<Convert>,
    pub keep_exif: bool,
    pub resize: Option<Resize>,
}

impl FolderSettings {
    /// A stable string naming everything that shapes a result; the ledger keys results by
    /// (original hash, profile) so changing a setting re-optimizes originals but never our outputs.
    pub fn profile(&self, backend: BackendKind) -> String {
        let backend = match backend {
            BackendKind::Shortpixel => "sp",
            BackendKind::Local => "local",
        };
        let compression = match self.compression {
            Compression::Lossy => "lossy",
            Compression::Glossy => "glossy",
            Compression::Lossless => "lossless",
        };
        let convert: Vec<&str> = self.convert.iter().map(|c| c.as_str()).collect();
        let resize = match self.resize {
            None => "none".to_string(),
            Some(r) => format!("{:?}:{}x{}", r.mode, r.width, r.height).to_lowercase(),
        };
        format!(
            "{backend};{compression};convert={};exif={};resize={resize}",
            convert.join("+"),
            u8::from(self.keep_exif)
        )
    }
}

#[derive(Debug, Clone)]
pub struct Folder {
    /// Absolute path, canonical when the folder exists (a missing one — an unmounted
    /// share — is kept as written, so `status` and `restore` still work).
    pub path: PathBuf,
    pub mode: Mode,
    /// Mirror mode only: absolute output root, canonical as far as it exists (`run` creates
    /// the rest).
    pub output: Option<PathBuf>,
    pub settings: FolderSettings,
    pub exclude: globset::GlobSet,
    /// When set, only files matching one of these globs are taken.
    pub include: Option<globset::GlobSet>,
    /// Files smaller than this (bytes) are not picked up; a tracked file stays tracked
    /// whatever its size, since its own optimization shrinks it.
    pub min_size: u64,
    /// The smallest saving, in percent of the original, worth replacing a file for.
    pub min_saving: f64,
    pub watch: WatchMode,
    /// Where a web server publishes this folder, for optimizing by URL.
    pub public_url: Option<PublicUrl>,
}

impl Folder {
    /// Whether the file at `rel` (relative to the folder) with `size` bytes is the agent's
    /// business: not excluded, included (when `include` is set), and not too small unless
    /// it is already `tracked`.
    pub fn takes(&self, rel: &Path, size: u64, tracked: bool) -> bool {
        // Asked of every file of every scan: an empty set is not asked to match at all.
        (self.exclude.is_empty() || !self.exclude.is_match(rel))
            && self.include.as_ref().is_none_or(|g| g.is_match(rel))
            && (tracked || size >= self.min_size)
    }

    /// Why a result of `optimized` bytes for an original of `original` bytes is not worth
    /// replacing the original for, or `None` when it is (the saving reaches `min_saving`).
    pub fn too_small_a_saving(&self, original: u64, optimized: u64) -> Option<String> {
        let saved = original.saturating_sub(optimized);
        let percent = 100.0 * saved as f64 / original.max(1) as f64;
        (percent < self.min_saving).then(|| {
            format!(
                "already optimal: optimizing would save only {saved} bytes ({percent:.1} %), less than min_saving = {}; the original is kept",
                self.min_saving
            )
        })
    }

    /// Where the result for `path` goes: the file itself (replace) or the same relative path
    /// under `output` (mirror). `None` when `path` is not in this folder.
    pub fn target_of(&self, path: &Path) -> Option<PathBuf> {
        let rel = path.strip_prefix(&self.path).ok()?;
        Some(match (self.mode, &self.output) {
            (Mode::Mirror, Some(out)) => out.join(rel),
            _ => path.to_path_buf(),
        })
    }
}

/// The daemon's timing.
#[derive(Debug, Clone)]
pub struct Watching {
    /// How long a file must be quiet (and its size and mtime stable) before it is taken.
    pub settle: Duration,
    /// How often every folder is reconciled with a stat walk, whatever the events said.
    pub rescan_interval: Duration,
    /// How often folders in poll mode are walked.
    pub poll_interval: Duration,
}

/// Tuning for talking to the service; defaults follow the official SDK's patience.
#[derive(Debug, Clone)]
pub struct Network {
    pub timeout: Duration,
    pub retry_base: Duration,
    pub max_retries: u32,
    pub poll_interval: Duration,
    pub pending_wait: Duration,
    pub credits_wait: Duration,
    pub server_wait_secs: u32,
    pub max_batch_files: usize,
    pub max_batch_bytes: u64,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            timeout: Duration::from_secs(120),
            retry_base: Duration::from_secs(5),
            max_retries: 6,
            poll_interval: Duration::from_secs(5),
            pending_wait: Duration::from_secs(600),
            credits_wait: Duration::from_secs(60),
            server_wait_secs: 20,
            max_batch_files: 10,
            max_batch_bytes: 48 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The file this was read from.
    pub file: PathBuf,
    pub backend: BackendKind,
    pub api_key: Option<ApiKey>,
    pub api_url: String,
    /// Base of the CDN domain API, without a trailing slash.
    pub cdn_api_url: String,
    pub ledger: PathBuf,
    pub backup_dir: PathBuf,
    pub concurrency: usize,
    /// Bytes the built-in optimizer may hold for images at once (see `pipeline::budget`).
    pub memory_budget: u64,
    pub network: Network,
    pub watching: Watching,
    pub folders: Vec<Folder>,
    /// `[dashboard]`: the page and API the daemon serves, if configured.
    pub dashboard: Option<Dashboard>,
    /// `[limits]`: the monthly credit budget, quiet hours, the upload bandwidth.
    pub limits: Limits,
}

/// The smallest saving worth replacing a file for, when the config does not say (percent).
pub const DEFAULT_MIN_SAVING: f64 = 1.0;

/// A config that cannot be used. Displayed as `<file>: <key>: <what is wrong>`.
#[derive(Debug, thiserror::Error)]
#[error("invalid config {}: {key}: {message}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

/// A valid config that `run` cannot work with yet: a folder is missing (an unmounted
/// share), or a mirror output cannot be created. A runtime condition, not a bad config:
/// `run` exits 1, so a service manager tries again later.
#[derive(Debug, thiserror::Error)]
#[error("cannot run with {}: {}: {}", .0.file.display(), .0.key, .0.message)]
pub struct NotReady(pub ConfigError);

/// No config file where the agent looked. Displayed with where it looked and why there.
#[derive(Debug, thiserror::Error)]
#[error("no config file at {} ({looked}); create one with `{init}`", file.display())]
pub struct Missing {
    pub file: PathBuf,
    /// Why that path: "from --config", "from $SHORTPIXEL_AGENT_CONFIG", "the default".
    pub looked: String,
    /// The command that writes one, as the user would type it.
    pub init: String,
}

pub mod dashboard;
pub mod limits;
mod places;
mod public_url;
mod raw;
pub mod starter;
mod validate;

pub use dashboard::Dashboard;
pub use limits::{Limits, QuietHours};
pub use public_url::PublicUrl;
pub use raw::load_str;

impl Config {
    /// Reads and validates `file`. The environment is consulted only for `SHORTPIXEL_API_KEY`.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.to_path_buf(),
            key: "(file)".into(),
            message: format!("cannot read the config file: {e}"),
        })?;
        Config::from_text(file, &text)
    }

    /// Validates `text` as if read from `file` (which need not exist yet), with the key from
    /// `SHORTPIXEL_API_KEY` when the text names none.
    pub fn from_text(file: &Path, text: &str) -> Result<Config, ConfigError> {
        let env_key = std::env::var("SHORTPIXEL_API_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty());
        load_str(file, text, env_key)
    }

    /// The folders that are not there (an unmounted share, a typo): `(index, path)`.
    pub fn missing_folders(&self) -> Vec<(usize, &Path)> {
        self.folders
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.path.is_dir())
            .map(|(i, f)| (i, f.path.as_path()))
            .collect()
    }

    /// What `run` needs beyond a valid config: every folder present — scanning a missing
    /// share would take its files for deleted — and every mirror output created.
    pub fn prepare_for_run(&self) -> Result<(), NotReady> {
        if let Some((i, path)) = self.missing_folders().into_iter().next() {
            return Err(self.error(
                &format!("folder[{i}].path"),
                format!(
                    "{} is not there (an unmounted share or a moved folder?); nothing is done \
                     until it is back: mount it, or remove this [[folder]] from the config",
                    path.display()
                ),
            ));
        }
        for (i, f) in self.folders.iter().enumerate() {
            if let Some(out) = &f.output {
                std::fs::create_dir_all(out).map_err(|e| {
                    self.error(
                        &format!("folder[{i}].output"),
                        format!("cannot create {}: {e}", out.display()),
                    )
                })?;
            }
        }
        Ok(())
    }

    fn error(&self, key: &str, message: String) -> NotReady {
        NotReady(ConfigError {
            file: self.file.clone(),
            key: key.into(),
            message,
        })
    }

    /// The folder that contains `path`, if any.
    pub fn folder_of(&self, path: &Path) -> Option<&Folder> {
        self.folder_index(path).map(|i| &self.folders[i])
    }

    /// The index in `folders` of the folder that contains `path`, if any.
    pub fn folder_index(&self, path: &Path) -> Option<usize> {
        self.folders.iter().position(|f| path.starts_with(&f.path))
    }
}

/// Where the config lives when `--config` is not given: `SHORTPIXEL_AGENT_CONFIG`, else the
/// OS config dir.
pub fn default_config_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SHORTPIXEL_AGENT_CONFIG").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    match project_dirs() {
        Some(dirs) => dirs.config_dir().join("config.toml"),
        None => PathBuf::from("shortpixel-agent.toml"),
    }
}

/// The OS data dir for the ledger and backups when the config does not name them.
pub fn default_data_dir() -> PathBuf {
    match project_dirs() {
        Some(dirs) => dirs.data_dir().to_path_buf(),
        None => PathBuf::from(".shortpixel-agent"),
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "shortpixel-agent")
}
