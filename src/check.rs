//! `check`: looks at everything that decides whether the agent can work here, changes
//! nothing, and says what to do about each problem. One [`Finding`] per thing looked at:
//! the folders (readable; writable where the agent writes), network shares (polled), the
//! inotify watch limit against the folders to watch, the ledger and backup folders, the
//! API key (asked to api-status, never printed: G8), and the CDN domain of each folder with
//! a `public_url` (asked to `read-domain`).
//!
//! A *problem* would stop the agent or lose its work (exit 1); a *warning* is something it
//! works around at a cost (polling instead of events, paused uploads).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{BackendKind, Config, Convert, Mode, WatchMode};
use crate::optimize::shortpixel::domain::{meaning, DomainClient, DomainError};
use crate::optimize::shortpixel::{ApiError, Client};

/// Where Linux publishes the inotify watch limit.
pub const INOTIFY_LIMIT: &str = "/proc/sys/fs/inotify/max_user_watches";

/// Overrides [`INOTIFY_LIMIT`] (for tests; not a user setting).
pub const INOTIFY_LIMIT_ENV: &str = "SHORTPIXEL_AGENT_INOTIFY_LIMIT_FILE";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warning,
    Problem,
}

#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    /// What was looked at: "config", "folder /srv/photos", "inotify", …
    pub subject: String,
    /// What was found and, for warnings and problems, what to do.
    pub text: String,
}

impl Finding {
    fn new(level: Level, subject: impl Into<String>, text: impl Into<String>) -> Finding {
        Finding {
            level,
            subject: subject.into(),
            text: text.into(),
        }
    }
}

/// Every check that needs no network, in the order they are shown.
pub fn local(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    out.extend(config_file(config));
    let mut watched_dirs = 0u64;
    for folder in &config.folders {
        let walk = walk(&folder.path);
        out.extend(folder_findings(config, folder, &walk));
        if natively_watched(folder) {
            watched_dirs += walk.dirs;
        }
    }
    out.extend(inotify(watched_dirs));
    out.push(writable_place("ledger", &config.ledger, true));
    out.push(writable_place("backups", &config.backup_dir, false));
    if let Some(f) = avif(config) {
        out.push(f);
    }
    out.extend(limits(config));
    out
}

/// `[limits]`, one line each that is set, with this month's credits from the ledger.
fn limits(config: &Config) -> Vec<Finding> {
    let ledger = crate::ledger::Ledger::open_read_only(&config.ledger)
        .ok()
        .flatten();
    let uploads = config.backend == crate::config::BackendKind::Shortpixel;
    let now = crate::clock::now();
    match crate::limits::report(&config.limits, ledger.as_ref(), uploads, &now) {
        Ok(r) => crate::limits::lines(&r)
            .into_iter()
            .map(|line| Finding::new(Level::Ok, "limits", line))
            .collect(),
        Err(e) => vec![Finding::new(
            Level::Warning,
            "limits",
            format!("cannot read this month's credits from the ledger: {e:#}"),
        )],
    }
}

/// The API key, asked to api-status; or which optimizer runs without one.
pub async fn api(config: &Config) -> Finding {
    let subject = "optimizer";
    let key = match (config.backend, &config.api_key) {
        (BackendKind::Local, None) => {
            return Finding::new(
                Level::Ok,
                subject,
                "no API key is configured: the built-in optimizer will be used (offline, nothing is sent anywhere)",
            )
        }
        (BackendKind::Local, Some(_)) => {
            return Finding::new(
                Level::Ok,
                subject,
                "backend = \"local\": the built-in optimizer will be used and the API key is not",
            )
        }
        (BackendKind::Shortpixel, Some(key)) => key.clone(),
        (BackendKind::Shortpixel, None) => unreachable!("the config requires a key"),
    };
    let subject = "API key";
    let mut net = config.network.clone();
    net.timeout = net.timeout.min(Duration::from_secs(15));
    let client = match Client::new(&config.api_url, key, &net) {
        Ok(c) => c,
        Err(e) => return Finding::new(Level::Problem, subject, e.to_string()),
    };
    match client.credits().await {
        Ok(c) if c.unlimited => Finding::new(Level::Ok, subject, "accepted by ShortPixel; unlimited credits"),
        Ok(c) if c.remaining == 0 => Finding::new(
            Level::Warning,
            subject,
            "accepted by ShortPixel, but no credits are left: uploads pause until credits return. \
             Buy credits in your ShortPixel account, or set backend = \"local\" to use the built-in optimizer",
        ),
        Ok(c) => Finding::new(
            Level::Ok,
            subject,
            format!("accepted by ShortPixel; {} credits left", c.remaining),
        ),
        Err(ApiError::InvalidKey(why)) => Finding::new(
            Level::Problem,
            subject,
            format!(
                "ShortPixel refused the key ({why}). Copy the key from your ShortPixel account into \
                 api_key or api_key_file in the config, or into SHORTPIXEL_API_KEY"
            ),
        ),
        Err(e) => Finding::new(
            Level::Problem,
            subject,
            format!(
                "cannot ask ShortPixel at {} about the key: {e}. Check the network connection, \
                 a proxy (HTTPS_PROXY), or api_url in the config",
                config.api_url
            ),
        ),
    }
}

