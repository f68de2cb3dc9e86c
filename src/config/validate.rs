//! One small check per key or table: each takes what serde parsed and returns the value the
//! agent uses, or an error naming the key. Nothing here writes to disk; the only reads are
//! `api_key_file` and looking up whether a folder exists.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::raw::{RawFolder, RawNetwork, RawSize};
use super::{ApiKey, BackendKind, Compression, ConfigError, Folder, FolderSettings, Mode};
use super::{Network, PublicUrl, WatchMode};

/// Builds errors for one config file.
pub(super) struct Errors<'a> {
    file: &'a Path,
}

impl<'a> Errors<'a> {
    pub fn new(file: &'a Path) -> Self {
        Errors { file }
    }

    pub fn at(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_path_buf(),
            key: key.to_string(),
            message: message.into(),
        }
    }
}

type Result<T> = std::result::Result<T, ConfigError>;

pub(super) fn api_key(
    errors: &Errors,
    key: Option<String>,
    key_file: Option<PathBuf>,
    env_key: Option<String>,
    resolve: &dyn Fn(&Path) -> PathBuf,
) -> Result<Option<ApiKey>> {
    match (key, key_file) {
        (Some(_), Some(_)) => Err(errors.at(
            "api_key_file",
            "set either api_key or api_key_file, not both",
        )),
        (Some(k), None) if k.trim().is_empty() => Err(errors.at(
            "api_key",
            "is empty; remove the line to use the built-in optimizer",
        )),
        (Some(k), None) => Ok(Some(ApiKey::new(k.trim()))),
        (None, Some(f)) => {
            let path = resolve(&f);
            let k = std::fs::read_to_string(&path).map_err(|e| {
                errors.at(
                    "api_key_file",
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            if k.trim().is_empty() {
                return Err(errors.at("api_key_file", format!("{} is empty", path.display())));
            }
            Ok(Some(ApiKey::new(k.trim())))
        }
        (None, None) => Ok(env_key.map(|k| ApiKey::new(k.trim()))),
    }
}

pub(super) fn backend(
    errors: &Errors,
    backend: Option<BackendKind>,
    has_key: bool,
) -> Result<BackendKind> {
    match (backend, has_key) {
        (Some(BackendKind::Shortpixel), false) => Err(errors.at(
            "backend",
            "\"shortpixel\" needs an API key: set api_key, api_key_file or SHORTPIXEL_API_KEY, or use backend = \"local\"",
        )),
        (Some(b), _) => Ok(b),
        (None, true) => Ok(BackendKind::Shortpixel),
        (None, false) => Ok(BackendKind::Local),
    }
}

/// A service's base URL (`api_url`, `cdn_api_url`): http(s), without a trailing slash.
pub(super) fn service_base(
    errors: &Errors,
    key: &str,
    url: Option<String>,
    default: &str,
) -> Result<String> {
    let url = url
        .unwrap_or_else(|| default.into())
        .trim_end_matches('/')
        .to_string();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(errors.at(key, format!("{url:?} is not an http(s) URL")));
    }
    Ok(url)
}

pub(super) fn concurrency(errors: &Errors, n: Option<i64>, backend: BackendKind) -> Result<usize> {
    match n {
        None => Ok(default_concurrency(backend)),
        Some(n @ 1..=64) => Ok(n as usize),
        Some(n) => Err(errors.at("concurrency", format!("{n} is out of range (1 to 64)"))),
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

/// How much memory the built-in optimizer's images may take at once (at least 16 MiB).
pub(super) fn memory_budget(errors: &Errors, v: Option<String>) -> Result<u64> {
    match v {
        None => Ok(crate::pipeline::budget::default_budget()),
        Some(s) => match crate::backup::prune::parse_size(&s) {
            Ok(n) if n >= 16 << 20 => Ok(n),
            Ok(_) => Err(errors.at(
                "memory_budget",
                format!("{s:?} is too small: the built-in optimizer needs at least 16MiB"),
            )),
            Err(e) => Err(errors.at("memory_budget", e)),
        },
    }
}

/// A number of seconds between `min` and a week.
pub(super) fn seconds(
    errors: &Errors,
    key: &str,
    v: Option<f64>,
    default: f64,
    min: f64,
) -> Result<Duration> {
    match v {
        None => Ok(Duration::from_secs_f64(default)),
        Some(v) if v.is_finite() && (min..=86_400.0 * 7.0).contains(&v) => {
            Ok(Duration::from_secs_f64(v))
        }
        Some(v) => Err(errors.at(
            key,
            format!("{v} is out of range ({min} to 604800 seconds)"),
        )),
    }
}

/// A percentage of the original's size, 0 (replace for any saving) to 99.
pub(super) fn min_saving(errors: &Errors, key: &str, v: Option<f64>) -> Result<Option<f64>> {
    match v {
        Some(p) if !(p.is_finite() && (0.0..=99.0).contains(&p)) => Err(errors.at(
            key,
            format!("{p} is out of range (0 to 99, a percentage of the original's size)"),
        )),
        v => Ok(v),
    }
}

fn min_size(errors: &Errors, key: &str, v: Option<RawSize>) -> Result<u64> {
    match v {
        None => Ok(0),
        Some(RawSize::Bytes(n)) => u64::try_from(n)
            .map_err(|_| errors.at(key, format!("{n} is negative; write a size like 20KiB"))),
        Some(RawSize::Text(s)) => {
            crate::backup::prune::parse_size(&s).map_err(|e| errors.at(key, e))
        }
    }
}

pub(super) fn network(errors: &Errors, raw: Option<RawNetwork>) -> Result<Network> {
    let mut n = Network::default();
    let Some(r) = raw else { return Ok(n) };
    if let Some(v) = r.timeout_secs {
        if v == 0 {
            return Err(errors.at("network.timeout_secs", "must be at least 1"));
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
            return Err(errors.at(
                "network.server_wait_secs",
                format!("{v} is above the service's limit of 30"),
            ));
        }
        n.server_wait_secs = v;
    }
    if let Some(v) = r.max_batch_files {
        if !(1..=10).contains(&v) {
            return Err(errors.at(
                "network.max_batch_files",
                format!("{v} is out of range (1 to 10)"),
            ));
        }
        n.max_batch_files = v;
    }
    if let Some(v) = r.max_batch_bytes {
        if v == 0 || v > 128 * 1024 * 1024 {
            return Err(errors.at(
                "network.max_batch_bytes",
                format!("{v} is out of range (1 to 134217728)"),
            ));
        }
        n.max_batch_bytes = v;
    }
    Ok(n)
}

/// One `[[folder]]` table (the `i`-th). Overlaps with other places are checked afterwards,
/// once every folder is known (`places`).
pub(super) fn folder(
    errors: &Errors,
    i: usize,
    f: RawFolder,
    resolve: &dyn Fn(&Path) -> PathBuf,
    default_min_saving: f64,
) -> Result<Folder> {
    let key = |k: &str| format!("folder[{i}].{k}");
    let path = f
        .path
        .ok_or_else(|| errors.at(&key("path"), "is missing"))?;
    let path = super::places::resolved_existing(&resolve(&path));
    if path.exists() && !path.is_dir() {
        return Err(errors.at(&key("path"), format!("{} is not a folder", path.display())));
    }
    let mode = f.mode.unwrap_or(Mode::Replace);
    let output = match (mode, f.output) {
        (Mode::Replace, Some(_)) => {
            return Err(errors.at(&key("output"), "is only used with mode = \"mirror\""))
        }
        (Mode::Replace, None) => None,
        (Mode::Mirror, None) => {
            return Err(errors.at(&key("output"), "is required with mode = \"mirror\""))
        }
        (Mode::Mirror, Some(o)) => Some(super::places::resolved_existing(&resolve(&o))),
    };
    if let Some(r) = f.resize {
        if r.width == 0 || r.height == 0 {
            return Err(errors.at(&key("resize"), "width and height must be greater than 0"));
        }
    }
    let mut convert = f.convert;
    convert.sort();
    convert.dedup();
    let include = match f.include {
        Some(list) if list.is_empty() => {
            return Err(errors.at(
                &key("include"),
                "is empty, so nothing would be optimized; remove it to take every image",
            ))
        }
        Some(list) => Some(globs(errors, &key("include"), &list)?),
        None => None,
    };
    Ok(Folder {
        path,
        mode,
        output,
        settings: FolderSettings {
            compression: f.compression.unwrap_or(Compression::Lossy),
            convert,
            keep_exif: f.keep_exif,
            resize: f.resize,
        },
        exclude: globs(errors, &key("exclude"), &f.exclude)?,
        include,
        min_size: min_size(errors, &key("min_size"), f.min_size)?,
        min_saving: min_saving(errors, &key("min_saving"), f.min_saving)?
            .unwrap_or(default_min_saving),
        watch: f.watch.unwrap_or(WatchMode::Auto),
        public_url: f
            .public_url
            .map(|u| PublicUrl::parse(&u))
            .transpose()
            .map_err(|m| errors.at(&key("public_url"), m))?,
    })
}

/// Globs relative to the folder; `*` stays within one folder level, `**` crosses them.
fn globs(errors: &Errors, key: &str, list: &[String]) -> Result<globset::GlobSet> {
    let mut set = globset::GlobSetBuilder::new();
    for g in list {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|e| errors.at(key, format!("{g:?} is not a valid glob: {e}")))?;
        set.add(glob);
    }
    set.build().map_err(|e| errors.at(key, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::{load_str, Config};
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("photos")).unwrap();
        load_str(&dir.path().join("config.toml"), text, None)
    }

    #[test]
    fn include_min_size_and_min_saving_are_read_per_folder_with_a_global_default() {
        let c = load(
            "min_saving = 5\n[[folder]]\npath = \"photos\"\ninclude = [\"**/*.png\"]\nmin_size = \"2KiB\"\n",
        )
        .unwrap();
        let f = &c.folders[0];
        assert_eq!(f.min_size, 2048);
        assert_eq!(f.min_saving, 5.0);
        assert!(f.takes(Path::new("a/b.png"), 4096, false));
        assert!(!f.takes(Path::new("a/b.jpg"), 4096, false), "not included");
        assert!(!f.takes(Path::new("a/b.png"), 100, false), "too small");
        assert!(
            f.takes(Path::new("a/b.png"), 100, true),
            "tracked stays tracked"
        );
        let c = load(
            "min_saving = 5\n[[folder]]\npath = \"photos\"\nmin_saving = 0.5\nmin_size = 100\n",
        )
        .unwrap();
        assert_eq!(c.folders[0].min_saving, 0.5);
        assert_eq!(c.folders[0].min_size, 100);
    }

    #[test]
    fn a_saving_below_min_saving_keeps_the_original() {
        let c = load("[[folder]]\npath = \"photos\"\n").unwrap();
        let f = &c.folders[0];
        let why = f
            .too_small_a_saving(90_000, 89_963)
            .expect("0.04 % is below 1 %");
        assert!(
            why.contains("37 bytes") && why.contains("min_saving"),
            "{why}"
        );
        assert!(f.too_small_a_saving(90_000, 80_000).is_none());
    }

    #[test]
    fn bad_sizes_percentages_and_empty_includes_name_their_key() {
        for (text, key) in [
            (
                "[[folder]]\npath = \"photos\"\nmin_size = \"lots\"\n",
                "folder[0].min_size",
            ),
            (
                "[[folder]]\npath = \"photos\"\nmin_size = -1\n",
                "folder[0].min_size",
            ),
            (
                "min_saving = 120\n[[folder]]\npath = \"photos\"\n",
                "min_saving",
            ),
            (
                "[[folder]]\npath = \"photos\"\nmin_saving = -1\n",
                "folder[0].min_saving",
            ),
            (
                "[[folder]]\npath = \"photos\"\ninclude = []\n",
                "folder[0].include",
            ),
            (
                "[[folder]]\npath = \"photos\"\ninclude = [\"a/[\"]\n",
                "folder[0].include",
            ),
        ] {
            assert_eq!(load(text).unwrap_err().key, key, "{text}");
        }
    }

    #[test]
    fn a_file_as_folder_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("photo.jpg"), b"x").unwrap();
        let e = load_str(
            &dir.path().join("config.toml"),
            "[[folder]]\npath = \"photo.jpg\"\n",
            None,
        )
        .unwrap_err();
        assert_eq!(e.key, "folder[0].path");
        assert!(e.message.contains("not a folder"), "{e}");
    }
}
