//! Noticing changes: one notify watcher per folder, behind notify-debouncer-full (which keeps
//! the kernel's "events were lost" signal and stitches renames). The callback only turns
//! events into [`Change`]s and forwards them into a channel; all decisions are the daemon's.
//!
//! Only create, modify, close-after-write, rename and remove matter. Access events are dropped
//! here, so the agent's own reads never feed back into it (G5). Network filesystems do not
//! deliver native events for writes made by other machines, so `watch = "auto"` polls them.
//!
//! Nothing here is trusted to be complete: lost events, watch errors and the inotify watch
//! limit all end in a [`Change::Rescan`], and the daemon also reconciles on a timer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};
use notify::{PollWatcher, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    new_debouncer_opt, DebounceEventResult, Debouncer, FileIdCache, NoCache, RecommendedCache,
};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::{Config, WatchMode};

/// What the watcher saw, reduced to what the daemon acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Something at this path (a file or a folder) was created, changed or removed.
    Touched(PathBuf),
    /// A rename the OS reported as one move.
    Renamed { from: PathBuf, to: PathBuf },
    /// Events below this folder may have been lost: reconcile it with a stat walk.
    Rescan { path: PathBuf, why: String },
    /// No watch could be added for this folder (the OS watch limit): walk it on a timer.
    Unwatched(PathBuf),
}

/// How long a path must be free of events before the debouncer hands it over. This quiet
/// time counts towards the daemon's settle window (see `daemon::settle_window`).
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// How often the debouncer looks for quiet paths: the only timer that runs when idle.
const TICK: Duration = Duration::from_millis(100);

/// Held only to keep the watcher alive (dropping it stops the watcher).
#[allow(dead_code)]
enum Handle {
    Native(Debouncer<RecommendedWatcher, RecommendedCache>),
    Poll(Debouncer<PollWatcher, NoCache>),
}

/// The running watchers; dropping this stops them.
pub struct Watchers {
    _handles: Vec<Handle>,
    /// How each folder is watched, for the log and `status`.
    pub modes: Vec<(PathBuf, &'static str)>,
    /// Subtrees left without a watch by the OS watch limit: the daemon walks them on a
    /// timer (see `daemon::unwatched`).
    pub unwatched: Vec<PathBuf>,
}

/// Starts one watcher per folder. Problems (an unwatchable folder, the inotify limit) are
/// reported in words and the folder falls back to polling; the caller reconciles it.
pub fn start(config: &Config, tx: &UnboundedSender<Change>) -> Watchers {
    let mut handles = Vec::new();
    let mut modes = Vec::new();
    let mut unwatched = Vec::new();
    for folder in &config.folders {
        let poll = match folder.watch {
            WatchMode::Poll => true,
            WatchMode::Native => false,
            WatchMode::Auto => match network_fs(&folder.path) {
                Some(fs) => {
                    tracing::info!(
                        "{} is on a network filesystem ({fs}): polling it every {}s",
                        folder.path.display(),
                        config.watching.poll_interval.as_secs_f64()
                    );
                    true
                }
                None => false,
            },
        };
        if !poll {
            match watcher(
                &folder.path,
                tx,
                RecommendedCache::new(),
                notify::Config::default(),
            ) {
                Ok(h) => {
                    handles.push(Handle::Native(h));
                    modes.push((folder.path.clone(), "native"));
                    continue;
                }
                // Too many folders for the limit: watch what fits, walk the rest on a timer
                // (a polling watcher would hold the whole tree in memory).
                Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                    let (h, rest) = partly(folder, tx);
                    say_limit_once(&folder.path, rest.len(), config);
                    handles.extend(h.map(Handle::Native));
                    modes.push((folder.path.clone(), "native where the watch limit allows"));
                    unwatched.extend(rest);
                    continue;
                }
                Err(e) => {
                    let why = describe(&e, &folder.path);
                    tracing::warn!("{why}; polling it instead");
                    let _ = tx.send(Change::Rescan {
                        path: folder.path.clone(),
                        why,
                    });
                }
            }
        }
        let every = notify::Config::default().with_poll_interval(config.watching.poll_interval);
        match watcher(&folder.path, tx, NoCache, every) {
            Ok(h) => {
                handles.push(Handle::Poll(h));
                modes.push((folder.path.clone(), "poll"));
            }
            Err(e) => {
                // The periodic reconcile still covers this folder.
                tracing::error!(
                    "{}; only the rescan every {}s will see its changes",
                    describe(&e, &folder.path),
                    config.watching.rescan_interval.as_secs()
                );
                modes.push((folder.path.clone(), "rescan only"));
            }
        }
    }
    Watchers {
        _handles: handles,
        modes,
        unwatched,
    }
}

