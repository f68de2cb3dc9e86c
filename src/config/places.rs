//! Where the config puts things, and which places must not overlap. Each rule keeps a
//! guarantee:
//!
//! - two watched folders never overlap: one file would have two sets of settings;
//! - a mirror output never overlaps a watched folder (its own or another's): mirror copies
//!   would be taken for new photos, or photos overwritten as mirror copies;
//! - two mirror outputs never overlap: two folders' `x.jpg` would land on one file;
//! - the ledger and `backup_dir` are never inside a watched folder (a backup optimized in
//!   place destroys the original it holds, G1) nor inside a mirror output (which is
//!   published: the originals would be published with it).
//!
//! An error names both keys. Paths are compared as far as they exist, with symlinks
//! resolved; nothing is created.

use std::path::{Component, Path, PathBuf};

use super::validate::Errors;
use super::ConfigError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The agent's own state: `ledger`, `backup_dir`.
    Data,
    /// A watched folder.
    Folder,
    /// A mirror output.
    Output,
}

/// One configured path and the key it came from.
pub(super) struct Place {
    key: String,
    path: PathBuf,
    kind: Kind,
}

impl Place {
    pub fn data(key: &str, path: &Path) -> Place {
        Place {
            key: key.to_string(),
            path: resolved_existing(path),
            kind: Kind::Data,
        }
    }

    pub fn folder(i: usize, path: &Path) -> Place {
        Place {
            key: format!("folder[{i}].path"),
            path: path.to_path_buf(),
            kind: Kind::Folder,
        }
    }

    pub fn output(i: usize, path: &Path) -> Place {
        Place {
            key: format!("folder[{i}].output"),
            path: path.to_path_buf(),
            kind: Kind::Output,
        }
    }
}

/// Checks every pair of places; the error is reported at the later one's key (list the
/// agent's data last, so its errors name `backup_dir` or `ledger`).
pub(super) fn check(errors: &Errors, places: &[Place]) -> Result<(), ConfigError> {
    for (j, later) in places.iter().enumerate() {
        for earlier in &places[..j] {
            if let Some(why) = clash(earlier, later) {
                return Err(errors.at(&later.key, why));
            }
        }
    }
    Ok(())
}

/// What is wrong with `b` given `a`, if anything (the agent's data comes after the folders
/// and outputs, see [`check`]).
fn clash(a: &Place, b: &Place) -> Option<String> {
    let (p, q) = (&a.path, &b.path);
    let overlap = p.starts_with(q) || q.starts_with(p);
    let (a_key, b_path) = (&a.key, b.path.display());
    let inside = |data: &Place, other: &Place| data.path.starts_with(&other.path);
    match (a.kind, b.kind) {
        (Kind::Folder, Kind::Folder) if overlap => Some(format!(
            "{b_path} overlaps another folder ({a_key} = {}); a file may belong to one folder only",
            p.display()
        )),
        (Kind::Output, Kind::Output) if overlap => Some(format!(
            "{b_path} overlaps {a_key} ({}): two folders' files of the same name would be written to one mirror file; give each folder its own output",
            p.display()
        )),
        (Kind::Folder, Kind::Output) if overlap && same_folder(a, b) => Some(format!(
            "{b_path} overlaps the folder {}; the mirror must be outside it",
            p.display()
        )),
        (Kind::Folder, Kind::Output) | (Kind::Output, Kind::Folder) if overlap => Some(format!(
            "{b_path} overlaps {a_key} ({}): mirror copies would be taken for new photos, or photos overwritten by mirror copies; keep outputs and watched folders apart",
            p.display()
        )),
        (Kind::Folder, Kind::Data) if inside(b, a) => Some(format!(
            "{b_path} is inside the watched {a_key} ({}); keep the agent's data outside the folders it optimizes",
            p.display()
        )),
        (Kind::Output, Kind::Data) if inside(b, a) => Some(format!(
            "{b_path} is inside the mirror output {a_key} ({}), which is published: the originals would be published with it. Keep the agent's data outside the outputs",
            p.display()
        )),
        _ => None,
    }
}

