//! The agent's benchmark suite: `cargo bench --bench agent` (all scenarios), or name some:
//! `cargo bench --bench agent -- scan rescan`.
//!
//! Every scenario builds its own data in a temp dir and measures a baseline in the same run,
//! on the same files, because these machines are shared and noisy. The figures print as a
//! table of ratios at the end; the README's "Performance" section records the last one.
//!
//! | scenario | what runs | baseline |
//! | --- | --- | --- |
//! | `scan`    | the agent's scan (the function `run` calls) over ~2 GB of JPEGs, fresh ledger | `b3sum` over the same files |
//! | `rescan`  | `run --once` on 100k unchanged, already optimized files | `find -printf '%s %T@\n'` |
//! | `ingest`  | 100k new rows written to the ledger the way the scan writes them | — |
//! | `remote`  | `run --once`, 1,000 images, emulator with 100 ms latency and 2 s processing, `concurrency = 4` and 8 | the previous design (`wait` on upload) at `concurrency = 1`; the floor: 2 s plus the bare uploads and downloads made straight to the emulator, all at once |
//! | `kill`    | the daemon killed (SIGKILL) at 20 random moments over 300 images, default concurrency, then `run --once`: uploads per image | the previous design, same kills |
//! | `latency` | the daemon: a new file until it is replaced | settle window + a direct emulator round trip |
//! | `idle`    | the daemon with 100k tracked files, 60 s | — |
//! | `scale`   | first pass, rescan, idle daemon and `status` over a photo-library tree | a tenth of the files; `cp` + `sync`; `find`; `SELECT count(*)` |
//!
//! `BENCH_KEEP=1` keeps the 100k-file tree (with its config) for profiling by hand.
//! The previous design is the agent as it was at [`PREVIOUS`], built once from git into
//! `target/bench-tools/previous` (`BENCH_PREVIOUS=/path/to/shortpixel-agent` names another
//! binary); without git history its rows say so and are skipped.
//! Sizes can be changed with `BENCH_SCAN_FILES`, `BENCH_SCAN_KB`, `BENCH_TREE_FILES`,
//! `BENCH_REMOTE_FILES`, `BENCH_KILL_FILES`, `BENCH_LATENCY_FILES`, `BENCH_IDLE_SECS`,
//! `BENCH_SCALE_FILES` (1,000,000 when `scale` is named, 20,000 in a run of every scenario);
//! `BENCH_SCALE_DAEMON=0` leaves the daemon's first pass and idle rows out of `scale`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use image::{codecs::jpeg::JpegEncoder, ExtendedColorType, ImageEncoder, Rgb, RgbImage};
use shortpixel_agent::config::Config;
use shortpixel_agent::ledger::{FileRow, Ledger, Stat, State};
use shortpixel_agent::scan::{self, Leftovers};
use shortpixel_emulator::Emulator;

#[path = "agent/scale.rs"]
mod scale;

const BIN: &str = env!("CARGO_BIN_EXE_shortpixel-agent");
const KEY: &str = "BENCHKEY";
const SETTLE: f64 = 1.0;

/// One line of the final table.
struct Row {
    scenario: String,
    agent: String,
    baseline: String,
    ratio: String,
    target: &'static str,
    met: Option<bool>,
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let on = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    println!(
        "shortpixel-agent benchmarks: {} cores, {}",
        cores(),
        cpu_model()
    );
    let mut rows = Vec::new();
    if on("scan") {
        rows.push(scan_vs_b3sum());
    }
    if on("ingest") {
        rows.push(ingest());
    }
    if on("rescan") || on("idle") {
        let tree = Tree::build(env_or("BENCH_TREE_FILES", 100_000));
        if on("rescan") {
            rows.push(rescan_vs_find(&tree));
        }
        if on("idle") {
            rows.extend(idle(&tree, env_or("BENCH_IDLE_SECS", 60)));
        }
    }
    if on("remote") {
        rows.extend(remote(env_or("BENCH_REMOTE_FILES", 1000)));
    }
    if on("kill") {
        rows.extend(kills(env_or("BENCH_KILL_FILES", 300)));
    }
    if on("scale") {
        let named = wanted.iter().any(|w| w == "scale");
        let default = if named { 1_000_000 } else { 20_000 };
        rows.extend(scale::scale(env_or("BENCH_SCALE_FILES", default)));
    }
    if on("latency") {
        rows.push(latency(env_or("BENCH_LATENCY_FILES", 25)));
    }

