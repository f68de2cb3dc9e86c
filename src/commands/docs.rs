//! `completions SHELL` and `man [--dir DIR]`: generated from the clap definitions in
//! `cli.rs`, so they always match what the binary accepts. The top page adds what clap
//! cannot know: ENVIRONMENT, FILES, EXIT STATUS and EXAMPLES. `help` is left out of the
//! pages (it has no page of its own to point to). `packaging/` keeps a generated copy of
//! each for the .deb; a test fails when those copies fall behind.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap_mangen::Man;
use roff::{bold, roman, Roff};

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let mut cmd = crate::cli::command_for_docs(true);
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "shortpixel-agent", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(0)
}

pub fn man(dir: Option<&Path>) -> anyhow::Result<i32> {
    let cmd = crate::cli::command_for_docs(false);
    match dir {
        None => std::io::stdout().write_all(&top_page(cmd)?)?,
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("while creating {}", dir.display()))?;
            let top = dir.join("shortpixel-agent.1");
            for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
                // One page per subcommand, and per sub-subcommand (backups prune).
                clap_mangen::generate_to(sub.clone(), dir).with_context(|| {
                    format!("while writing the man pages into {}", dir.display())
                })?;
            }
            std::fs::write(&top, top_page(cmd)?)
                .with_context(|| format!("while writing {}", top.display()))?;
            println!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(0)
}

/// shortpixel-agent(1): clap's sections, then the ones only the agent knows.
fn top_page(cmd: clap::Command) -> anyhow::Result<Vec<u8>> {
    let man = Man::new(cmd);
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    let mut roff = Roff::new();
    section(&mut roff, "ENVIRONMENT", ENVIRONMENT);
    section(&mut roff, "FILES", FILES);
    section(&mut roff, "EXIT STATUS", EXIT_STATUS);
    section(&mut roff, "EXAMPLES", EXAMPLES);
    roff.to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// A section of tagged paragraphs: the term in bold, then what it means.
fn section(roff: &mut Roff, title: &str, items: &[(&str, &str)]) {
    roff.control("SH", [title]);
    for (term, text) in items {
        roff.control("TP", []);
        roff.text([bold(*term)]);
        roff.text([roman(*text)]);
    }
}

const ENVIRONMENT: &[(&str, &str)] = &[
    ("SHORTPIXEL_AGENT_CONFIG", "The config file, when --config is not given."),
    ("SHORTPIXEL_API_KEY", "The ShortPixel API key, when the config names none (api_key, api_key_file). Without a key the built-in optimizer is used."),
    ("SHORTPIXEL_AGENT_LOG", "The log level: warn, info (default), debug, trace, or a tracing filter."),
    ("SHORTPIXEL_AGENT_LOG_FORMAT", "text (default) or json, as --log-format."),
    ("NO_COLOR", "When set, log lines carry no colours."),
    ("XDG_CONFIG_HOME, XDG_DATA_HOME", "Where the default config and the ledger and backups live (~/.config and ~/.local/share when unset)."),
];

const FILES: &[(&str, &str)] = &[
    ("~/.config/shortpixel-agent/config.toml", "The config file by default (TOML; run init to write a commented one)."),
    ("~/.local/share/shortpixel-agent/ledger.db", "The ledger: every file's hash and state (the config's ledger key moves it)."),
    ("~/.local/share/shortpixel-agent/backups/", "The originals of files optimized in place, byte for byte (the config's backup_dir key moves it). Disk use grows until backups are pruned with backups prune."),
    ("/etc/shortpixel-agent/config.toml, /var/lib/shortpixel-agent/", "The config, ledger and backups of the system service installed by the .deb."),
];

const EXIT_STATUS: &[(&str, &str)] = &[
    ("0", "Done; for check: the agent can work here, perhaps with warnings."),
    ("1", "A runtime failure, some files failed (run --once), a configured folder is missing (run), or a problem to fix (check)."),
    ("2", "Bad usage, no config file, or an invalid config: the message names the file, the key and what is wrong."),
];

const EXAMPLES: &[(&str, &str)] = &[
    ("shortpixel-agent run --once --dry-run ~/Pictures", "What a first run would do, changing nothing."),
    ("shortpixel-agent run --once ~/Pictures", "With no config yet: write one for ~/Pictures, then optimize it once, in place, keeping every original."),
    ("shortpixel-agent restore --all", "Put every original back."),
    ("shortpixel-agent check", "Check the config, the folders, the inotify limit and the API key."),
    ("shortpixel-agent status", "Counts, bytes saved, failures with reasons, credits."),
    ("shortpixel-agent backups prune --older-than 90d", "Free the space of old backups (never the only copy of an original without --force)."),
    ("shortpixel-agent --config /etc/shortpixel-agent/config.toml run", "The daemon, with another config."),
];
