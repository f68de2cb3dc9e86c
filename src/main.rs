//! The binary: parse arguments, set up logging, dispatch, map errors to exit codes
//! (0 done, 1 runtime failure, 2 bad usage or invalid config).

use clap::Parser;
use shortpixel_agent::cli::{Cli, Command};
use shortpixel_agent::commands;
use shortpixel_agent::config::ConfigError;
use shortpixel_agent::restore::Options;

fn main() {
    let cli = Cli::parse();
    let mut filter = tracing_subscriber::EnvFilter::try_from_env("SHORTPIXEL_AGENT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // The HTTP stack's own debug output is noise to a user, and at trace level it could
    // show request contents; keep it at info whatever the user asks for (G8). oxipng
    // narrates every PNG at info; the agent reports the outcome itself.
    for quiet in [
        "hyper=info",
        "hyper_util=info",
        "reqwest=info",
        "h2=info",
        "rustls=info",
        "oxipng=warn",
    ] {
        filter = filter.add_directive(quiet.parse().expect("static directive"));
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let config = cli.config.as_deref();
    let result = match &cli.command {
        Command::Init { folders } => commands::init::run(config, folders),
        Command::Run { once } => commands::run::run(config, *once),
        Command::Status { json } => commands::status::run(config, *json),
        Command::Restore {
            dry_run,
            force,
            all,
            paths,
        } => commands::restore::run(
            config,
            paths,
            *all,
            Options {
                dry_run: *dry_run,
                force: *force,
            },
        ),
        Command::Check => commands::check::run(config),
        Command::Backups { action } => commands::backups::run(config, action.as_ref()),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<ConfigError>().is_some() => {
            eprintln!("error: {e}");
            2
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
