//! The command line (SPEC §1), as clap derive types. Nothing here does work. The shell
//! completions and the man pages are generated from these definitions (through
//! [`command`]), so they cannot drift from what the binary accepts.
//!
//! The global options (`--config`, `--log-format`) are accepted anywhere on the line but
//! shown only in the top-level help: repeated under every subcommand they drowned its own
//! options.

use std::path::PathBuf;

use clap::{ArgGroup, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::backup::prune::{parse_age, parse_size};
use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "shortpixel-agent",
    version,
    about = "Optimizes the images in your folders with ShortPixel or the built-in optimizer, keeping every original restorable.",
    after_help = "Config: --config FILE, else $SHORTPIXEL_AGENT_CONFIG, else the OS config dir \
                  (~/.config/shortpixel-agent/config.toml on Linux). Try it with \
                  `run --once --dry-run FOLDER`, then `run --once FOLDER`; undo with `restore --all`."
)]
pub struct Cli {
    /// Config file (default: $SHORTPIXEL_AGENT_CONFIG, else the OS config dir).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How log lines on stderr look: "text" for people, "json" (one object per line) for
    /// log collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        env = "SHORTPIXEL_AGENT_LOG_FORMAT",
        hide_env_values = true,
        default_value = "text"
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented starter config (never overwrites one).
    Init {
        /// Folders to watch.
        folders: Vec<PathBuf>,
    },
    /// Optimize the configured folders: keep running, or once with --once.
    Run {
        /// Scan, process everything, wait for pending results, and exit.
        #[arg(long)]
        once: bool,
        /// With --once: say what a run would do (files, uploads, bytes) and change nothing.
        #[arg(long, requires = "once")]
        dry_run: bool,
        /// With --once: only these configured folders. With no config yet, one is written
        /// for them first (optimized in place, every original kept; see `restore --all`).
        #[arg(requires = "once", value_name = "FOLDER")]
        folders: Vec<PathBuf>,
    },
    /// Show counts, bytes saved, failures and credits.
    Status {
        /// Print one JSON object instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Put the original bytes back.
    Restore {
        /// Show what would be restored, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Restore even files edited since they were optimized (the edit is lost).
        #[arg(long)]
        force: bool,
        /// Every file the agent has changed.
        #[arg(long, conflicts_with = "paths")]
        all: bool,
        /// Also files optimized in place and deleted since: all of them, or those under
        /// the PATHs given (a deleted file named by its own path needs no flag).
        #[arg(long)]
        deleted: bool,
        /// Files or folders (or --all, or --deleted).
        paths: Vec<PathBuf>,
    },
    /// Check the config, the folders' permissions, the inotify limit and the API key, and
    /// say what to fix.
    #[command(visible_alias = "doctor")]
    Check,
    /// Show how much space the backups take, or prune old ones.
    Backups {
        #[command(subcommand)]
        action: Option<BackupsAction>,
    },
    /// ShortPixel's CDN domain API: associate a web domain with your account, end that, or
    /// read the domain's status and quota.
    Domain {
        #[arg(value_enum)]
        action: crate::commands::domain::Action,
        /// The web domain, e.g. example.com.
        domain: String,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) to stdout, or write one page per command into a folder.
    Man {
        /// Write shortpixel-agent.1 and a page per subcommand into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// The command line as the binary parses it.
pub fn command() -> clap::Command {
    finish(Cli::command())
}

/// The command line as completions and man pages describe it: the global options belong to
/// the top level only, and with `help_subcommand` false there is no `help` (which has no
/// man page to point to).
pub fn command_for_docs(help_subcommand: bool) -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(!help_subcommand);
    let globals: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().clone())
        .collect();
    for id in globals {
        cmd = cmd.mut_arg(id, |a| a.global(false));
    }
    cmd.build();
    cmd
}

/// Gives every subcommand a hidden copy of each global option before clap would copy them
/// in visibly: accepted after the subcommand, shown only in the top-level help.
fn finish(cmd: clap::Command) -> clap::Command {
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.clone().hide(true))
        .collect();
    let mut cmd = with_hidden(cmd, &globals);
    cmd.build();
    cmd
}

fn with_hidden(mut cmd: clap::Command, globals: &[clap::Arg]) -> clap::Command {
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| {
            let sub = globals.iter().fold(sub, |sub, a| sub.arg(a.clone()));
            with_hidden(sub, globals)
        });
    }
    cmd
}

impl Cli {
    /// Parses the process's arguments (exits with clap's message on bad usage).
    pub fn parse_args() -> Cli {
        let matches = command().get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

#[derive(Debug, Subcommand)]
pub enum BackupsAction {
    /// Count and size of the backups, the oldest, and how many are still needed (default).
    List,
    /// Delete backups by age or to fit a total size. A backup whose file is still
    /// optimized in place (the only copy of its original) is kept unless --force.
    #[command(group(ArgGroup::new("limit").required(true).multiple(true).args(["older_than", "max_size"])))]
    Prune {
        /// Prune backups older than this: 90d, 12w, 36h (s, m, h, d, w).
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Option<std::time::Duration>,
        /// Prune the oldest backups until all of them fit in this size: 10GiB, 500MB.
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_size: Option<u64>,
        /// Show what would be pruned, delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also prune backups that are the only copy of an original (those files can then
        /// never be restored).
        #[arg(long)]
        force: bool,
        /// Also prune the originals of files optimized in place and deleted at least this
        /// long ago: 90d, 12w (otherwise they are kept, so a deleted file can be restored).
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        deleted_older_than: Option<std::time::Duration>,
    },
}
