//! The integration suite: the real `shortpixel-agent` binary against a loopback ShortPixel
//! emulator (in-process) and temporary trees of real images. Each module covers one group
//! of guarantees from SPEC.md §3; test names say which.

mod support;

mod backups;
mod browser;
mod by_url;
mod check;
mod comforts;
mod config;
mod daemon;
mod dashboard;
mod domain;
mod edits;
mod errors;
mod first_run;
mod groups;
mod hostile;
mod hostile_server;
mod limits;
mod local;
mod mirror;
mod optimizer;
mod packaging;
mod pay_once;
mod pending;
mod replace;
mod restore;
mod secrets;
mod verify;
mod wire;
