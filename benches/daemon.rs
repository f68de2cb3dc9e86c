//! The daemon's benchmark: `cargo bench --bench daemon`.
//!
//! 1. **Latency**: the release binary runs as a daemon against the loopback emulator; photos
//!    are dropped one at a time and the time from the file being complete to it being
//!    replaced is measured. Reported beyond the settle window, next to the same upload done
//!    directly against the emulator in this run (the floor the agent cannot beat).
//! 2. **Idle**: with `BENCH_IDLE_FILES` (default 100,000) tracked files, CPU time and RSS of
//!    the idle daemon over `BENCH_IDLE_SECS` (default 30) seconds, read from /proc.
//!
//! Numbers print as a table; nothing here asserts, the README records them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::{codecs::jpeg::JpegEncoder, ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use shortpixel_emulator::Emulator;

const BIN: &str = env!("CARGO_BIN_EXE_shortpixel-agent");
const KEY: &str = "BENCHKEY";
const SETTLE: f64 = 1.0;

fn main() {
    let samples: usize = env_or("BENCH_LATENCY_FILES", 25);
    let idle_files: usize = env_or("BENCH_IDLE_FILES", 100_000);
    let idle_secs: u64 = env_or("BENCH_IDLE_SECS", 30);
    println!("daemon benchmark ({} cores)", cores());

    let (lat, floor) = latency(samples);
    let (cpu, rss, startup) = idle(idle_files, idle_secs);

    println!();
    println!("| measure | value |");
    println!("| --- | --- |");
    println!(
        "| new file -> replaced, beyond the {SETTLE} s settle window, p50 / p95 ({samples} files) | {:.0} ms / {:.0} ms |",
        lat.0, lat.1
    );
    println!(
        "| the same upload + download straight to the emulator (floor), p50 | {:.0} ms |",
        floor
    );
    println!(
        "| first scan of {idle_files} files until idle | {:.1} s |",
        startup.as_secs_f64()
    );
    println!(
        "| idle daemon, {idle_files} tracked files, {idle_secs} s: CPU time | {:.3} s |",
        cpu
    );
    println!("| idle daemon RSS | {:.1} MB |", rss as f64 / 1024.0);
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// p50 and p95 of new-file-to-replaced minus the settle window, and the floor's p50 (ms).
fn latency(samples: usize) -> ((f64, f64), f64) {
    let emu = Emulator::start_with_key(KEY, 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    write_config(dir.path(), &emu, &photos);
    let mut daemon = spawn(dir.path());
    wait_idle(dir.path(), 0, &mut daemon);

    let mut beyond = Vec::new();
    for i in 0..samples {
        let bytes = photo(640, 480, i as u64);
        let path = photos.join(format!("{i}.jpg"));
        let tmp = photos.join(format!(".{i}.jpg.part"));
        std::fs::write(&tmp, &bytes).unwrap();
        let t0 = Instant::now();
        std::fs::rename(&tmp, &path).unwrap();
        let len = bytes.len() as u64;
        loop {
            if std::fs::metadata(&path).is_ok_and(|m| m.len() != len) {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{i}.jpg never replaced"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        beyond.push(t0.elapsed().as_secs_f64() * 1000.0 - SETTLE * 1000.0);
    }
    stop(daemon);
    let mut floor: Vec<f64> = (0..samples)
        .map(|i| direct_round_trip(&emu, &photo(640, 480, 10_000 + i as u64)))
        .collect();
    (
        (percentile(&mut beyond, 0.5), percentile(&mut beyond, 0.95)),
        percentile(&mut floor, 0.5),
    )
}

/// One upload and one download against the emulator with a plain HTTP client (ms).
fn direct_round_trip(emu: &Emulator, bytes: &[u8]) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let url = format!("{}/v2/post-reducer.php", emu.url());
    rt.block_on(async {
        let t0 = Instant::now();
        let form = reqwest::multipart::Form::new()
            .text("key", KEY)
            .text("lossy", "1")
            .text("wait", "20")
            .text("file_paths", r#"{"file1":"x.jpg"}"#)
            .part(
                "file1",
                reqwest::multipart::Part::bytes(bytes.to_vec()).file_name("x.jpg"),
            );
        let reply: serde_json::Value = client
            .post(&url)
            .multipart(form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let dl = reply[0]["LossyURL"]
            .as_str()
            .expect("a result URL")
            .to_string();
        let _ = client.get(dl).send().await.unwrap().bytes().await.unwrap();
        t0.elapsed().as_secs_f64() * 1000.0
    })
}

/// (CPU seconds over the idle window, RSS in KiB, time to the first idle).
fn idle(files: usize, secs: u64) -> (f64, u64, Duration) {
    let emu = Emulator::start_with_key(KEY, 10_000_000);
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    // Tiny identical images: one upload, 100k tracked rows, one watch per folder.
    let tiny = photo(8, 8, 1);
    for i in 0..files {
        let sub = photos.join(format!("{:03}", i % 1000));
        if i < 1000 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        std::fs::write(sub.join(format!("{i}.jpg")), &tiny).unwrap();
    }
    write_config(dir.path(), &emu, &photos);
    let t0 = Instant::now();
    let mut daemon = spawn(dir.path());
    wait_idle(dir.path(), files, &mut daemon);
    let startup = t0.elapsed();
    // Let the last writes' events settle before measuring.
    std::thread::sleep(Duration::from_secs(3));
    let before = cpu_seconds(daemon.id());
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = cpu_seconds(daemon.id()) - before;
    let rss = rss_kib(daemon.id());
    stop(daemon);
    (cpu, rss, startup)
}

fn write_config(root: &Path, emu: &Emulator, photos: &Path) {
    let text = format!(
        "api_key = \"{KEY}\"\napi_url = \"{}\"\nledger = \"ledger.db\"\nbackup_dir = \"backups\"\nsettle = {SETTLE}\n\n[network]\npoll_interval_ms = 50\nserver_wait_secs = 20\n\n[[folder]]\npath = \"{}\"\n",
        emu.url(),
        photos.display()
    );
    std::fs::write(root.join("config.toml"), text).unwrap();
}

fn spawn(root: &Path) -> Child {
    Command::new(BIN)
        .arg("--config")
        .arg(root.join("config.toml"))
        .arg("run")
        .env("SHORTPIXEL_AGENT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the agent")
}

/// Waits until the ledger tracks `files` files and nothing is queued or in flight.
fn wait_idle(root: &Path, files: usize, daemon: &mut Child) {
    let t0 = Instant::now();
    loop {
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon exited");
        let out = Command::new(BIN)
            .arg("--config")
            .arg(root.join("config.toml"))
            .args(["status", "--json"])
            .output()
            .unwrap();
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            let tracked = v["totals"]["files"].as_u64().unwrap_or(0) as usize;
            let busy = v["daemon"]["queued"].as_u64().unwrap_or(1)
                + v["daemon"]["in_flight"].as_u64().unwrap_or(1);
            if v["daemon"]["running"] == true && tracked == files && busy == 0 {
                return;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(1800), "never idle");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop(mut daemon: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status();
    let _ = daemon.wait();
}

/// utime + stime of a process, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / clock_ticks() as f64
}

fn clock_ticks() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A photo-like JPEG: gradients plus grain, so it compresses like a real photo.
fn photo(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let img = RgbImage::from_fn(w, h, |x, y| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        let g = (s % 17) as f32 - 8.0;
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        let c = |v: f32| v.clamp(0.0, 255.0) as u8;
        Rgb([
            c(60.0 + 150.0 * fx + g),
            c(40.0 + 170.0 * fy - g),
            c(200.0 - 60.0 * (fx + fy) + g),
        ])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8)
        .unwrap();
    out
}
