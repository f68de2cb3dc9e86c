//! shortpixel-agent: watches folders, optimizes new or changed images with the ShortPixel API
//! or the built-in optimizer, and replaces originals (keeping backups) or mirrors optimized
//! copies. See ARCHITECTURE.md for how a byte travels from the scan to the disk.

pub mod backup;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod content;
pub mod daemon;
pub mod dashboard;
pub mod ledger;
pub mod lock;
pub mod logging;
pub mod memory;
pub mod names;
pub mod open;
pub mod optimize;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod recover;
pub mod restore;
pub mod scan;
pub mod status;
pub mod verify;
pub mod watch;