/// The status of each domain that folders publish at (`public_url`), as `read-domain`
/// reports it. Only warnings: a folder that cannot be fetched by URL is uploaded instead.
pub async fn public_domains(config: &Config) -> Vec<Finding> {
    let mut hosts: Vec<&str> = config
        .folders
        .iter()
        .filter_map(|f| f.public_url.as_ref().map(|u| u.host()))
        .collect();
    hosts.sort_unstable();
    hosts.dedup();
    if config.backend != BackendKind::Shortpixel || hosts.is_empty() {
        return Vec::new();
    }
    let mut net = config.network.clone();
    net.timeout = net.timeout.min(Duration::from_secs(15));
    let client = match DomainClient::new(&config.cdn_api_url, config.api_key.clone(), &net) {
        Ok(c) => c,
        Err(e) => return vec![Finding::new(Level::Warning, "domains", e.to_string())],
    };
    let mut out = Vec::new();
    for host in hosts {
        let subject = format!("domain {host}");
        out.push(match client.read(host).await {
            Ok(s) if s.status == 2 => Finding::new(Level::Ok, subject, "OK (status 2) at ShortPixel"),
            Ok(s) => Finding::new(
                Level::Warning,
                subject,
                format!(
                    "{} (status {}) at ShortPixel; see `shortpixel-agent domain read {host}`.                      Images ShortPixel cannot fetch by URL are uploaded instead",
                    meaning(s.status).unwrap_or("a status ShortPixel does not document"),
                    s.status
                ),
            ),
            Err(DomainError::UnknownDomain) => Finding::new(
                Level::Warning,
                subject,
                format!("ShortPixel does not know it: `shortpixel-agent domain add {host}` adds it to your account"),
            ),
            Err(e) => Finding::new(
                Level::Warning,
                subject,
                format!("cannot ask ShortPixel about it at {}: {e}", config.cdn_api_url),
            ),
        });
    }
    out
}

