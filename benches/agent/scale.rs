//! `scale`: a photo-library-shaped tree of `BENCH_SCALE_FILES` small images (1,000,000 when
//! the scenario is named, 20,000 in the plain `cargo bench` run), through the first pass of
//! `run --once` and of the daemon, a restart rescan, an idle daemon, and `status`.
//!
//! Every figure has its baseline from the same run: the first pass against `cp` of the same
//! files into a backup folder plus `sync`; memory against a first pass over a tenth of the
//! files (flat means bounded); the rescan against `find -printf`; `status` against a plain
//! `SELECT count(*)` on the same ledger.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{agent, config_for, cpu_seconds, status_kib, stop, Row, BIN};

/// A tree shaped like a photo library: years / months / events, 50–2,000 files a folder,
/// and a few huge folders (a phone's camera roll dumped in one place).
fn library(root: &Path, files: usize, image: &[u8]) -> usize {
    let mut written = 0;
    let mut folders = 0;
    let mut n = 0u64;
    while written < files {
        n += 1;
        // Sizes from a cheap deterministic spread: mostly 50–400, every 25th folder 2,000,
        // every 200th a huge one of 20,000.
        let size = if n.is_multiple_of(200) {
            20_000
        } else if n.is_multiple_of(25) {
            2_000
        } else {
            50 + (n * 7919 % 350) as usize
        };
        let size = size.min(files - written);
        let dir = root.join(format!("{}/{:02}/event-{n:05}", 2000 + n % 25, 1 + n % 12));
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..size {
            std::fs::write(dir.join(format!("IMG_{i:05}.png")), image).unwrap();
        }
        written += size;
        folders += 1;
    }
    folders
}

/// A tiny real PNG with room to shrink (unoptimised filter choice and zlib level).
fn tiny_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(24, 16, |x, y| {
        image::Rgb([(x * 10) as u8, (y * 15) as u8, ((x + y) * 5) as u8])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    )
    .write_image(img.as_raw(), 24, 16, image::ExtendedColorType::Rgb8)
    .unwrap();
    out
}

use image::ImageEncoder;

/// Peak RSS in MB of a command run to its end, from the kernel's own accounting (wait4).
fn run_measured(mut cmd: Command) -> (std::process::ExitStatus, f64, f64) {
    let t0 = Instant::now();
    let child = cmd.stdout(Stdio::null()).spawn().expect("start");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `usage` is a plain struct the kernel fills.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let secs = t0.elapsed().as_secs_f64();
    std::mem::forget(child);
    let exit = std::os::unix::process::ExitStatusExt::from_raw(status);
    (exit, usage.ru_maxrss as f64 / 1024.0, secs)
}

/// `run --once` on the tree at `root`, which must succeed: (peak RSS in MB, seconds).
fn run_once_measured(root: &Path) -> (f64, f64) {
    let mut cmd = Command::new(BIN);
    cmd.arg("--config")
        .arg(root.join("config.toml"))
        .args(["run", "--once"])
        .env("SHORTPIXEL_AGENT_LOG", "warn");
    let (exit, rss, secs) = run_measured(cmd);
    assert!(exit.success(), "run --once failed in {}", root.display());
    (rss, secs)
}

/// `a` and `b` run alternately `n` times: the median seconds of each.
fn alternating(n: usize, mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (f64, f64) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for _ in 0..n {
        xs.push(a());
        ys.push(b());
    }
    (super::median(&mut xs), super::median(&mut ys))
}

/// A fresh tree of `files` images with its config (built-in optimizer, lossless).
fn setup(files: usize, image: &[u8]) -> (tempfile::TempDir, usize) {
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    let folders = library(&photos, files, image);
    config_for(dir.path(), &photos, None, "");
    // Lossless: the tree's cost is the agent's own work, not the encoder's.
    let path = dir.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap() + "compression = \"lossless\"\n";
    std::fs::write(&path, text).unwrap();
    (dir, folders)
}

