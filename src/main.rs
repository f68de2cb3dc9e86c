//! The binary: parse arguments, set up logging, dispatch, map errors to exit codes
//! (0 done, 1 runtime failure, 2 bad usage, no config or an invalid one).

use shortpixel_agent::cli::{Cli, Command};
use shortpixel_agent::commands::{self, hint, Usage};
use shortpixel_agent::config::{ConfigError, Missing};
use shortpixel_agent::restore::Options;

fn main() {
    shortpixel_agent::memory::few_arenas();
    let cli = Cli::parse_args();
    shortpixel_agent::logging::init(cli.log_format);
    hint::init(cli.config.as_deref());
    let config = cli.config.as_deref();
    let result = match &cli.command {
        Command::Init { folders } => commands::init::run(config, folders),
        Command::Run {
            once,
            dry_run,
            folders,
        } => commands::run::run(
            config,
            commands::run::Request {
                once: *once,
                dry_run: *dry_run,
                folders,
            },
            cli.log_format,
        ),
        Command::Status { json } => commands::status::run(config, *json),
        Command::Restore {
            dry_run,
            force,
            all,
            deleted,
            paths,
        } => commands::restore::run(
            config,
            paths,
            *all,
            *deleted,
            Options {
                dry_run: *dry_run,
                force: *force,
            },
        ),
        Command::Check => commands::check::run(config),
        Command::Backups { action } => commands::backups::run(config, action.as_ref()),
        Command::Domain {
            action,
            domain,
            json,
        } => commands::domain::run(config, *action, domain, *json),
        Command::Completions { shell } => commands::docs::completions(*shell),
        Command::Man { dir } => commands::docs::man(dir.as_deref()),
    };
    let code = match result {
        Ok(code) => code,
        Err(e)
            if e.downcast_ref::<ConfigError>().is_some()
                || e.downcast_ref::<Missing>().is_some()
                || e.downcast_ref::<Usage>().is_some() =>
        {
            shortpixel_agent::logging::error(&format!("error: {e}"));
            2
        }
        Err(e) => {
            shortpixel_agent::logging::error(&format!("error: {e:#}"));
            1
        }
    };
    std::process::exit(code);
}
