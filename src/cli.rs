//! The command line (SPEC §1), as clap derive types. Nothing here does work. The shell
//! completions and the man pages are generated from these definitions, so they cannot
//! drift from what the binary accepts.

use std::path::PathBuf;

use clap::{ArgGroup, Parser, Subcommand};

use crate::backup::prune::{parse_age, parse_size};
use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "shortpixel-agent",
    version,
    about = "Optimizes the images in your folders with ShortPixel or the built-in optimizer, keeping every original restorable.",
    after_help = "Config: --config FILE, else $SHORTPIXEL_AGENT_CONFIG, else the OS config dir \
                  (~/.config/shortpixel-agent/config.toml on Linux). Start with `init FOLDER`, \
                  then `check`."
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
        /// Files or folders.
        #[arg(required_unless_present_any = ["all", "deleted"])]
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