fn config_file(config: &Config) -> Vec<Finding> {
    let mut out = vec![Finding::new(
        Level::Ok,
        "config",
        format!(
            "{} is valid: {} folder(s), backend \"{}\"",
            config.file.display(),
            config.folders.len(),
            match config.backend {
                BackendKind::Shortpixel => "shortpixel",
                BackendKind::Local => "local",
            }
        ),
    )];
    // A key written in the config should not be readable by other users (G8).
    let key_inside = std::fs::read_to_string(&config.file).is_ok_and(|text| {
        text.lines().any(|l| {
            let l = l.trim_start();
            l.strip_prefix("api_key")
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
    });
    let mode = std::fs::metadata(&config.file).map(|m| {
        use std::os::unix::fs::PermissionsExt;
        m.permissions().mode()
    });
    if key_inside && mode.is_ok_and(|m| m & 0o077 != 0) {
        out.push(Finding::new(
            Level::Warning,
            "config",
            format!(
                "it holds your API key and other users can read it: chmod 600 {}",
                config.file.display()
            ),
        ));
    }
    out
}

/// What a walk of one folder found.
#[derive(Debug, Default)]
struct Walk {
    /// The folder itself cannot be listed.
    root_error: Option<std::io::Error>,
    /// Folders, the root included (each needs one inotify watch).
    dirs: u64,
    /// Subfolders that cannot be listed.
    unreadable: Vec<PathBuf>,
}

fn walk(root: &Path) -> Walk {
    if let Err(e) = std::fs::read_dir(root) {
        return Walk {
            root_error: Some(e),
            ..Walk::default()
        };
    }
    let mut w = Walk::default();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        match entry {
            Ok(e) if e.file_type().is_dir() => w.dirs += 1,
            Ok(_) => {}
            Err(e) => {
                if let Some(p) = e.path() {
                    w.unreadable.push(p.to_path_buf());
                }
            }
        }
    }
    w
}

fn folder_findings(config: &Config, folder: &crate::config::Folder, walk: &Walk) -> Vec<Finding> {
    let subject = format!("folder {}", folder.path.display());
    let mut out = Vec::new();
    if !folder.path.exists() {
        out.push(Finding::new(
            Level::Problem,
            &subject,
            "is not there (an unmounted share, or a moved folder?): `run` refuses to start until it \
             is back, so nothing there is taken for deleted. Mount it, or remove this [[folder]] \
             from the config; `status` and `restore` work meanwhile",
        ));
        return out;
    }
    if let Some(e) = &walk.root_error {
        out.push(Finding::new(
            Level::Problem,
            &subject,
            format!(
                "cannot be read ({e}). {} needs to list and read it: give it access \
                 (e.g. `chmod -R u+rwX` for the owner, or add {} to the folder's group)",
                who(),
                who()
            ),
        ));
        return out;
    }
    if !walk.unreadable.is_empty() {
        let examples: Vec<String> = walk
            .unreadable
            .iter()
            .take(3)
            .map(|p| p.display().to_string())
            .collect();
        out.push(Finding::new(
            Level::Warning,
            &subject,
            format!(
                "{} subfolder(s) cannot be read and will be skipped, e.g. {}; give {} read access if they hold photos",
                walk.unreadable.len(),
                examples.join(", "),
                who()
            ),
        ));
    }
    let (target, why) = match (folder.mode, &folder.output) {
        (Mode::Mirror, Some(out)) => (
            out.as_path(),
            "mirror mode writes the optimized copies there",
        ),
        _ => (
            folder.path.as_path(),
            "replace mode writes the optimized files there",
        ),
    };
    // A mirror output is created by the first run: what matters is that it can be.
    let existing = target.ancestors().find(|a| a.exists()).unwrap_or(target);
    let later = if existing == target {
        String::new()
    } else {
        " (created on the first run)".to_string()
    };
    match can_write(existing) {
        Ok(()) => out.push(Finding::new(
            Level::Ok,
            &subject,
            format!(
                "readable, {} folder(s); {} can write in {}{later}",
                walk.dirs,
                who(),
                target.display()
            ),
        )),
        Err(e) => out.push(Finding::new(
            Level::Problem,
            &subject,
            format!(
                "{} cannot write in {} ({e}); {why}. Give it write access, or use mode = \"mirror\" \
                 with an output folder it can write",
                who(),
                target.display()
            ),
        )),
    }
    if let Some(fs) = crate::watch::network_fs(&folder.path) {
        let poll = config.watching.poll_interval.as_secs_f64();
        out.push(match folder.watch {
            WatchMode::Native => Finding::new(
                Level::Warning,
                &subject,
                format!(
                    "is on a network share ({fs}) but watch = \"native\": changes made by other \
                     machines will be missed. Set watch = \"poll\" (or \"auto\") for this folder"
                ),
            ),
            _ => Finding::new(
                Level::Ok,
                &subject,
                format!(
                    "is on a network share ({fs}): it is walked every {poll} s instead of watched"
                ),
            ),
        });
    }
    out
}

fn natively_watched(folder: &crate::config::Folder) -> bool {
    match folder.watch {
        WatchMode::Native => true,
        WatchMode::Poll => false,
        WatchMode::Auto => crate::watch::network_fs(&folder.path).is_none(),
    }
}

/// The inotify watch limit against the folders to watch (one watch per folder).
fn inotify(dirs: u64) -> Option<Finding> {
    let file = std::env::var_os(INOTIFY_LIMIT_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(INOTIFY_LIMIT));
    if !file.exists() && std::env::var_os(INOTIFY_LIMIT_ENV).is_none() {
        // Not Linux (macOS and Windows have no such limit).
        return None;
    }
    let limit = match std::fs::read_to_string(&file)
        .map_err(|e| e.to_string())
        .and_then(|s| s.trim().parse::<u64>().map_err(|e| e.to_string()))
    {
        Ok(l) => l,
        Err(e) => {
            return Some(Finding::new(
                Level::Warning,
                "inotify",
                format!("cannot read the watch limit from {}: {e}", file.display()),
            ))
        }
    };
    let suggest = (dirs * 2).next_power_of_two().max(524_288);
    let fix = format!(
        "Raise it with `sudo sysctl fs.inotify.max_user_watches={suggest}` and keep it across \
         reboots with `echo fs.inotify.max_user_watches={suggest} | sudo tee /etc/sysctl.d/90-shortpixel-agent.conf`"
    );
    Some(if dirs > limit {
        Finding::new(
            Level::Warning,
            "inotify",
            format!(
                "{dirs} folders to watch, but the system allows only {limit} inotify watches: a folder \
                 that hits the limit is polled instead, so its changes are seen later and cost a walk. {fix}"
            ),
        )
    } else if dirs > limit / 2 {
        Finding::new(
            Level::Warning,
            "inotify",
            format!(
                "{dirs} folders to watch, close to the system's limit of {limit} inotify watches, \
                 which other programs share. {fix}"
            ),
        )
    } else {
        Finding::new(
            Level::Ok,
            "inotify",
            format!("{dirs} folder(s) to watch; the system allows {limit} watches"),
        )
    })
}

/// The ledger file or the backup folder: writable where it is, or creatable.
fn writable_place(subject: &str, path: &Path, is_file: bool) -> Finding {
    let dir = if is_file {
        path.parent().unwrap_or(Path::new("."))
    } else {
        path
    };
    let existing = dir.ancestors().find(|a| a.exists()).unwrap_or(dir);
    let result = match (is_file && path.exists(), existing == dir) {
        (true, _) => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map(drop)
            .and_then(|()| can_write(dir)),
        _ => can_write(existing),
    };
    match result {
        Ok(()) if path.exists() => Finding::new(
            Level::Ok,
            subject,
            format!("{} is writable", path.display()),
        ),
        Ok(()) => Finding::new(
            Level::Ok,
            subject,
            format!("{} will be created on the first run", path.display()),
        ),
        Err(e) => Finding::new(
            Level::Problem,
            subject,
            format!(
                "{} cannot write {} ({e}): give it write access to {}, or set {} in the config to a folder it owns",
                who(),
                path.display(),
                existing.display(),
                if is_file { "ledger" } else { "backup_dir" }
            ),
        ),
    }
}

/// AVIF asked of the built-in optimizer in a build without it.
fn avif(config: &Config) -> Option<Finding> {
    let wants = config
        .folders
        .iter()
        .any(|f| f.settings.convert.contains(&Convert::Avif));
    (wants && config.backend == BackendKind::Local && !cfg!(feature = "avif")).then(|| {
        Finding::new(
            Level::Warning,
            "convert",
            "AVIF is asked for, but this build of the built-in optimizer has no AVIF encoder: \
             the files are optimized without it. Install with `cargo install --path . --features avif`",
        )
    })
}

/// Creates and removes a temporary file in `dir`, the only sure test of write access
/// (permission bits say nothing of read-only mounts or ACLs). The name is one the scan
/// ignores, so a running daemon does not pick it up.
fn can_write(dir: &Path) -> std::io::Result<()> {
    tempfile::Builder::new()
        .prefix(".spa-tmp-check-")
        .tempfile_in(dir)
        .map(drop)
}

/// The user the checks ran as, for messages ("user shortpixel").
fn who() -> String {
    match std::env::var("USER").ok().filter(|u| !u.is_empty()) {
        Some(u) => format!("the user {u}"),
        None => "this user".into(),
    }
}

/// The dashboard's address, and whether it answers there (only the daemon serves it).
pub async fn dashboard(config: &Config) -> Option<Finding> {
    let d = config.dashboard.as_ref()?;
    let url = crate::dashboard::probe::url(d.listen);
    let guard = if d.token.is_some() {
        "actions need the token in dashboard.token_file"
    } else {
        "loopback only; the page carries its own token"
    };
    let running = crate::lock::holder(&config.ledger).is_some();
    Some(match crate::dashboard::probe::probe(d.listen).await {
        Ok(()) => Finding::new(Level::Ok, "dashboard", format!("{url} answers ({guard})")),
        Err(e) if running => Finding::new(
            Level::Warning,
            "dashboard",
            format!("{url} does not answer ({e}) although the agent runs: another program may hold the port; the agent's log says why; set dashboard.listen to a free address"),
        ),
        Err(_) => Finding::new(
            Level::Ok,
            "dashboard",
            format!("{url} will answer while `shortpixel-agent run` runs ({guard}); not reachable now"),
        ),
    })
}
