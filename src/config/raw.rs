//! The TOML shape of the config and [`load_str`], which turns it into a [`Config`] through
//! the small checks in `validate` and `places`. Serde rejects unknown keys; [`toml_error`]
//! names the key and its line, suggests the nearest valid key for a typo, and never echoes a
//! line's value (it may be the API key, G8).
//!
//! Nothing here writes: paths are resolved and looked at, never created.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::places::{self, Place};
use super::validate::{self, Errors};
use super::{default_data_dir, BackendKind, Compression, Config, ConfigError, Convert};
use super::{Mode, Resize, WatchMode, Watching, DEFAULT_MIN_SAVING};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub backend: Option<BackendKind>,
    pub api_key: Option<String>,
    pub api_key_file: Option<PathBuf>,
    pub api_url: Option<String>,
    pub cdn_api_url: Option<String>,
    pub ledger: Option<PathBuf>,
    pub backup_dir: Option<PathBuf>,
    pub concurrency: Option<i64>,
    pub memory_budget: Option<String>,
    pub settle: Option<f64>,
    pub rescan_interval: Option<f64>,
    pub watch_poll_interval: Option<f64>,
    pub min_saving: Option<f64>,
    pub network: Option<RawNetwork>,
    pub dashboard: Option<super::dashboard::RawDashboard>,
    pub limits: Option<super::limits::RawLimits>,
    #[serde(default)]
    pub folder: Vec<RawFolder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNetwork {
    pub timeout_secs: Option<u64>,
    pub retry_base_ms: Option<u64>,
    pub max_retries: Option<u32>,
    pub poll_interval_ms: Option<u64>,
    pub pending_wait_secs: Option<u64>,
    pub credits_wait_secs: Option<u64>,
    pub server_wait_secs: Option<u32>,
    pub max_batch_files: Option<usize>,
    pub max_batch_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFolder {
    pub path: Option<PathBuf>,
    pub mode: Option<Mode>,
    pub output: Option<PathBuf>,
    pub compression: Option<Compression>,
    #[serde(default)]
    pub convert: Vec<Convert>,
    #[serde(default)]
    pub keep_exif: bool,
    pub resize: Option<Resize>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub include: Option<Vec<String>>,
    pub min_size: Option<RawSize>,
    pub min_saving: Option<f64>,
    pub watch: Option<WatchMode>,
    pub public_url: Option<String>,
}

/// A size in bytes (`20480`) or with a unit (`"20KiB"`, `"1MB"`).
#[derive(Deserialize)]
#[serde(untagged)]
pub(super) enum RawSize {
    Bytes(i64),
    Text(String),
}

/// Parses and validates config text. `file` is used for messages and to resolve relative
/// paths; `env_key` is `SHORTPIXEL_API_KEY`, used when the file names no key.
pub fn load_str(file: &Path, text: &str, env_key: Option<String>) -> Result<Config, ConfigError> {
    let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let errors = Errors::new(file);
    let base = base_dir(file);
    let resolve = |p: &Path| base.join(p);

    let api_key = validate::api_key(&errors, raw.api_key, raw.api_key_file, env_key, &resolve)?;
    let backend = validate::backend(&errors, raw.backend, api_key.is_some())?;
    let data = default_data_dir();
    let ledger = raw
        .ledger
        .map_or_else(|| data.join("ledger.db"), |p| resolve(&p));
    let backup_dir = raw
        .backup_dir
        .map_or_else(|| data.join("backups"), |p| resolve(&p));
    let min_saving = validate::min_saving(&errors, "min_saving", raw.min_saving)?;
    let dashboard = super::dashboard::validate(raw.dashboard, &resolve, &|k, m| errors.at(k, m))?;
    let limits = super::limits::validate(raw.limits, &|k, m| errors.at(k, m))?;
    let watching = Watching {
        settle: validate::seconds(&errors, "settle", raw.settle, 3.0, 0.0)?,
        rescan_interval: validate::seconds(
            &errors,
            "rescan_interval",
            raw.rescan_interval,
            3600.0,
            1.0,
        )?,
        poll_interval: validate::seconds(
            &errors,
            "watch_poll_interval",
            raw.watch_poll_interval,
            30.0,
            0.1,
        )?,
    };
    if raw.folder.is_empty() {
        return Err(errors.at(
            "folder",
            "no [[folder]] is configured: add at least one folder to watch",
        ));
    }
    let folders = raw
        .folder
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            validate::folder(
                &errors,
                i,
                f,
                &resolve,
                min_saving.unwrap_or(DEFAULT_MIN_SAVING),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut all = Vec::new();
    for (i, f) in folders.iter().enumerate() {
        all.push(Place::folder(i, &f.path));
        if let Some(out) = &f.output {
            all.push(Place::output(i, out));
        }
    }
    all.push(Place::data("backup_dir", &backup_dir));
    all.push(Place::data("ledger", &ledger));
    places::check(&errors, &all)?;
    Ok(Config {
        file: file.to_path_buf(),
        backend,
        api_url: validate::service_base(
            &errors,
            "api_url",
            raw.api_url,
            "https://api.shortpixel.com",
        )?,
        cdn_api_url: validate::service_base(
            &errors,
            "cdn_api_url",
            raw.cdn_api_url,
            "https://no-cdn.shortpixel.ai",
        )?,
        concurrency: validate::concurrency(&errors, raw.concurrency, backend)?,
        network: validate::network(&errors, raw.network)?,
        api_key,
        ledger,
        backup_dir,
        memory_budget: validate::memory_budget(&errors, raw.memory_budget)?,
        watching,
        folders,
        dashboard,
        limits,
    })
}

/// The folder relative paths in the config resolve against, made absolute.
fn base_dir(file: &Path) -> PathBuf {
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    std::path::absolute(&base).unwrap_or(base)
}

/// Every key the config accepts, for suggestions on a typo.
const KEYS: &[&str] = &[
    "backend",
    "api_key",
    "api_key_file",
    "api_url",
    "cdn_api_url",
    "ledger",
    "backup_dir",
    "concurrency",
    "memory_budget",
    "settle",
    "rescan_interval",
    "watch_poll_interval",
    "min_saving",
    "network",
    "dashboard",
    "limits",
    "folder",
];

/// Turns a TOML/serde error into one that names the key and the line.
fn toml_error(file: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let mut message = e.message().trim().to_string();
    let (line_no, key) = match e.span() {
        Some(span) => {
            let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let line = text.lines().nth(line_no - 1).unwrap_or("");
            // Only the part before '=' is shown: the line itself may hold the API key (G8).
            let key = match line.split_once('=') {
                Some((k, _)) => k.trim().to_string(),
                None => String::new(),
            };
            (Some(line_no), key)
        }
        None => (None, String::new()),
    };
    // For an unknown field, serde's message names it; prefer that over the line's text.
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string);
    if let Some(field) = &unknown {
        if let Some(near) = nearest(field, &expected_keys(&message)) {
            message = format!("{message}; did you mean `{near}`?");
        }
    }
    let key = unknown.unwrap_or(key);
    let key = match line_no {
        Some(n) if !key.is_empty() => format!("{key} (line {n})"),
        Some(n) => format!("line {n}"),
        None => "(syntax)".to_string(),
    };
    ConfigError {
        file: file.to_path_buf(),
        key,
        message,
    }
}

/// The keys serde lists after "expected one of", or the top-level keys.
fn expected_keys(message: &str) -> Vec<String> {
    match message.split_once("expected") {
        Some((_, list)) => list
            .split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect(),
        None => KEYS.iter().map(|k| k.to_string()).collect(),
    }
}

/// The valid key closest to a misspelt one, when it is close enough to be what was meant.
fn nearest(typo: &str, valid: &[String]) -> Option<String> {
    valid
        .iter()
        .map(|k| (strsim::damerau_levenshtein(typo, k), k))
        .filter(|(d, k)| *d <= (k.len() / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("photos")).unwrap();
        let file = dir.path().join("config.toml");
        load_str(&file, text, None)
    }

    #[test]
    fn minimal_config_defaults_to_local_replace_lossy() {
        let c = load("[[folder]]\npath = \"photos\"\n").unwrap();
        assert_eq!(c.backend, BackendKind::Local);
        assert_eq!(c.folders[0].mode, Mode::Replace);
        assert_eq!(c.folders[0].settings.compression, Compression::Lossy);
        assert_eq!(c.folders[0].min_saving, DEFAULT_MIN_SAVING);
        assert_eq!(
            c.concurrency,
            std::thread::available_parallelism().unwrap().get().min(64)
        );
    }

    #[test]
    fn a_key_selects_shortpixel_and_is_never_printed() {
        let c = load("api_key = \"SECRET123\"\n[[folder]]\npath = \"photos\"\n").unwrap();
        assert_eq!(c.backend, BackendKind::Shortpixel);
        assert_eq!(c.concurrency, 8);
        assert!(!format!("{c:?}").contains("SECRET123"));
    }

    #[test]
    fn unknown_key_is_named() {
        let e = load("colour = 1\n[[folder]]\npath = \"photos\"\n").unwrap_err();
        assert!(e.key.starts_with("colour"), "{e}");
    }

    #[test]
    fn a_misspelt_key_suggests_the_nearest_valid_one() {
        let e = load("[[folder]]\npath = \"photos\"\ncompresion = \"lossy\"\n").unwrap_err();
        assert!(e.message.contains("did you mean `compression`?"), "{e}");
        let e = load("concurency = 2\n[[folder]]\npath = \"photos\"\n").unwrap_err();
        assert!(e.message.contains("did you mean `concurrency`?"), "{e}");
        let e = load("[network]\ntimeout_sec = 5\n[[folder]]\npath = \"photos\"\n").unwrap_err();
        assert!(e.message.contains("did you mean `timeout_secs`?"), "{e}");
        // Nothing close: no guess.
        let e = load("colour = 1\n[[folder]]\npath = \"photos\"\n").unwrap_err();
        assert!(!e.message.contains("did you mean"), "{e}");
    }

    #[test]
    fn bad_enum_value_names_its_key() {
        let e = load("[[folder]]\npath = \"photos\"\ncompression = \"best\"\n").unwrap_err();
        assert!(e.key.starts_with("compression"), "{e}");
        assert!(e.to_string().contains("best"), "{e}");
    }

    #[test]
    fn a_line_without_equals_is_not_echoed() {
        let e = load("api_key: \"SECRET123\"\n[[folder]]\npath = \"photos\"\n").unwrap_err();
        assert!(!e.to_string().contains("SECRET123"), "{e}");
    }

    #[test]
    fn service_urls_and_public_url_are_validated_and_named() {
        let c = load("cdn_api_url = \"http://127.0.0.1:9/cdn/\"\n[[folder]]\npath = \"photos\"\npublic_url = \"https://example.com/p\"\n").unwrap();
        assert_eq!(c.cdn_api_url, "http://127.0.0.1:9/cdn");
        let public = c.folders[0].public_url.as_ref().unwrap();
        assert_eq!(public.as_str(), "https://example.com/p/");
        let d = load("[[folder]]\npath = \"photos\"\n").unwrap();
        assert_eq!(d.cdn_api_url, "https://no-cdn.shortpixel.ai");
        assert_eq!(d.folders[0].public_url, None);
        let e = load("cdn_api_url = \"no-cdn.shortpixel.ai\"\n[[folder]]\npath = \"photos\"\n")
            .unwrap_err();
        assert_eq!(e.key, "cdn_api_url");
        let e = load("[[folder]]\npath = \"photos\"\npublic_url = \"ftp://example.com\"\n")
            .unwrap_err();
        assert_eq!(e.key, "folder[0].public_url");
        assert!(e.message.contains("http(s)"), "{e}");
    }

    #[test]
    fn a_missing_folder_is_loaded_so_status_and_restore_work() {
        let c = load("[[folder]]\npath = \"nope\"\n").unwrap();
        assert!(c.folders[0].path.ends_with("nope"));
        assert_eq!(c.missing_folders().len(), 1);
        let e = c.prepare_for_run().unwrap_err();
        assert_eq!(e.0.key, "folder[0].path");
        assert!(e.to_string().contains("not there"), "{e}");
    }

    #[test]
    fn loading_a_mirror_config_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("photos")).unwrap();
        let file = dir.path().join("config.toml");
        let c = load_str(
            &file,
            "[[folder]]\npath = \"photos\"\nmode = \"mirror\"\noutput = \"web/photos\"\n",
            None,
        )
        .unwrap();
        let out = c.folders[0].output.clone().unwrap();
        assert!(!out.exists(), "parsing must not create the output");
        assert_eq!(out, dir.path().canonicalize().unwrap().join("web/photos"));
        c.prepare_for_run().unwrap();
        assert!(out.is_dir(), "run creates it");
    }

    #[test]
    fn profile_changes_with_every_setting() {
        let c = load("[[folder]]\npath = \"photos\"\n").unwrap();
        let mut s = c.folders[0].settings.clone();
        let p1 = s.profile(BackendKind::Local);
        s.convert.push(Convert::Webp);
        let p2 = s.profile(BackendKind::Local);
        s.keep_exif = true;
        let p3 = s.profile(BackendKind::Local);
        assert!(p1 != p2 && p2 != p3 && p1 != s.profile(BackendKind::Shortpixel));
    }
}
