//! `Config`: builds the TOML the tests hand the agent, with fast network tuning so retries,
//! polls and waits take milliseconds instead of the production seconds.

use shortpixel_emulator::Emulator;

use super::KEY;

/// One `[[folder]]` table, as its body lines.
#[derive(Clone)]
pub struct Folder(Vec<String>);

impl Folder {
    /// `photos/` in replace mode, lossy.
    pub fn replace(path: &str) -> Folder {
        Folder(vec![
            format!("path = {}", quote(path)),
            r#"mode = "replace""#.to_owned(),
            r#"compression = "lossy""#.to_owned(),
        ])
    }

    /// `path` mirrored into `output`, lossy.
    pub fn mirror(path: &str, output: &str) -> Folder {
        Folder(vec![
            format!("path = {}", quote(path)),
            r#"mode = "mirror""#.to_owned(),
            format!("output = {}", quote(output)),
            r#"compression = "lossy""#.to_owned(),
        ])
    }

    /// Adds (or, for a key already there, replaces) one `key = value` line.
    pub fn with(mut self, key: &str, toml_value: &str) -> Folder {
        self.0.retain(|l| !l.starts_with(&format!("{key} =")));
        self.0.push(format!("{key} = {toml_value}"));
        self
    }
}

#[derive(Clone)]
pub struct Config {
    api_key: Option<String>,
    api_url: Option<String>,
    top: Vec<String>,
    network: Vec<(String, String)>,
    folders: Vec<Folder>,
}

impl Config {
    /// Key `KEY`, the emulator's URLs (`api_url`, `cdn_api_url`), ledger and backups in the
    /// temp root, one replace folder `photos`, and network timings scaled down for tests.
    pub fn emulator(emu: &Emulator) -> Config {
        Config {
            api_key: Some(KEY.to_owned()),
            api_url: Some(emu.url()),
            top: vec![
                format!("cdn_api_url = {}", quote(&emu.cdn_url())),
                r#"ledger = "ledger.db""#.to_owned(),
                r#"backup_dir = "backups""#.to_owned(),
                "concurrency = 4".to_owned(),
            ],
            network: [
                ("timeout_secs", "5"),
                ("retry_base_ms", "10"),
                ("max_retries", "4"),
                ("poll_interval_ms", "50"),
                ("pending_wait_secs", "10"),
                ("credits_wait_secs", "2"),
                ("server_wait_secs", "0"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            folders: vec![Folder::replace("photos")],
        }
    }

    /// Like `emulator`, but with no API key anywhere (so the backend defaults to local).
    pub fn without_key(emu: &Emulator) -> Config {
        Config {
            api_key: None,
            ..Config::emulator(emu)
        }
    }

    pub fn key(mut self, key: &str) -> Config {
        self.api_key = Some(key.to_owned());
        self
    }

    /// Points the agent at another base URL (e.g. `https://` on a plain-HTTP server).
    pub fn api_url(mut self, url: &str) -> Config {
        self.api_url = Some(url.to_owned());
        self
    }

    /// No `api_key` line (the key comes from env or `api_key_file`, or there is none).
    pub fn no_key_line(mut self) -> Config {
        self.api_key = None;
        self
    }

    /// Adds (or replaces) a top-level `key = value` line.
    pub fn set(mut self, key: &str, toml_value: &str) -> Config {
        self.top.retain(|l| !l.starts_with(&format!("{key} =")));
        self.top.push(format!("{key} = {toml_value}"));
        self
    }

    /// Removes a top-level key, so the agent's default applies.
    pub fn unset(mut self, key: &str) -> Config {
        self.top.retain(|l| !l.starts_with(&format!("{key} =")));
        self
    }

    /// Adds (or replaces) a key of the `[network]` table.
    pub fn net(mut self, key: &str, toml_value: &str) -> Config {
        self.network.retain(|(k, _)| k != key);
        self.network.push((key.to_owned(), toml_value.to_owned()));
        self
    }

    /// A run that leaves results pending: it gives up waiting after 1 s and polls 5 s
    /// apart, so it asks about a job at most twice before it ends.
    pub fn hasty(self) -> Config {
        self.net("pending_wait_secs", "1")
            .net("poll_interval_ms", "5000")
    }

    /// Replaces the folder list with these folders.
    pub fn folders(mut self, folders: Vec<Folder>) -> Config {
        self.folders = folders;
        self
    }

    /// Adds a `key = value` to every folder (e.g. `convert = ["webp"]`).
    pub fn folder_option(mut self, key: &str, toml_value: &str) -> Config {
        self.folders = self
            .folders
            .into_iter()
            .map(|f| f.with(key, toml_value))
            .collect();
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::from("# written by the integration tests\n");
        if let Some(key) = &self.api_key {
            out += &format!("api_key = {}\n", quote(key));
        }
        if let Some(url) = &self.api_url {
            out += &format!("api_url = {}\n", quote(url));
        }
        for line in &self.top {
            out += line;
            out.push('\n');
        }
        out += "\n[network]\n";
        for (k, v) in &self.network {
            out += &format!("{k} = {v}\n");
        }
        for folder in &self.folders {
            out += "\n[[folder]]\n";
            for line in &folder.0 {
                out += line;
                out.push('\n');
            }
        }
        out
    }
}

/// A TOML basic string.
pub fn quote(s: &str) -> String {
    format!("{s:?}")
}
