//! The commented starter config that `init` writes. It must always parse: a test loads it.

use std::path::Path;

/// Renders the starter config for the given folders (absolute or relative to the config).
pub fn render(folders: &[&Path]) -> String {
    let mut out = String::from(HEADER);
    if folders.is_empty() {
        out.push_str(
            "\n[[folder]]\n# The folder to watch; relative paths are relative to this file.\npath = \"photos\"\n",
        );
        out.push_str(FOLDER_OPTIONS);
    }
    for f in folders {
        out.push_str(&format!(
            "\n[[folder]]\npath = {}\n",
            toml_string(&f.to_string_lossy())
        ));
        out.push_str(FOLDER_OPTIONS);
    }
    out
}

fn toml_string(s: &str) -> String {
    // serde-compatible basic string with escapes.
    toml::Value::String(s.to_string()).to_string()
}

const HEADER: &str = r#"# shortpixel-agent configuration.
# Reference: README.md, section "Configuration". Unknown keys are an error.

# Who optimizes: "shortpixel" (the ShortPixel API, needs a key) or "local" (built in, offline).
# Default: "shortpixel" when a key is configured, otherwise "local".
# backend = "local"

# Your ShortPixel API key. Instead of writing it here you can use api_key_file = "key.txt"
# or the environment variable SHORTPIXEL_API_KEY. The key is never logged or stored.
# api_key = "..."

# api_url = "https://api.shortpixel.com"
# The CDN domain API, used by `shortpixel-agent domain` and by `check`.
# cdn_api_url = "https://no-cdn.shortpixel.ai"

# Where the ledger (SQLite) and the backups of your originals live.
# Default: the OS data folder (~/.local/share/shortpixel-agent on Linux).
# ledger = "ledger.db"
# backup_dir = "backups"

# How many requests to ShortPixel (default 8), or images optimized by the built-in
# optimizer (default: one per CPU core), run at once.
# concurrency = 8

# The daemon (`run`): a new or changed file is taken once it has been quiet this many
# seconds; every folder is also re-checked with a stat walk every rescan_interval seconds;
# folders in poll mode are walked every watch_poll_interval seconds.
# settle = 3
# rescan_interval = 3600
# watch_poll_interval = 30

# Optional tuning of how patiently the agent talks to the service.
# [network]
# timeout_secs = 120        # per request
# retry_base_ms = 5000      # first retry delay; doubles each try, with jitter
# max_retries = 6           # for queue-full, maintenance, 5xx, timeouts, dropped connections
# poll_interval_ms = 5000   # between checks of results still being processed
# pending_wait_secs = 600   # run --once waits this long, then leaves the rest for next time
# credits_wait_secs = 60    # run --once waits this long for credits to come back

# Optional limits on what the agent spends, and when (README, "Limits").
# [limits]
# monthly_credits = 5000        # ShortPixel credits per calendar month this agent may use
# quiet_hours = "01:00-07:00"   # no uploads in this daily window (local time; may wrap midnight)
# quiet_hours_local = true      # the built-in optimizer keeps working in quiet hours
# upload_kbps = 512             # KiB a second for all uploads together
"#;

const FOLDER_OPTIONS: &str = r#"# "replace": optimize in place, keeping the original in backup_dir (restore brings it back).
# "mirror": never touch the originals; write optimized copies under `output`.
mode = "replace"
# output = "/srv/photos-web"
# "lossy" (smallest), "glossy" (near pixel-perfect) or "lossless".
compression = "lossy"
# Extra formats written beside each result, e.g. photo.jpg -> photo.jpg.webp
# ("avif" with the built-in optimizer needs a build with `--features avif`).
# convert = ["webp", "avif"]
keep_exif = false
# resize = { mode = "inner", width = 2048, height = 2048 }
# exclude = ["**/thumbs/**"]
# "auto" (native events, polling on network shares: NFS, SMB, 9P, FUSE), "native" or "poll".
# watch = "auto"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starter_parses_with_and_without_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("photos")).unwrap();
        let odd = dir.path().join("my \"odd\" photos");
        std::fs::create_dir(&odd).unwrap();
        let file = dir.path().join("config.toml");
        for text in [render(&[]), render(&[odd.as_path()])] {
            let c = super::super::load_str(&file, &text, None).unwrap();
            assert_eq!(c.folders.len(), 1);
        }
    }
}