    println!();
    println!("| scenario | agent | baseline (same run) | ratio | target | met |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "—",
        };
        println!(
            "| {} | {} | {} | {} | {} | {met} |",
            r.scenario, r.agent, r.baseline, r.ratio, r.target
        );
    }
}

// ---------------------------------------------------------------------------------------
// scan: cold scan + hash against b3sum

fn scan_vs_b3sum() -> Row {
    let files: usize = env_or("BENCH_SCAN_FILES", 5000);
    let kb: usize = env_or("BENCH_SCAN_KB", 400);
    let b3sum = b3sum();
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    println!("scan: writing {files} JPEGs of ~{kb} KB");
    let bases: Vec<Vec<u8>> = (0..8).map(|s| photo_of_size(kb * 1024, s)).collect();
    let mut paths = Vec::with_capacity(files);
    let mut total = 0u64;
    for i in 0..files {
        let sub = photos.join(format!("{:02}", i % 50));
        if i < 50 {
            std::fs::create_dir_all(&sub).unwrap();
        }
        let bytes = with_comment(&bases[i % bases.len()], i as u64);
        total += bytes.len() as u64;
        let p = sub.join(format!("IMG_{i:05}.jpg"));
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    let config = config_for(dir.path(), &photos, None, "");
    let mb = total as f64 / 1e6;

    let run_b3sum = || {
        let t0 = Instant::now();
        let ok = Command::new(&b3sum)
            .args(&paths)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "b3sum failed");
        t0.elapsed().as_secs_f64()
    };
    let run_agent = |n: usize| {
        let ledger_path = dir.path().join(format!("scan-{n}.db"));
        let mut ledger = Ledger::open(&ledger_path).unwrap();
        let t0 = Instant::now();
        let report = scan::scan_folder(&mut ledger, &config.folders[0], Leftovers::Keep).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(report.hashed, files, "every file hashed once");
        drop(ledger);
        let _ = std::fs::remove_file(&ledger_path);
        secs
    };
    run_b3sum(); // both measured with the files in the page cache
    let mut agent = Vec::new();
    let mut base = Vec::new();
    for n in 0..3 {
        agent.push(run_agent(n));
        base.push(run_b3sum());
    }
    let (a, b) = (median(&mut agent), median(&mut base));
    let ratio = b / a; // throughput ratio: agent MB/s over b3sum MB/s
    Row {
        scenario: format!("cold scan + hash, {files} files, {:.1} GB", mb / 1000.0),
        agent: format!("{:.2} s, {:.0} MB/s", a, mb / a),
        baseline: format!("b3sum {:.2} s, {:.0} MB/s", b, mb / b),
        ratio: format!("{ratio:.2}× b3sum's throughput"),
        target: "≥ 0.8×",
        met: Some(ratio >= 0.8),
    }
}

