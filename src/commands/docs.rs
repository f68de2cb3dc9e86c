//! `completions SHELL` and `man [--dir DIR]`: generated from the clap definitions in
//! `cli.rs`, so they always match what the binary accepts. `packaging/` keeps a generated
//! copy of each for the .deb; a test fails when those copies fall behind.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "shortpixel-agent", &mut out);
    std::io::stdout().write_all(&out)?;
    Ok(0)
}

pub fn man(dir: Option<&Path>) -> anyhow::Result<i32> {
    match dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command()).render(&mut out)?;
            std::io::stdout().write_all(&out)?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("while creating {}", dir.display()))?;
            clap_mangen::generate_to(Cli::command(), dir)
                .with_context(|| format!("while writing the man pages into {}", dir.display()))?;
            println!("wrote the man pages into {}", dir.display());
        }
    }
    Ok(0)
}
