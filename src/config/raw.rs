//! The TOML shape of the config and its validation into [`Config`]. Serde rejects unknown
//! keys; everything serde cannot check (paths exist, mirror has an output that does not
//! overlap its source, numbers in range) is checked here, with the key named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::{
    default_data_dir, ApiKey, BackendKind, Compression, Config, ConfigError, Convert, Folder,
    FolderSettings, Mode, Network, PublicUrl, Resize, WatchMode, Watching,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    backend: Option<BackendKind>,
    api_key: Option<String>,
    api_key_file: Option<PathBuf>,
    api_url: Option<String>,
    cdn_api_url: Option<String>,
    ledger: Option<PathBuf>,
    backup_dir: Option<PathBuf>,
    concurrency: Option<i64>,
    memory_budget: Option<String>,
    settle: Option<f64>,
    rescan_interval: Option<f64>,
    watch_poll_interval: Option<f64>,
    network: Option<RawNetwork>,
    #[serde(default)]
    folder: Vec<RawFolder>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    timeout_secs: Option<u64>,
    retry_base_ms: Option<u64>,
    max_retries: Option<u32>,
    poll_interval_ms: Option<u64>,
    pending_wait_secs: Option<u64>,
    credits_wait_secs: Option<u64>,
    server_wait_secs: Option<u32>,
    max_batch_files: Option<usize>,
    max_batch_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFolder {
    path: Option<PathBuf>,
    mode: Option<Mode>,
    output: Option<PathBuf>,
    compression: Option<Compression>,
    #[serde(default)]
    convert: Vec<Convert>,
    #[serde(default)]
    keep_exif: bool,
    resize: Option<Resize>,
    #[serde(default)]
    exclude: Vec<String>,
    watch: Option<WatchMode>,
    public_url: Option<String>,
}

