//! `init [FOLDER...]`: writes the commented starter config; refuses to overwrite one.
//! `run --once FOLDER` uses the same writer when there is no config yet.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::hint;
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
    write(&path, &starter_text(folders)?)?;
    println!("wrote {}", path.display());
    if folders.is_empty() {
        println!(
            "edit the [[folder]] path in it, then run: {}",
            hint::command("check")
        );
    } else {
        println!(
            "next: `{}` (what the agent would do, changing nothing), then `{}`",
            hint::command("run --once --dry-run"),
            hint::command("run --once")
        );
    }
    Ok(0)
}

/// The starter config for `folders` (each must be an existing folder), not yet written.
pub fn starter_text(folders: &[PathBuf]) -> anyhow::Result<String> {
    let mut abs = Vec::new();
    for f in folders {
        let a = f
            .canonicalize()
            .with_context(|| format!("the folder {} cannot be opened", f.display()))?;
        if !a.is_dir() {
            return Err(super::Usage(format!("{} is not a folder", f.display())).into());
        }
        abs.push(a);
    }
    let refs: Vec<&Path> = abs.iter().map(PathBuf::as_path).collect();
    Ok(starter::render(&refs))
}

/// Writes a new config file; never clobbers one that appeared meanwhile.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("while creating {}", dir.display()))?;
    }
    let mut file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("while creating {}", path.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("while writing {}", path.display()))?;
    Ok(())
}