/// Watches `folder` as far as the OS limit allows: its own entries, then each subfolder's
/// whole tree while watches remain. Returns the watcher (if even the folder itself could be
/// watched) and the subtrees left to walk, the one the limit ran out in included.
fn partly(
    folder: &crate::config::Folder,
    tx: &UnboundedSender<Change>,
) -> (
    Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    Vec<PathBuf>,
) {
    let root = &folder.path;
    let Ok(mut d) = new_debouncer_opt(
        DEBOUNCE,
        Some(TICK),
        forwarder(root, tx),
        RecommendedCache::new(),
        notify::Config::default(),
    ) else {
        return (None, vec![root.clone()]);
    };
    if d.watch(root, RecursiveMode::NonRecursive).is_err() {
        return (None, vec![root.clone()]);
    }
    let mut subfolders: Vec<PathBuf> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| !crate::scan::ignored(folder, p))
        .collect();
    subfolders.sort();
    let mut rest = Vec::new();
    for (i, sub) in subfolders.iter().enumerate() {
        match d.watch(sub, RecursiveMode::Recursive) {
            Ok(()) => {}
            Err(e) if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) => {
                rest.extend(subfolders[i..].iter().cloned());
                break;
            }
            // Unreadable, or gone meanwhile: the walks cover it.
            Err(_) => rest.push(sub.clone()),
        }
    }
    (Some(d), rest)
}

/// The limit is said once per process, with the command that raises it.
fn say_limit_once(root: &Path, unwatched: usize, config: &Config) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let raise = limit.map_or(524_288, |l| (l * 4).max(524_288));
    tracing::warn!(
        "the system's inotify watch limit{} is reached while watching {}: {unwatched} folder(s) there are checked by a walk instead (at most every {}s, spaced to cost about 1% of a core), so their changes show up later. \
         Raise the limit with `sudo sysctl fs.inotify.max_user_watches={raise}` (and put fs.inotify.max_user_watches={raise} in /etc/sysctl.d/90-shortpixel-agent.conf to keep it), then restart the agent",
        limit.map(|l| format!(" ({l})")).unwrap_or_default(),
        root.display(),
        config.watching.poll_interval.as_secs_f64()
    );
}

/// A debounced recursive watch of `root` with watcher `W` (native or polling).
fn watcher<W: notify::Watcher, C: FileIdCache + Send + 'static>(
    root: &Path,
    tx: &UnboundedSender<Change>,
    cache: C,
    config: notify::Config,
) -> notify::Result<Debouncer<W, C>> {
    let mut d = new_debouncer_opt(DEBOUNCE, Some(TICK), forwarder(root, tx), cache, config)?;
    d.watch(root, RecursiveMode::Recursive)?;
    Ok(d)
}

/// The callback: translate and forward, nothing else.
fn forwarder(root: &Path, tx: &UnboundedSender<Change>) -> impl FnMut(DebounceEventResult) {
    let root = root.to_path_buf();
    let tx = tx.clone();
    move |result| match result {
        Ok(events) => {
            for e in events {
                for change in translate(&root, &e.event) {
                    let _ = tx.send(change);
                }
            }
        }
        Err(errors) => {
            for e in errors {
                // A new folder past the watch limit: its tree is walked on a timer instead.
                if matches!(e.kind, notify::ErrorKind::MaxFilesWatch) && !e.paths.is_empty() {
                    for p in &e.paths {
                        let _ = tx.send(Change::Unwatched(p.clone()));
                    }
                    continue;
                }
                let _ = tx.send(Change::Rescan {
                    path: root.clone(),
                    why: describe(&e, &root),
                });
            }
        }
    }
}

/// Maps one notify event to the changes the daemon cares about.
pub fn translate(root: &Path, e: &notify::Event) -> Vec<Change> {
    if e.need_rescan() {
        return vec![Change::Rescan {
            path: root.to_path_buf(),
            why: "the OS dropped change events (too many at once)".into(),
        }];
    }
    match e.kind {
        // Reads (ours included) are not changes; a close after writing is.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => touched(e),
        EventKind::Access(_) => Vec::new(),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if e.paths.len() == 2 => {
            vec![Change::Renamed {
                from: e.paths[0].clone(),
                to: e.paths[1].clone(),
            }]
        }
        _ => touched(e),
    }
}