/// Parses and validates config text. `file` is used for messages and to resolve relative
/// paths; `env_key` is `SHORTPIXEL_API_KEY`, used when the file names no key.
pub fn load_str(file: &Path, text: &str, env_key: Option<String>) -> Result<Config, ConfigError> {
    let err = |key: &str, message: String| ConfigError {
        file: file.to_path_buf(),
        key: key.to_string(),
        message,
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let base = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = std::path::absolute(&base).unwrap_or(base);
    let resolve = |p: &Path| base.join(p);

    let api_key = match (raw.api_key, raw.api_key_file) {
        (Some(_), Some(_)) => {
            return Err(err(
                "api_key_file",
                "set either api_key or api_key_file, not both".into(),
            ))
        }
        (Some(k), None) if k.trim().is_empty() => {
            return Err(err(
                "api_key",
                "is empty; remove the line to use the built-in optimizer".into(),
            ))
        }
        (Some(k), None) => Some(ApiKey::new(k.trim())),
        (None, Some(f)) => {
            let path = resolve(&f);
            let k = std::fs::read_to_string(&path).map_err(|e| {
                err(
                    "api_key_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            if k.trim().is_empty() {
                return Err(err("api_key_file", format!("{} is empty", path.display())));
            }
            Some(ApiKey::new(k.trim()))
        }
        (None, None) => env_key.map(|k| ApiKey::new(k.trim())),
    };
    let backend = match (raw.backend, &api_key) {
        (Some(BackendKind::Shortpixel), None) => {
            return Err(err(
                "backend",
                "\"shortpixel\" needs an API key: set api_key, api_key_file or SHORTPIXEL_API_KEY, or use backend = \"local\"".into(),
            ))
        }
        (Some(b), _) => b,
        (None, Some(_)) => BackendKind::Shortpixel,
        (None, None) => BackendKind::Local,
    };
    let api_url =
        service_base(raw.api_url, "https://api.shortpixel.com").map_err(|m| err("api_url", m))?;
    let cdn_api_url = service_base(raw.cdn_api_url, "https://no-cdn.shortpixel.ai")
        .map_err(|m| err("cdn_api_url", m))?;
    let concurrency = match raw.concurrency {
        None => default_concurrency(backend),
        Some(n @ 1..=64) => n as usize,
        Some(n) => return Err(err("concurrency", format!("{n} is out of range (1 to 64)"))),
    };
    let memory_budget = match raw.memory_budget {
        None => crate::pipeline::budget::default_budget(),
        Some(s) => match crate::backup::prune::parse_size(&s) {
            Ok(n) if n >= 16 << 20 => n,
            Ok(_) => {
                return Err(err(
                    "memory_budget",
                    format!("{s:?} is too small: the built-in optimizer needs at least 16MiB"),
                ))
            }
            Err(e) => return Err(err("memory_budget", e)),
        },
    };
    let data = default_data_dir();
    let ledger = raw
        .ledger
        .map(|p| resolve(&p))
        .unwrap_or_else(|| data.join("ledger.db"));
    let backup_dir = raw
        .backup_dir
        .map(|p| resolve(&p))
        .unwrap_or_else(|| data.join("backups"));
    let network = network(raw.network, &err)?;
    let seconds = |key: &str, v: Option<f64>, default: f64, min: f64| match v {
        None => Ok(Duration::from_secs_f64(default)),
        Some(v) if v.is_finite() && (min..=86_400.0 * 7.0).contains(&v) => {
            Ok(Duration::from_secs_f64(v))
        }
        Some(v) => Err(err(
            key,
            format!("{v} is out of range ({min} to 604800 seconds)"),
        )),
    };
    let watching = Watching {
        settle: seconds("settle", raw.settle, 3.0, 0.0)?,
        rescan_interval: seconds("rescan_interval", raw.rescan_interval, 3600.0, 1.0)?,
        poll_interval: seconds("watch_poll_interval", raw.watch_poll_interval, 30.0, 0.1)?,
    };

    if raw.folder.is_empty() {
        return Err(err(
            "folder",
            "no [[folder]] is configured: add at least one folder to watch".into(),
        ));
    }
    let mut folders: Vec<Folder> = Vec::new();
    for (i, f) in raw.folder.into_iter().enumerate() {
        let key = |k: &str| format!("folder[{i}].{k}");
        let path = f
            .path
            .ok_or_else(|| err(&key("path"), "is missing".into()))?;
        let path = resolve(&path);
        let path = path.canonicalize().map_err(|e| {
            err(
                &key("path"),
                format!("{} cannot be opened: {e}", path.display()),
            )
        })?;
        if !path.is_dir() {
            return Err(err(
                &key("path"),
                format!("{} is not a folder", path.display()),
            ));
        }
        let mode = f.mode.unwrap_or(Mode::Replace);
        let output = match (mode, f.output) {
            (Mode::Replace, Some(_)) => {
                return Err(err(
                    &key("output"),
                    "is only used with mode = \"mirror\"".into(),
                ))
            }
            (Mode::Replace, None) => None,
            (Mode::Mirror, None) => {
                return Err(err(
                    &key("output"),
                    "is required with mode = \"mirror\"".into(),
                ))
            }
            (Mode::Mirror, Some(o)) => {
                let o = resolve(&o);
                std::fs::create_dir_all(&o).map_err(|e| {
                    err(
                        &key("output"),
                        format!("cannot create {}: {e}", o.display()),
                    )
                })?;
                let o = o.canonicalize().map_err(|e| {
                    err(
                        &key("output"),
                        format!("{} cannot be opened: {e}", o.display()),
                    )
                })?;
                if o.starts_with(&path) || path.starts_with(&o) {
                    return Err(err(
                        &key("output"),
                        format!(
                            "{} overlaps the folder {}; the mirror must be outside it",
                            o.display(),
                            path.display()
                        ),
                    ));
                }
                Some(o)
            }
        };
        if let Some(other) = folders
            .iter()
            .find(|o| o.path.starts_with(&path) || path.starts_with(&o.path))
        {
            return Err(err(
                &key("path"),
                format!(
                    "{} overlaps another folder ({})",
                    path.display(),
                    other.path.display()
                ),
            ));
        }
        if let Some(r) = f.resize {
            if r.width == 0 || r.height == 0 {
                return Err(err(
                    &key("resize"),
                    "width and height must be greater than 0".into(),
                ));
            }
        }
        let mut convert = f.convert;
        convert.sort();
        convert.dedup();
        let mut globs = globset::GlobSetBuilder::new();
        for g in &f.exclude {
            let glob = globset::GlobBuilder::new(g)
                .literal_separator(true)
                .build()
                .map_err(|e| err(&key("exclude"), format!("{g:?} is not a valid glob: {e}")))?;
            globs.add(glob);
        }
        let exclude = globs
            .build()
            .map_err(|e| err(&key("exclude"), e.to_string()))?;
        let public_url = f
            .public_url
            .map(|u| PublicUrl::parse(&u))
            .transpose()
            .map_err(|m| err(&key("public_url"), m))?;
        folders.push(Folder {
            path,
            mode,
            output,
            settings: FolderSettings {
                compression: f.compression.unwrap_or(Compression::Lossy),
                convert,
                keep_exif: f.keep_exif,
                resize: f.resize,
            },
            exclude,
            watch: f.watch.unwrap_or(WatchMode::Auto),
            public_url,
        });
    }
    // The agent's own state must never be scanned as photos: a backup "optimized" in place
    // would destroy the original it holds (G1).
    for (key, p) in [("backup_dir", &backup_dir), ("ledger", &ledger)] {
        let p = resolved_existing(p);
        if let Some((i, f)) = folders
            .iter()
            .enumerate()
            .find(|(_, f)| p.starts_with(&f.path))
        {
            return Err(err(
                key,
                format!(
                    "{} is inside the watched folder[{i}] ({}); keep the agent's data outside the folders it optimizes",
                    p.display(),
                    f.path.display()
                ),
            ));
        }
    }
    Ok(Config {
        file: file.to_path_buf(),
        backend,
        api_key,
        api_url,
        cdn_api_url,
        ledger,
        backup_dir,
        concurrency,
        memory_budget,
        network,
        watching,
        folders,
    })
}

/// A service's base URL (`api_url`, `cdn_api_url`): http(s), without a trailing slash.
fn service_base(value: Option<String>, default: &str) -> Result<String, String> {
    let url = value
        .unwrap_or_else(|| default.into())
        .trim_end_matches('/')
        .to_string();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    Ok(url)
}

/// `p` with symlinks resolved as far as it exists (the rest may not be created yet).
fn resolved_existing(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return p.to_path_buf(),
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    out.extend(rest.iter().rev());
    out
}

fn network(
    raw: Option<RawNetwork>,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Network, ConfigError> {
    let mut n = Network::default();
    let Some(r) = raw else { return Ok(n) };
    if let Some(v) = r.timeout_secs {
        if v == 0 {
            return Err(err("network.timeout_secs", "must be at least 1".into()));
        }
        n.timeout = Duration::from_secs(v);
    }
    if let Some(v) = r.retry_base_ms {
        n.retry_base = Duration::from_millis(v);
    }
    if let Some(v) = r.max_retries {
        n.max_retries = v;
    }
    if let Some(v) = r.poll_interval_ms {
        n.poll_interval = Duration::from_millis(v.max(10));
    }
    if let Some(v) = r.pending_wait_secs {
        n.pending_wait = Duration::from_secs(v);
    }
    if let Some(v) = r.credits_wait_secs {
        n.credits_wait = Duration::from_secs(v);
    }
    if let Some(v) = r.server_wait_secs {
        if v > 30 {
            return Err(err(
                "network.server_wait_secs",
                format!("{v} is above the service's limit of 30"),
            ));
        }
        n.server_wait_secs = v;
    }
    if let Some(v) = r.max_batch_files {
        if !(1..=10).contains(&v) {
            return Err(err(
                "network.max_batch_files",
                format!("{v} is out of range (1 to 10)"),
            ));
        }
        n.max_batch_files = v;
    }
    if let Some(v) = r.max_batch_bytes {
        if v == 0 || v > 128 * 1024 * 1024 {
            return Err(err(
                "network.max_batch_bytes",
                format!("{v} is out of range (1 to 134217728)"),
            ));
        }
        n.max_batch_bytes = v;
    }
    Ok(n)
}

/// Turns a TOML/serde error into one that names the key and the line.
fn toml_error(file: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let message = e.message().trim().to_string();
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
    let key = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .map(str::to_string)
        .unwrap_or(key);
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

/// Requests to ShortPixel wait mostly on the network and the service, so more of them in
/// flight pay off; the built-in optimizer is bound by the CPU, so one image per core.
fn default_concurrency(backend: BackendKind) -> usize {
    match backend {
        BackendKind::Shortpixel => 8,
        BackendKind::Local => std::thread::available_parallelism().map_or(2, |n| n.get().min(64)),
    }
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
    fn bad_enum_value_names_its_key() {
        let e = load("[[folder]]\npath = \"photos\"\ncompression = \"best\"\n").unwrap_err();
        assert!(e.key.starts_with("compression"), "{e}");
        assert!(e.to_string().contains("best"), "{e}");
    }

    #[test]
    fn mirror_needs_an_output_outside_the_folder() {
        let e = load("[[folder]]\npath = \"photos\"\nmode = \"mirror\"\n").unwrap_err();
        assert_eq!(e.key, "folder[0].output");
        let e = load("[[folder]]\npath = \"photos\"\nmode = \"mirror\"\noutput = \"photos/web\"\n")
            .unwrap_err();
        assert!(e.message.contains("overlaps"), "{e}");
    }

    #[test]
    fn backups_inside_a_watched_folder_are_refused() {
        let e =
            load("backup_dir = \"photos/.backups\"\n[[folder]]\npath = \"photos\"\n").unwrap_err();
        assert_eq!(e.key, "backup_dir");
        let e = load("ledger = \"photos/l.db\"\n[[folder]]\npath = \"photos\"\n").unwrap_err();
        assert_eq!(e.key, "ledger");
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
    fn missing_folder_is_named() {
        let e = load("[[folder]]\npath = \"nope\"\n").unwrap_err();
        assert_eq!(e.key, "folder[0].path");
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