/// Whether a folder and an output come from the same `[[folder]]` table.
fn same_folder(a: &Place, b: &Place) -> bool {
    let table = |p: &Place| p.key.split('.').next().map(str::to_string);
    table(a) == table(b)
}

/// `p` with symlinks resolved as far as it exists, and the rest (not created yet) cleaned of
/// `.` and `..`, so paths compare as the filesystem will see them.
pub(super) fn resolved_existing(p: &Path) -> PathBuf {
    let parts: Vec<Component> = p.components().collect();
    let Some(exists) = (0..=parts.len())
        .rev()
        .find(|&n| n > 0 && parts[..n].iter().collect::<PathBuf>().exists())
    else {
        return p.to_path_buf();
    };
    let existing: PathBuf = parts[..exists].iter().collect();
    let mut out = existing.canonicalize().unwrap_or(existing);
    for part in &parts[exists..] {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{load_str, Config};
    use super::*;

    /// Loads `text` from a config in a temp dir holding `a/` and `b/`.
    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "b"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        load_str(&dir.path().join("config.toml"), text, None)
    }

    fn mirror(path: &str, output: &str) -> String {
        format!("[[folder]]\npath = \"{path}\"\nmode = \"mirror\"\noutput = \"{output}\"\n")
    }

    #[track_caller]
    fn refused(text: &str, key: &str, names: &str) {
        let e = load(text).unwrap_err();
        assert_eq!(e.key, key, "{e}");
        assert!(e.message.contains(names), "should name {names}: {e}");
    }

    #[test]
    fn two_folders_with_the_same_or_nested_outputs_are_refused_naming_both_keys() {
        let same = format!("{}{}", mirror("a", "out"), mirror("b", "out"));
        refused(&same, "folder[1].output", "folder[0].output");
        let nested = format!("{}{}", mirror("a", "out"), mirror("b", "out/b"));
        refused(&nested, "folder[1].output", "folder[0].output");
        let apart = format!("{}{}", mirror("a", "out-a"), mirror("b", "out-b"));
        load(&apart).unwrap();
    }

    #[test]
    fn backups_or_ledger_inside_a_mirror_output_are_refused() {
        let text = format!("backup_dir = \"out/.backups\"\n{}", mirror("a", "out"));
        refused(&text, "backup_dir", "folder[0].output");
        let text = format!("ledger = \"out/ledger.db\"\n{}", mirror("a", "out"));
        refused(&text, "ledger", "folder[0].output");
    }

    #[test]
    fn backups_inside_a_watched_folder_are_refused() {
        refused(
            "backup_dir = \"a/.backups\"\n[[folder]]\npath = \"a\"\n",
            "backup_dir",
            "folder[0].path",
        );
        refused(
            "ledger = \"a/l.db\"\n[[folder]]\npath = \"a\"\n",
            "ledger",
            "folder[0].path",
        );
    }

    #[test]
    fn an_output_inside_another_folder_or_a_folder_inside_another_output_is_refused() {
        let text = format!("{}[[folder]]\npath = \"b\"\n", mirror("a", "b/web"));
        refused(&text, "folder[1].path", "folder[0].output");
        let text = format!("[[folder]]\npath = \"b\"\n{}", mirror("a", "b/web"));
        refused(&text, "folder[1].output", "folder[0].path");
        let text = format!("{}[[folder]]\npath = \"out/b\"\n", mirror("a", "out"));
        let e = load(&text).unwrap_err();
        assert!(e.message.contains("folder[0].output"), "{e}");
    }

    #[test]
    fn a_mirror_inside_its_own_folder_is_refused() {
        refused(
            &mirror("a", "a/web"),
            "folder[0].output",
            "overlaps the folder",
        );
    }

    #[test]
    fn not_yet_created_paths_compare_without_dots() {
        let dir = tempfile::tempdir().unwrap();
        let p = resolved_existing(&dir.path().join("x/../y/./z"));
        assert_eq!(p, dir.path().canonicalize().unwrap().join("y/z"));
    }
}