pub fn scale(files: usize) -> Vec<Row> {
    let image = tiny_png();
    let small = (files / 10).max(1000);
    let mut rows = Vec::new();

    // Memory: the same first pass over a tenth of the files and over all of them.
    println!("scale: {small} files, first pass (run --once)");
    let (small_dir, _) = setup(small, &image);
    let (rss_small, _) = run_once_measured(small_dir.path());
    drop(small_dir);
    println!("scale: writing {files} files");
    let (dir, folders) = setup(files, &image);
    let root = dir.path();
    let photos = root.join("photos");
    println!("scale: {files} files in {folders} folders, first pass (run --once)");
    let (rss, secs) = run_once_measured(root);
    rows.push(Row {
        scenario: format!("first pass, {files} files: peak RSS of run --once"),
        agent: format!("{rss:.0} MB"),
        baseline: format!("{small} files: {rss_small:.0} MB"),
        ratio: format!("{:.2}×", rss / rss_small),
        target: "≤ 64 MB, flat",
        met: Some(rss <= 64.0 && rss <= rss_small * 1.25),
    });

    // Speed: the same files copied into a backup folder and flushed.
    let copy = root.join("cp-baseline");
    let t0 = Instant::now();
    let ok = Command::new("cp")
        .arg("-r")
        .arg(&photos)
        .arg(&copy)
        .status()
        .unwrap()
        .success()
        && Command::new("sync").status().unwrap().success();
    assert!(ok, "cp baseline failed");
    let cp_secs = t0.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&copy).unwrap();
    rows.push(Row {
        scenario: format!("first pass, {files} files: speed (lossless, backups kept)"),
        agent: format!("{:.0} files/s ({secs:.0} s)", files as f64 / secs),
        baseline: format!("cp + sync: {:.0} files/s", files as f64 / cp_secs),
        ratio: format!("{:.2}× cp's time", secs / cp_secs),
        target: "report",
        met: None,
    });

    // Ledger size per tracked file.
    let ledger_bytes: u64 = ["ledger.db", "ledger.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(root.join(f)).ok())
        .map(|m| m.len())
        .sum();
    rows.push(Row {
        scenario: format!("ledger, {files} tracked files"),
        agent: format!("{:.0} bytes/file", ledger_bytes as f64 / files as f64),
        baseline: "—".into(),
        ratio: "—".into(),
        target: "report",
        met: None,
    });

    // Restart rescan against find.
    let walk = || super::find_walk(&photos);
    walk();
    let mut r = 0f64;
    let rescan = || {
        let (rss, secs) = run_once_measured(root);
        r = r.max(rss);
        secs
    };
    let (a, b) = alternating(3, rescan, walk);
    rows.push(Row {
        scenario: format!("restart rescan, {files} unchanged files"),
        agent: format!("run --once {:.2} s, peak RSS {r:.0} MB", a),
        baseline: format!("find -printf {:.2} s", b),
        ratio: format!("{:.2}× the walk", a / b),
        target: "≤ 1.3×, ≤ 40 MB",
        met: Some(a / b <= 1.3 && r <= 40.0),
    });

    // Status against a plain count.
    let status = || {
        let t0 = Instant::now();
        let out = agent(root, &["status", "--json"], "warn");
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["totals"]["files"].as_u64(), Some(files as u64));
        t0.elapsed().as_secs_f64()
    };
    let count = || {
        let t0 = Instant::now();
        let conn = rusqlite::Connection::open(root.join("ledger.db")).unwrap();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n as usize, files);
        t0.elapsed().as_secs_f64()
    };
    let (s, c) = alternating(3, status, count);
    rows.push(Row {
        scenario: format!("status --json, {files}-file ledger"),
        agent: format!("{:.2} s", s),
        baseline: format!("SELECT count(*) {:.2} s", c),
        ratio: format!("{:.1}×", s / c),
        target: "< 1 s",
        met: Some(s < 1.0),
    });

    // The daemon: its first pass on a fresh copy of the tree's shape, then idle (more than
    // half of the scenario's time at a million; `BENCH_SCALE_DAEMON=0` leaves it out).
    drop(dir);
    if std::env::var_os("BENCH_SCALE_DAEMON").is_some_and(|v| v == "0") {
        return rows;
    }
    println!("scale: {files} files, first pass (daemon)");
    let (dir, _) = setup(files, &image);
    rows.extend(daemon(dir.path(), files, folders));
    rows
}

/// The daemon's first pass (peak RSS), what its watches need against the limit, and its
/// CPU once idle.
fn daemon(root: &Path, files: usize, folders: usize) -> Vec<Row> {
    let mut child = super::spawn(root);
    let t0 = Instant::now();
    super::wait_idle(root, files, &mut child);
    let secs = t0.elapsed().as_secs_f64();
    let peak = status_kib(child.id(), "VmHWM") as f64 / 1024.0;
    std::thread::sleep(Duration::from_secs(3));
    let before = cpu_seconds(child.id());
    std::thread::sleep(Duration::from_secs(30));
    let cpu = cpu_seconds(child.id()) - before;
    let rss = status_kib(child.id(), "VmRSS") as f64 / 1024.0;
    stop(child);
    let limit = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    // Each event folder, its month and year folders, and the root need a watch.
    let watches = super::count_dirs(&root.join("photos"));
    vec![
        Row {
            scenario: format!("first pass, {files} files: peak RSS of the daemon"),
            agent: format!("{peak:.0} MB ({secs:.0} s)"),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "≤ 64 MB",
            met: Some(peak <= 64.0),
        },
        Row {
            scenario: format!("daemon idle after the first pass, {folders} event folders, 30 s"),
            agent: format!("CPU {cpu:.2} s, RSS {rss:.0} MB"),
            baseline: format!(
                "{watches} watches needed, limit {}",
                limit.map_or("unknown".into(), |l| l.to_string())
            ),
            ratio: "—".into(),
            target: "≤ 0.5 s CPU",
            met: Some(cpu <= 0.5),
        },
    ]
}
