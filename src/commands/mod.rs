//! One file per subcommand. Each returns the process exit code; errors that reach `main`
//! exit 1, except an invalid config, which exits 2 (SPEC §1).

pub mod backups;
pub mod check;
pub mod docs;
pub mod domain;
pub mod init;
pub mod restore;
pub mod run;
pub mod status;

use std::path::{Path, PathBuf};

use crate::config::{default_config_path, Config};

/// The config file to use: `--config`, else the environment, else the OS default.
pub fn config_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .unwrap_or_else(default_config_path)
}

/// Loads the config; a missing default config gets a hint to run `init`.
pub fn load(flag: Option<&Path>) -> anyhow::Result<Config> {
    let path = config_path(flag);
    if !path.exists() {
        return Err(crate::config::ConfigError {
            file: path.clone(),
            key: "(file)".into(),
            message: format!(
                "there is no config file here; create one with `shortpixel-agent --config {} init FOLDER`",
                path.display()
            ),
        }
        .into());
    }
    Ok(Config::load(&path)?)
}
