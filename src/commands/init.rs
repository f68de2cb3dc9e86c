//! `init [FOLDER...]`: writes the commented starter config; refuses to overwrite one.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::starter;

pub fn run(config: Option<&Path>, folders: &[PathBuf]) -> anyhow::Result<i32> {
    let path = super::config_path(config);
    if path.exists() {
        eprintln!(
            "{} already exists; not overwriting it. Edit it, or remove it first.",
            path.display()
        );
        return Ok(2);
    }
    let mut abs = Vec::new();
    for f in folders {
        let a = f
            .canonicalize()
            .with_context(|| format!("the folder {} cannot be opened", f.display()))?;
        if !a.is_dir() {
            anyhow::bail!("{} is not a folder", f.display());
        }
        abs.push(a);
    }
    let refs: Vec<&Path> = abs.iter().map(PathBuf::as_path).collect();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("while creating {}", dir.display()))?;
    }
    let text = starter::render(&refs);
    // create_new: never clobber a config that appeared meanwhile.
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("while creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    println!("wrote {}", path.display());
    // Name the config in the next commands only when they would not find it by themselves.
    let flag = match config {
        Some(c) => format!(" --config {}", c.display()),
        None => String::new(),
    };
    if folders.is_empty() {
        println!("edit the [[folder]] path in it, then run: shortpixel-agent{flag} check");
    } else {
        println!("next: `shortpixel-agent{flag} check`, then `shortpixel-agent{flag} run --once`");
    }
    Ok(0)
}
