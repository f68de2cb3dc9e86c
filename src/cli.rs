//! The command line (SPEC §1), as clap derive types. Nothing here does work.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "shortpixel-agent",
    version,
    about = "Optimizes the images in your folders with ShortPixel or the built-in optimizer, keeping every original restorable."
)]
pub struct Cli {
    /// Config file (default: $SHORTPIXEL_AGENT_CONFIG, else the OS config dir).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

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
        /// Files or folders.
        #[arg(required_unless_present = "all")]
        paths: Vec<PathBuf>,
    },
}
