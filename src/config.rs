//! The config file: TOML with the keys fixed by SPEC §2, plus an optional `[network]` table
//! for tuning. Parsing is strict (unknown keys are errors) and every error names the file, the
//! key and what is wrong, because a daemon that silently ignores a misspelt key is worse than
//! one that refuses to start. Relative paths resolve against the config file's folder.
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
    /// Canonical absolute path.
    pub path: PathBuf,
    pub mode: Mode,
    /// Mirror mode only: canonical absolute output root.
    pub output: Option<PathBuf>,
    pub settings: FolderSettings,
    pub exclude: globset::GlobSet,
    pub watch: WatchMode,
    /// Where a web server publishes this folder, for optimizing by URL.
    pub public_url: Option<PublicUrl>,
}

impl Folder {
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
}

/// A config that cannot be used. Displayed as `<file>: <key>: <what is wrong>`.
#[derive(Debug, thiserror::Error)]
#[error("invalid config {}: {key}: {message}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

mod public_url;
mod raw;
pub mod starter;

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
        let env_key = std::env::var("SHORTPIXEL_API_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty());
        load_str(file, &text, env_key)
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
