//! One file per subcommand. Each returns the process exit code; errors that reach `main`
//! exit 1, except an invalid config, a missing one and bad usage, which exit 2 (SPEC §1).

pub mod backups;
pub mod check;
pub mod docs;
pub mod domain;
mod dry_run;
pub mod hint;
pub mod init;
pub mod restore;
pub mod run;
pub mod status;

use std::path::{Path, PathBuf};

use crate::config::{default_config_path, Config, Missing};

/// Bad usage the argument parser cannot see (exit 2), in words that say what to type.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Usage(pub String);

/// The config file to use: `--config`, else the environment, else the OS default.
pub fn config_path(flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_path_buf)
        .unwrap_or_else(default_config_path)
}

/// Loads the config; a missing one says where the agent looked and the `init` to run.
pub fn load(flag: Option<&Path>) -> anyhow::Result<Config> {
    let path = config_path(flag);
    if !path.exists() {
        return Err(missing(flag, &path).into());
    }
    Ok(Config::load(&path)?)
}

fn missing(flag: Option<&Path>, path: &Path) -> Missing {
    let looked = if flag.is_some() {
        "given with --config"
    } else if std::env::var_os("SHORTPIXEL_AGENT_CONFIG").is_some_and(|v| !v.is_empty()) {
        "named by $SHORTPIXEL_AGENT_CONFIG"
    } else {
        "the default place; --config FILE or $SHORTPIXEL_AGENT_CONFIG name another"
    };
    Missing {
        file: path.to_path_buf(),
        looked: looked.into(),
        init: hint::command("init FOLDER"),
    }
}
