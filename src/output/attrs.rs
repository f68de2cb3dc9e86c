//! Extended attributes travel with a file's bytes: Samba's `user.DOSATTRIB`, macOS Finder
//! tags and comments, `security.*` labels where permitted, and POSIX ACLs, which the kernel
//! keeps as the `system.posix_acl_access` attribute. A replace, a restore or a mirror copy
//! is a new file, so without this NAS users would see their ACLs and tags vanish.
//!
//! Reading and writing go through open descriptors (never through a path that could be
//! swapped). A file system that cannot keep attributes (or refuses one, as `trusted.*`
//! needs privileges) loses them; that is said once per file system, not once per file.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;

use xattr::FileExt;

/// A file's extended attributes, names and values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs(pub Vec<(OsString, Vec<u8>)>);

impl Attrs {
    /// The attributes of an open file; none where the file system has none to give.
    pub fn of(file: &File) -> Attrs {
        let Ok(names) = file.list_xattr() else {
            return Attrs::default();
        };
        Attrs(
            names
                .filter_map(|n| Some((n.clone(), file.get_xattr(&n).ok()??)))
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets every attribute on `file`, which will become `target`. What cannot be kept is
    /// reported once per file system (see the module doc); it never fails the write.
    pub fn apply(&self, file: &File, target: &Path) {
        let mut lost = Vec::new();
        for (name, value) in &self.0 {
            if let Err(e) = file.set_xattr(name, value) {
                lost.push(format!("{} ({e})", name.to_string_lossy()));
            }
        }
        if !lost.is_empty() {
            say_once(file, target, &lost);
        }
    }
}

/// File systems (by device) already told about.
static TOLD: Mutex<Option<HashSet<u64>>> = Mutex::new(None);

fn say_once(file: &File, target: &Path, lost: &[String]) {
    use std::os::unix::fs::MetadataExt;
    let dev = file.metadata().map(|m| m.dev()).unwrap_or(0);
    let mut told = TOLD.lock().unwrap_or_else(|p| p.into_inner());
    if told.get_or_insert_with(HashSet::new).insert(dev) {
        tracing::warn!(
            "the file system holding {} cannot keep some extended attributes or ACLs of the files the agent writes there (e.g. {}); those are lost on replace, restore and in mirror copies (said once for this file system)",
            target.parent().unwrap_or(target).display(),
            lost.join(", ")
        );
    }
}