fn touched(e: &notify::Event) -> Vec<Change> {
    e.paths.iter().cloned().map(Change::Touched).collect()
}

/// A watch error in words a user can act on.
fn describe(e: &notify::Error, root: &Path) -> String {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => format!(
            "cannot watch every folder under {}: the system's inotify watch limit is reached. \
             Raise it with `sudo sysctl fs.inotify.max_user_watches=524288` (and put \
             fs.inotify.max_user_watches=524288 in /etc/sysctl.d/ to keep it)",
            root.display()
        ),
        _ => format!("cannot watch {}: {e}", root.display()),
    }
}

/// The filesystem type of the mount holding `path`, when it is one where native events
/// miss other machines' writes (NFS, SMB/CIFS, 9P, FUSE and the like).
pub fn network_fs(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let (_, fstype) = mounts
        .lines()
        .filter_map(parse_mountinfo)
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.as_os_str().len())?;
    is_network_fs(&fstype).then_some(fstype)
}

fn is_network_fs(fstype: &str) -> bool {
    const REMOTE: &[&str] = &[
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "9p",
        "afs",
        "ceph",
        "glusterfs",
        "davfs",
        "virtiofs",
        "fuse",
        "lustre",
        "gpfs",
    ];
    // fuseblk is a local disk (NTFS, exFAT) through FUSE: native events work there.
    REMOTE.contains(&fstype) || (fstype.starts_with("fuse.") && fstype != "fuseblk")
}

/// One line of /proc/self/mountinfo: (mount point, filesystem type).
fn parse_mountinfo(line: &str) -> Option<(PathBuf, String)> {
    let (left, right) = line.split_once(" - ")?;
    let mount = left.split(' ').nth(4)?;
    let fstype = right.split(' ').next()?;
    Some((PathBuf::from(unescape(mount)), fstype.to_string()))
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(b) => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::Event;

    #[test]
    fn mountinfo_lines_give_mount_point_and_type() {
        let line = "36 35 98:0 / /mnt/my\\040share rw,noatime master:1 - cifs //nas/photos rw";
        assert_eq!(
            parse_mountinfo(line),
            Some((PathBuf::from("/mnt/my share"), "cifs".to_string()))
        );
        let opt = "40 1 0:42 / /srv rw shared:5 master:3 - nfs4 nas:/srv rw";
        assert_eq!(parse_mountinfo(opt).unwrap().1, "nfs4");
    }

    #[test]
    fn network_filesystems_are_recognised() {
        for fs in [
            "nfs",
            "nfs4",
            "cifs",
            "smb3",
            "9p",
            "fuse.sshfs",
            "fuse.rclone",
        ] {
            assert!(is_network_fs(fs), "{fs}");
        }
        for fs in ["ext4", "btrfs", "xfs", "zfs", "tmpfs", "fuseblk", "overlay"] {
            assert!(!is_network_fs(fs), "{fs}");
        }
    }

    #[test]
    fn reads_are_not_changes_but_writes_and_renames_are() {
        let root = Path::new("/r");
        let ev = |kind| Event::new(kind).add_path("/r/a.jpg".into());
        assert!(translate(
            root,
            &ev(EventKind::Access(AccessKind::Open(AccessMode::Any)))
        )
        .is_empty());
        assert!(translate(
            root,
            &ev(EventKind::Access(AccessKind::Close(AccessMode::Read)))
        )
        .is_empty());
        assert_eq!(
            translate(
                root,
                &ev(EventKind::Access(AccessKind::Close(AccessMode::Write)))
            ),
            vec![Change::Touched("/r/a.jpg".into())]
        );
        let rename = Event::new(EventKind::Modify(ModifyKind::Name(RenameMode::Both)))
            .add_path("/r/a.jpg".into())
            .add_path("/r/b.jpg".into());
        assert_eq!(
            translate(root, &rename),
            vec![Change::Renamed {
                from: "/r/a.jpg".into(),
                to: "/r/b.jpg".into()
            }]
        );
        let lost = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        assert!(matches!(
            translate(root, &lost)[..],
            [Change::Rescan { .. }]
        ));
    }
}