/// b3sum from PATH, or installed from crates.io into the target dir once.
fn b3sum() -> PathBuf {
    if Command::new("b3sum").arg("--version").output().is_ok() {
        return PathBuf::from("b3sum");
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tools");
    let bin = root.join("bin/b3sum");
    if !bin.exists() {
        println!("installing b3sum from crates.io into {}", root.display());
        let ok = Command::new(env!("CARGO"))
            .args(["install", "b3sum", "--locked", "--quiet", "--root"])
            .arg(&root)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cargo install b3sum failed");
    }
    bin
}

// ---------------------------------------------------------------------------------------
// ingest: ledger rows per second

fn ingest() -> Row {
    let n = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(&dir.path().join("ledger.db")).unwrap();
    let folder = PathBuf::from("/srv/photos");
    let rows: Vec<FileRow> = (0..n)
        .map(|i| FileRow {
            path: folder.join(format!("{:03}/IMG_{i:06}.jpg", i % 1000)),
            folder: folder.clone(),
            stat: Stat {
                size: 100_000 + i as u64,
                mtime_ns: 1_700_000_000_000_000_000 + i as i64,
                inode: 1_000_000 + i as u64,
            },
            hash: blake3::hash(&(i as u64).to_le_bytes()).to_hex().to_string(),
            format: Some("jpeg".into()),
            state: State::New,
            reason: None,
            orig_hash: None,
            orig_size: None,
            opt_size: None,
        })
        .collect();
    let t0 = Instant::now();
    ledger.upsert_files(&rows).unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert_eq!(ledger.all_files().unwrap().len(), n);
    let rate = n as f64 / secs;
    Row {
        scenario: format!("ledger bulk ingest, {n} new files"),
        agent: format!("{secs:.2} s, {:.0}k rows/s", rate / 1000.0),
        baseline: "—".into(),
        ratio: "—".into(),
        target: "≥ 100k rows/s",
        met: Some(rate >= 100_000.0),
    }
}

// ---------------------------------------------------------------------------------------
// The 100k-file tree shared by `rescan` and `idle`

struct Tree {
    dir: tempfile::TempDir,
    files: usize,
    first_pass: f64,
}

impl Tree {
    /// Small photos in 1,000 folders, taken through a first `run --once` by the built-in
    /// optimizer, so every file is tracked and optimized.
    fn build(files: usize) -> Tree {
        let mut dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        println!("tree: writing {files} small JPEGs");
        let base = photo(48, 32, 7);
        for i in 0..files {
            let sub = photos.join(format!("{:03}", i % 1000));
            if i < 1000 {
                std::fs::create_dir_all(&sub).unwrap();
            }
            std::fs::write(sub.join(format!("{i}.jpg")), &base).unwrap();
        }
        config_for(dir.path(), &photos, None, "");
        println!("tree: first pass (run --once, built-in optimizer)");
        let t0 = Instant::now();
        let out = agent(dir.path(), &["run", "--once"], "warn");
        assert!(out.status.success(), "first pass failed: {out:?}");
        let first_pass = t0.elapsed().as_secs_f64();
        println!(
            "tree: first pass {first_pass:.1} s: {}",
            String::from_utf8_lossy(&out.stdout).trim()
        );
        if std::env::var_os("BENCH_KEEP").is_some() {
            dir.disable_cleanup(true);
            println!("tree: kept at {}", dir.path().display());
        }
        Tree {
            dir,
            files,
            first_pass,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

fn rescan_vs_find(tree: &Tree) -> Row {
    let photos = tree.root().join("photos");
    let walk = || find_walk(&photos);
    let rescan = || {
        let t0 = Instant::now();
        let out = agent(tree.root(), &["run", "--once"], "info");
        let secs = t0.elapsed().as_secs_f64();
        assert!(out.status.success(), "rescan failed: {out:?}");
        let log = String::from_utf8_lossy(&out.stderr);
        let expected = format!("0 new or changed, 0 gone, {} unchanged", tree.files);
        assert!(
            log.contains(&expected),
            "the rescan re-hashed or lost files: {log}"
        );
        secs
    };
    walk();
    let mut agent_t = Vec::new();
    let mut base = Vec::new();
    for _ in 0..5 {
        agent_t.push(rescan());
        base.push(walk());
    }
    let (a, b) = (median(&mut agent_t), median(&mut base));
    let ratio = a / b;
    Row {
        scenario: format!(
            "restart rescan, {} unchanged files (first pass: {:.0} s)",
            tree.files, tree.first_pass
        ),
        agent: format!("run --once {:.0} ms, 0 re-hashed", a * 1000.0),
        baseline: format!("find -printf {:.0} ms", b * 1000.0),
        ratio: format!("{ratio:.2}× the walk"),
        target: "≤ 1.5×",
        met: Some(ratio <= 1.5),
    }
}

fn idle(tree: &Tree, secs: u64) -> Vec<Row> {
    let mut daemon = spawn(tree.root());
    let t0 = Instant::now();
    wait_idle(tree.root(), tree.files, &mut daemon);
    let startup = t0.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    let before = cpu_seconds(daemon.id());
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = cpu_seconds(daemon.id()) - before;
    let rss = status_kib(daemon.id(), "VmRSS") as f64 / 1024.0;
    let peak = status_kib(daemon.id(), "VmHWM") as f64 / 1024.0;
    stop(daemon);
    vec![
        Row {
            scenario: format!("idle daemon, {} tracked files, {secs} s: CPU", tree.files),
            agent: format!("{cpu:.3} s (start-up rescan {startup:.1} s)"),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "≤ 0.5 s",
            met: Some(cpu <= 0.5),
        },
        Row {
            scenario: "idle daemon: RSS".into(),
            agent: format!("{rss:.1} MB (peak during the start-up rescan {peak:.1} MB)"),
            baseline: "—".into(),
            ratio: "—".into(),
            target: "≤ 40 MB",
            met: Some(rss <= 40.0),
        },
    ]
}

// ---------------------------------------------------------------------------------------
// remote: 1,000 images through a slow, distant emulator

/// The last commit of the previous design (uploads held open with `wait`).
const PREVIOUS: &str = "5300a87";

fn remote(files: usize) -> Vec<Row> {
    println!("remote: {files} images, 100 ms latency, 2 s processing");
    let images: Vec<Vec<u8>> = (0..files).map(|i| photo(96, 64, 1000 + i as u64)).collect();
    let run = |bin: &Path, concurrency: usize| {
        let emu = distant_emulator();
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        std::fs::create_dir_all(&photos).unwrap();
        for (i, b) in images.iter().enumerate() {
            std::fs::write(photos.join(format!("{i:04}.jpg")), b).unwrap();
        }
        config_for(
            dir.path(),
            &photos,
            Some(&emu),
            &format!("concurrency = {concurrency}\n"),
        );
        let t0 = Instant::now();
        let out = agent_bin(bin, dir.path(), &["run", "--once"], "warn");
        let secs = t0.elapsed().as_secs_f64();
        let summary = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "remote run failed: {out:?}");
        assert!(
            summary.contains(&format!("{files} optimized")),
            "not all optimized: {summary}"
        );
        let uploads = emu.uploads();
        println!(
            "remote: {} concurrency {concurrency}: {secs:.1} s, {uploads} uploads",
            bin.display()
        );
        (secs, uploads)
    };
    let previous = previous_binary().map(|p| run(&p, 1));
    let mut rows = Vec::new();
    for c in [4, 8] {
        // The floor and the agent alternate, three rounds, and their medians are compared:
        // on a shared machine the load moves between one run and the next.
        let (mut floors, mut times, mut up) = (Vec::new(), Vec::new(), 0);
        for _ in 0..ROUNDS {
            let f = floor(&images);
            println!("remote: floor {f:.1} s");
            floors.push(f);
            let (t, u) = run(Path::new(BIN), c);
            times.push(t);
            up = up.max(u);
        }
        let (floor, t) = (median(&mut floors), median(&mut times));
        let name = format!(
            "{files} images via the emulator (100 ms latency, 2 s processing), concurrency {c}{}",
            if c == 8 { " (the default)" } else { "" }
        );
        if c == 4 {
            rows.push(match previous {
                Some((old, old_up)) => Row {
                    scenario: name.clone(),
                    agent: format!("{t:.1} s, {up} uploads"),
                    baseline: format!(
                        "previous design, concurrency 1: {old:.1} s, {old_up} uploads"
                    ),
                    ratio: format!("{:.1}× faster", old / t),
                    target: "≥ 10×, uploads = files",
                    met: Some(old / t >= 10.0 && up == files),
                },
                None => skipped(name.clone()),
            });
        }
        rows.push(Row {
            scenario: name,
            agent: format!("{t:.1} s, {up} uploads"),
            baseline: format!(
                "floor: 2 s processing + bare transfers {:.1} s (medians of {ROUNDS} alternating runs)",
                floor - 2.0
            ),
            ratio: format!("{:.2}× the floor", t / floor),
            target: "≤ 1.5× the floor",
            met: Some(t / floor <= 1.5 && up == files),
        });
    }
    rows
}

/// Rounds of the `remote` scenario's floor and agent runs, alternating, per concurrency.
const ROUNDS: usize = 3;

/// The emulator of the `remote` scenario: a service 100 ms away that takes 2 s per job.
fn distant_emulator() -> Emulator {
    let emu = Emulator::start_with_key(KEY, 1_000_000);
    emu.latency(Duration::from_millis(100));
    emu.processing_time(Duration::from_secs(2));
    emu
}

/// The least any client could take: the processing time, plus every upload (ten files a
/// request) made at once, plus every download made at once, straight to the emulator.
fn floor(images: &[Vec<u8>]) -> f64 {
    let emu = distant_emulator();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let base = emu.url();
    rt.block_on(async move {
        let t0 = Instant::now();
        let mut uploads = tokio::task::JoinSet::new();
        for chunk in images.chunks(10) {
            let mut form = reqwest::multipart::Form::new()
                .text("key", KEY)
                .text("lossy", "1")
                .text("wait", "0");
            let paths: serde_json::Map<String, serde_json::Value> = (1..=chunk.len())
                .map(|i| (format!("file{i}"), serde_json::json!(format!("f{i}"))))
                .collect();
            form = form.text("file_paths", serde_json::Value::Object(paths).to_string());
            for (i, bytes) in chunk.iter().enumerate() {
                form = form.part(
                    format!("file{}", i + 1),
                    reqwest::multipart::Part::bytes(bytes.clone()).file_name("x.jpg"),
                );
            }
            let req = client
                .post(format!("{base}/v2/post-reducer.php"))
                .multipart(form);
            uploads.spawn(async move {
                req.send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap()
            });
        }
        let mut originals = Vec::new();
        while let Some(reply) = uploads.join_next().await {
            for item in reply.unwrap().as_array().unwrap() {
                originals.push(item["OriginalURL"].as_str().unwrap().to_string());
            }
        }
        let up = t0.elapsed().as_secs_f64();
        // Not counted: learning the result URLs once the jobs are done.
        let mut results = Vec::new();
        for chunk in originals.chunks(100) {
            let body = serde_json::json!({"key": KEY, "lossy": 1, "wait": 30, "file_urls": chunk});
            let reply: serde_json::Value = client
                .post(format!("{base}/v2/post-reducer.php"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for item in reply.as_array().unwrap() {
                results.push(
                    item["LossyURL"]
                        .as_str()
                        .expect("done after wait")
                        .to_string(),
                );
            }
        }
        let t1 = Instant::now();
        let mut downloads = tokio::task::JoinSet::new();
        for url in results {
            let c = client.clone();
            downloads.spawn(async move {
                c.get(url)
                    .send()
                    .await
                    .unwrap()
                    .bytes()
                    .await
                    .unwrap()
                    .len()
            });
        }
        while downloads.join_next().await.is_some() {}
        let down = t1.elapsed().as_secs_f64();
        2.0 + up + down
    })
}

/// The agent of the previous design, built once (see the module doc); `None` when it
/// cannot be had, said once.
fn previous_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BENCH_PREVIOUS") {
        return Some(PathBuf::from(p));
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-tools");
    let bin = tools.join("previous/bin/shortpixel-agent");
    if bin.exists() {
        return Some(bin);
    }
    println!(
        "building the previous design ({PREVIOUS}) into {} once",
        tools.display()
    );
    let src = tools.join("previous-src");
    let _ = std::fs::remove_dir_all(&src);
    std::fs::create_dir_all(&src).unwrap();
    let unpacked = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git -C '{}' archive {PREVIOUS} | tar -x -C '{}'",
            env!("CARGO_MANIFEST_DIR"),
            src.display()
        ))
        .status()
        .is_ok_and(|s| s.success())
        && src.join("Cargo.toml").exists();
    if !unpacked {
        println!("previous design not measured: {PREVIOUS} is not in this checkout's history");
        return None;
    }
    let built = Command::new(env!("CARGO"))
        .args([
            "install",
            "--locked",
            "--quiet",
            "--bin",
            "shortpixel-agent",
            "--path",
        ])
        .arg(&src)
        .arg("--root")
        .arg(tools.join("previous"))
        .arg("--target-dir")
        .arg(tools.join("previous-build"))
        .status()
        .is_ok_and(|s| s.success());
    if !built {
        println!("previous design not measured: its build failed");
        return None;
    }
    Some(bin)
}

fn skipped(scenario: String) -> Row {
    Row {
        scenario,
        agent: "—".into(),
        baseline: "previous design not available".into(),
        ratio: "—".into(),
        target: "—",
        met: None,
    }
}

// ---------------------------------------------------------------------------------------
// kill: uploads per image when the daemon is killed at random moments

fn kills(files: usize) -> Vec<Row> {
    println!("kill: {files} images, 20 kills at random moments, default concurrency");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let images: Vec<Vec<u8>> = (0..files).map(|i| photo(64, 48, 7000 + i as u64)).collect();
    let run = |bin: &Path| {
        let emu = Emulator::start_with_key(KEY, 1_000_000);
        emu.processing_time(Duration::from_secs(5));
        let dir = tempfile::tempdir().unwrap();
        let photos = dir.path().join("photos");
        std::fs::create_dir_all(&photos).unwrap();
        for (i, b) in images.iter().enumerate() {
            let sub = photos.join(format!("{:02}", i % 10));
            std::fs::create_dir_all(&sub).unwrap();
            std::fs::write(sub.join(format!("{i}.jpg")), b).unwrap();
        }
        config_for(dir.path(), &photos, Some(&emu), "settle = 0.3\n");
        // The same 20 lifetimes (0.2–1.6 s) for every design measured.
        let mut rng = fastrand::Rng::with_seed(seed);
        for _ in 0..20 {
            let mut daemon = spawn_bin(bin, dir.path());
            std::thread::sleep(Duration::from_millis(rng.u64(200..1600)));
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
        let out = agent_bin(bin, dir.path(), &["run", "--once"], "warn");
        assert!(
            out.status.success(),
            "the run after the kills failed: {out:?}"
        );
        let per_image = emu.uploads() as f64 / files as f64;
        println!(
            "kill: {}: {} uploads for {files} images",
            bin.display(),
            emu.uploads()
        );
        per_image
    };
    let agent = run(Path::new(BIN));
    let name = format!(
        "{files} images, daemon killed at 20 random moments, then run --once: uploads per image"
    );
    let Some(previous) = previous_binary() else {
        return vec![skipped(name)];
    };
    let old = run(&previous);
    vec![Row {
        scenario: name,
        agent: format!("{agent:.3}"),
        baseline: format!("previous design: {old:.2}"),
        ratio: format!(
            "{:.0}× fewer extra uploads",
            (old - 1.0) / (agent - 1.0).max(0.001)
        ),
        target: "≤ 1.02",
        met: Some(agent <= 1.02),
    }]
}

// ---------------------------------------------------------------------------------------
// latency: a new file until it is replaced, by the daemon

fn latency(samples: usize) -> Row {
    let emu = Emulator::start_with_key(KEY, 1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let photos = dir.path().join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    config_for(
        dir.path(),
        &photos,
        Some(&emu),
        &format!("settle = {SETTLE}\n"),
    );
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
    let floor = median(&mut floor);
    let p50 = percentile(&mut beyond, 0.5);
    let p95 = percentile(&mut beyond, 0.95);
    let overhead = p50 - floor;
    Row {
        scenario: format!("daemon: new file -> replaced, {samples} files"),
        agent: format!("{p50:.0} ms p50 / {p95:.0} ms p95 beyond the {SETTLE} s settle"),
        baseline: format!("direct emulator round trip {floor:.0} ms"),
        ratio: format!("overhead {overhead:.0} ms"),
        target: "p50 overhead ≤ 200 ms",
        met: Some(overhead <= 200.0),
    }
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

// ---------------------------------------------------------------------------------------
// Helpers

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Writes `root/config.toml` for one folder (the emulator's key and URL when given, else the
/// built-in optimizer) and loads it.
fn config_for(root: &Path, photos: &Path, emu: Option<&Emulator>, extra: &str) -> Config {
    let backend = match emu {
        Some(emu) => format!(
            "api_key = \"{KEY}\"\napi_url = \"{}\"\n[network]\npoll_interval_ms = 50\nserver_wait_secs = 20\n",
            emu.url()
        ),
        None => "backend = \"local\"\n".into(),
    };
    // Top-level keys must come before the [network] table.
    let text = format!(
        "ledger = \"ledger.db\"\nbackup_dir = \"backups\"\n{extra}{backend}\n[[folder]]\npath = \"{}\"\n",
        photos.display()
    );
    let path = root.join("config.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(&path).unwrap()
}

fn agent(root: &Path, args: &[&str], log: &str) -> std::process::Output {
    agent_bin(Path::new(BIN), root, args, log)
}

fn agent_bin(bin: &Path, root: &Path, args: &[&str], log: &str) -> std::process::Output {
    Command::new(bin)
        .arg("--config")
        .arg(root.join("config.toml"))
        .args(args)
        .env("SHORTPIXEL_AGENT_LOG", log)
        .output()
        .expect("run the agent")
}

fn spawn(root: &Path) -> Child {
    spawn_bin(Path::new(BIN), root)
}

fn spawn_bin(bin: &Path, root: &Path) -> Child {
    Command::new(bin)
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
        let out = agent(root, &["status", "--json"], "warn");
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

/// A memory figure of /proc/PID/status (VmRSS, VmHWM), in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Seconds `find -printf '%s %T@\n'` takes over `dir`: the floor of any walk that stats
/// every file.
fn find_walk(dir: &Path) -> f64 {
    let t0 = Instant::now();
    let ok = Command::new("find")
        .arg(dir)
        .args(["-printf", "%s %T@\n"])
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "find failed");
    t0.elapsed().as_secs_f64()
}

/// Folders at or below `dir`, itself included.
fn count_dirs(dir: &Path) -> usize {
    1 + std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| count_dirs(&e.path()))
                .sum()
        })
        .unwrap_or(0)
}

fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
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

/// A photo of about `bytes` bytes (grown by area until it is at least that big).
fn photo_of_size(bytes: usize, seed: u64) -> Vec<u8> {
    let (mut w, mut h) = (640u32, 480u32);
    loop {
        let p = photo(w, h, seed);
        if p.len() >= bytes {
            return p;
        }
        let grow = ((bytes as f64 / p.len() as f64).sqrt() * 1.05).max(1.1);
        w = (w as f64 * grow) as u32;
        h = (h as f64 * grow) as u32;
    }
}

/// The same JPEG with a unique comment segment after SOI: distinct bytes, same image.
fn with_comment(jpeg: &[u8], n: u64) -> Vec<u8> {
    let text = format!("bench file {n:020}");
    let len = (text.len() + 2) as u16;
    let mut out = Vec::with_capacity(jpeg.len() + text.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xFE]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(&jpeg[2..]);
    out
}
