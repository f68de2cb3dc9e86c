//! The daemon (`run` without `--once`): the real binary left running against the emulator,
//! changed under its feet. Covers watching and settling, renames and deletes in mirror mode,
//! SIGHUP, SIGTERM, one instance per ledger, and crash recovery after kill -9 (G1, G2, G4).

use std::path::Path;
use std::time::Duration;

use shortpixel_emulator::{Emulator, Endpoint, Fault};

use crate::support::env::Running;
use crate::support::images::{decode_bytes, photo_jpeg};
use crate::support::*;

const T: Duration = Duration::from_secs(60);

fn daemon_config(emu: &Emulator) -> Config {
    Config::emulator(emu).set("settle", "0.3")
}

/// Starts `run` and waits until it holds the ledger.
fn start(env: &TestEnv) -> Running {
    let mut d = env.spawn(&["run"]);
    wait_until(T, "the daemon to start", || {
        assert!(d.alive(), "the daemon exited early");
        env.status().0["daemon"]["running"] == true
    });
    d
}

fn stop(d: Running) -> Outcome {
    d.signal("TERM");
    let out = d.wait();
    out.expect_code(0);
    out
}

fn optimized(env: &TestEnv, path: &Path, original: &[u8]) -> bool {
    path.exists()
        && hash(path) != blake3::hex(original)
        && env.backup_of(&blake3::hex(original)).exists()
}

#[test]
fn daemon_optimizes_a_file_dropped_into_a_watched_folder_without_restart() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&daemon_config(&emu));
    let mut d = start(&env);
    let status = env.status();
    assert_eq!(
        status.0["daemon"]["pid"],
        d.pid(),
        "status names the daemon's pid"
    );

    // In a folder created after the watch started, to cover new subfolders too.
    let a = env.add_jpeg("2026/trip/a.jpg", 160, 120, 1);
    let a_orig = read(&a);
    d.wait_until(T, "a.jpg optimized", || optimized(&env, &a, &a_orig));
    assert_eq!(read(&env.backup_of(&blake3::hex(&a_orig))), a_orig);
    assert!(decode_bytes(&read(&a)).is_ok(), "the result decodes");

    // The agent's own write of a.jpg must not come back as work (G5): by the time a later
    // file is done, the write's events have long settled.
    let b = env.add_jpeg("b.jpg", 160, 120, 2);
    let b_orig = read(&b);
    d.wait_until(T, "b.jpg optimized", || optimized(&env, &b, &b_orig));
    assert_eq!(emu.uploads(), 2, "{}", log_summary(&emu));
    assert_eq!(emu.uploads_of(&blake3::hex(&a_orig)), 1);
    let s = env.status();
    assert_eq!(s.total("optimized"), 2);
    assert_eq!(s.0["daemon"]["queued"], 0);
    assert_eq!(s.0["daemon"]["in_flight"], 0);
    stop(d);
    assert_eq!(env.status().0["daemon"]["running"], false);
}

#[test]
fn a_folder_in_poll_mode_sees_new_files_without_native_events() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(
        &daemon_config(&emu)
            .set("watch_poll_interval", "0.3")
            .folder_option("watch", r#""poll""#),
    );
    let mut d = start(&env);
    let a = env.add_jpeg("a.jpg", 160, 120, 11);
    let a_orig = read(&a);
    d.wait_until(T, "a.jpg optimized", || optimized(&env, &a, &a_orig));
    assert_eq!(emu.uploads(), 1);
    stop(d).expect_mentions(&["(poll)"]);
}

#[test]
fn a_file_written_slowly_in_chunks_is_uploaded_once_when_complete() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    // The writer pauses 250 ms between chunks; the settle window is 32 times that, so
    // only a writer stalled for 8 s (not a busy machine) could look finished.
    env.configure(&Config::emulator(&emu).set("settle", "8"));
    let mut d = start(&env);
    let full = photo_jpeg(400, 300, 7);
    let path = env.path("photos/slow.jpg");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&path).unwrap();
        for chunk in full.chunks(full.len().div_ceil(8)) {
            f.write_all(chunk).unwrap();
            f.flush().unwrap();
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    d.wait_until(T, "slow.jpg optimized", || optimized(&env, &path, &full));
    assert_eq!(
        emu.uploads(),
        1,
        "only the complete file is sent: {}",
        log_summary(&emu)
    );
    assert_eq!(emu.uploads_of(&blake3::hex(&full)), 1);
    stop(d);
}

#[test]
fn a_burst_of_2000_files_is_processed_completely() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    env.configure(&daemon_config(&emu));
    let mut d = start(&env);
    let n = 2000;
    for i in 0..n {
        env.add_jpeg(&format!("burst/{:02}/{i}.jpg", i % 40), 24, 16, 1000 + i);
    }
    d.wait_until(Duration::from_secs(180), "2000 files processed", || {
        let s = env.status();
        s.total("optimized") + s.total("skipped") + s.total("failed") == n
    });
    let s = env.status();
    assert_eq!(s.total("failed"), 0, "{:?}", s.failures());
    assert_eq!(s.total("files"), n);
    let out = stop(d);
    assert_eq!(
        emu.uploads() as u64,
        n,
        "each file sent exactly once; sent more than once:\n{}\nagent log:\n{}",
        repeated_uploads(&emu),
        out.all()
    );
}

#[test]
fn mirror_renames_and_deletes_propagate_with_zero_uploads() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(
        &daemon_config(&emu)
            .folders(vec![Folder::mirror("photos", "web")])
            .folder_option("convert", r#"["webp"]"#),
    );
    let a = env.add_jpeg("a.jpg", 160, 120, 1);
    let c = env.add_jpeg("sub/c.jpg", 160, 120, 3);
    let c_orig = read(&c);
    let web = env.path("web");
    let mine = env.add_file("../web/notes.txt", b"not the agent's");
    let mut d = start(&env);
    d.wait_until(T, "mirror written", || {
        web.join("a.jpg.webp").exists() && web.join("sub/c.jpg.webp").exists()
    });
    let sent = emu.uploads();
    assert_eq!(sent, 2);

    std::fs::rename(&a, env.path("photos/b.jpg")).unwrap();
    d.wait_until(T, "the rename to reach the mirror", || {
        web.join("b.jpg").exists()
            && web.join("b.jpg.webp").exists()
            && !web.join("a.jpg").exists()
            && !web.join("a.jpg.webp").exists()
    });
    std::fs::rename(env.path("photos/sub"), env.path("photos/sub2")).unwrap();
    d.wait_until(T, "the folder rename to reach the mirror", || {
        web.join("sub2/c.jpg").exists()
            && web.join("sub2/c.jpg.webp").exists()
            && !web.join("sub").exists()
    });
    std::fs::remove_file(env.path("photos/b.jpg")).unwrap();
    d.wait_until(T, "the delete to reach the mirror", || {
        !web.join("b.jpg").exists() && !web.join("b.jpg.webp").exists()
    });
    assert_eq!(emu.uploads(), sent, "{}", log_summary(&emu));
    assert_eq!(
        read(&mine),
        b"not the agent's",
        "files not written by the agent stay"
    );
    assert_eq!(
        hash(&env.path("photos/sub2/c.jpg")),
        blake3::hex(&c_orig),
        "mirror mode never changes an original, moved or not"
    );
    let s = env.status();
    assert_eq!(
        s.total("files"),
        1,
        "the ledger follows: only sub2/c.jpg is left"
    );
    stop(d);
}

#[test]
fn g5_a_restored_file_stays_restored_when_renamed_under_the_daemon() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&daemon_config(&emu));
    let a = env.add_jpeg("a.jpg", 160, 120, 1);
    let a_orig = read(&a);
    env.run_once().expect_code(0);
    env.run(&["restore", a.to_str().unwrap()]).expect_code(0);
    assert_eq!(read(&a), a_orig);
    std::fs::create_dir(env.path("photos/kept")).unwrap();
    let mut d = start(&env);
    // A file dropped in and done first: the daemon is past its start-up scan and watching,
    // so the rename below is seen as one (a rename it never saw is a deletion and a copy).
    let c = env.add_jpeg("kept/c.jpg", 160, 120, 3);
    let c_orig = read(&c);
    d.wait_until(T, "c.jpg optimized", || optimized(&env, &c, &c_orig));

    let moved = env.path("photos/kept/a-original.jpg");
    std::fs::rename(&a, &moved).unwrap();
    // A later file done means the rename's events have long settled.
    let b = env.add_jpeg("b.jpg", 160, 120, 2);
    let b_orig = read(&b);
    d.wait_until(T, "b.jpg optimized", || optimized(&env, &b, &b_orig));
    assert_eq!(
        hash(&moved),
        blake3::hex(&a_orig),
        "the restored file was optimized again after a rename"
    );
    assert_eq!(emu.uploads(), 3, "{}", log_summary(&emu));
    let s = env.status();
    assert_eq!(s.total("restored"), 1, "{s}");
    assert_eq!(s.total("files"), 3, "{s}");
    stop(d);
}

#[test]
fn g2_temporary_files_of_a_killed_run_are_removed_at_the_next_start() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folders(vec![Folder::mirror("photos", "web")]));
    let a = env.add_jpeg("a.jpg", 160, 120, 1);
    let left_in_source = env.add_file(
        &format!("sub/{}", own_temp_name("00000000000a1b2c")),
        b"half a result",
    );
    let left_in_mirror = env.add_file(
        &format!("../web/{}", own_temp_name("00000000000d4e5f")),
        b"half a copy",
    );
    let users = env.add_file("../web/spa-tmp-notes.txt", b"the user's");
    env.run_once().expect_code(0);
    assert!(!left_in_source.exists(), "temp file left in the folder");
    assert!(!left_in_mirror.exists(), "temp file left in the mirror");
    assert_eq!(
        read(&users),
        b"the user's",
        "only the agent's temp names go"
    );
    assert!(env.path("web/a.jpg").exists());
    assert_eq!(emu.uploads_of(&hash(&a)), 1);
}

#[test]
fn a_folder_that_looks_empty_forgets_nothing_and_keeps_its_mirror() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folders(vec![Folder::mirror("photos", "web")]));
    let a = env.add_jpeg("a.jpg", 160, 120, 1);
    env.run_once().expect_code(0);
    let copy = env.path("web/a.jpg");
    let copy_hash = hash(&copy);
    // What an unmounted share looks like: the folder is there, with nothing in it.
    std::fs::rename(&a, env.path("a-elsewhere.jpg")).unwrap();

    env.run_once()
        .expect_code(0)
        .expect_mentions(&["looks empty", "Nothing was forgotten"]);
    assert_eq!(hash(&copy), copy_hash, "the mirror copy must survive");
    assert_eq!(env.status().total("files"), 1);
}

#[test]
fn sighup_adds_a_folder_and_a_broken_config_keeps_the_old_one() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let one = daemon_config(&emu);
    env.configure(&one);
    let x = env.add_jpeg("../more/x.jpg", 160, 120, 5);
    let x_orig = read(&x);
    let mut d = start(&env);

    env.configure(
        &one.clone()
            .folders(vec![Folder::replace("photos"), Folder::replace("more")]),
    );
    d.signal("HUP");
    d.wait_until(T, "the new folder's file optimized", || {
        optimized(&env, &x, &x_orig)
    });

    env.write_config("this is [not toml");
    d.signal("HUP");
    let y = env.add_jpeg("y.jpg", 160, 120, 6);
    let y_orig = read(&y);
    d.wait_until(T, "work goes on under the old config", || {
        optimized(&env, &y, &y_orig)
    });
    assert!(d.alive());
    env.configure(&one);
    let out = stop(d);
    out.expect_mentions(&["keeping the previous config"]);
}

#[test]
fn sigterm_mid_batch_exits_0_and_the_next_start_finishes_without_reupload() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.pending_polls(2);
    emu.inject(
        Endpoint::Upload,
        Fault::Delay(Duration::from_millis(1500)),
        100,
    );
    let env = TestEnv::new();
    env.configure(&daemon_config(&emu).set("concurrency", "2"));
    let originals: Vec<_> = (0..20)
        .map(|i| {
            let p = env.add_jpeg(&format!("{i}.jpg"), 160, 120, 100 + i);
            (p.clone(), read(&p))
        })
        .collect();
    let mut d = start(&env);
    d.wait_until(T, "an upload in flight", || emu.uploads() > 0);
    stop(d);

    env.run_once().expect_code(0);
    for (p, orig) in &originals {
        assert!(optimized(&env, p, orig), "{} not optimized", p.display());
        assert_eq!(
            emu.uploads_of(&blake3::hex(orig)),
            1,
            "{}: {}",
            p.display(),
            log_summary(&emu)
        );
    }
}

#[test]
fn a_second_instance_on_the_same_ledger_is_refused_with_the_pid() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&daemon_config(&emu));
    let d = start(&env);
    let pid = d.pid().to_string();
    env.run(&["run"])
        .expect_code(1)
        .expect_mentions(&["already running", &pid]);
    env.run_once().expect_code(1).expect_mentions(&[&pid]);
    let human = env.run(&["status"]);
    human.expect_code(0).expect_mentions(&["running", &pid]);
    stop(d);
}

/// A tiny deterministic generator, seeded per run and printed, so a failure can be replayed.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn g1_g2_g4_kill_9_at_random_moments_loses_nothing_and_pays_little() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    emu.pending_polls(1);
    // Slow enough that the run spans the kills: each job takes 6 s, and uploads are
    // answered at once (as with wait = 0), so kills land in uploads, in the wait for
    // results, and in downloads and writes. See pay_once.rs for the default concurrency.
    emu.processing_time(Duration::from_secs(6));
    let env = TestEnv::new();
    // One request in flight at a time, so a kill can cost at most one batch of 10. The
    // last `run --once` must collect every result however busy the machine: with the
    // default test wait (10 s) it can spend it all uploading and leave the results pending.
    env.configure(
        &daemon_config(&emu)
            .set("concurrency", "1")
            .net("max_batch_files", "10")
            .net("pending_wait_secs", "300"),
    );
    let originals: Vec<_> = (0..300)
        .map(|i| {
            let p = env.add_jpeg(&format!("{:02}/{i}.jpg", i % 10), 96, 64, 5000 + i);
            (p.clone(), read(&p))
        })
        .collect();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill -9 loop seed: {seed}");
    // Alternate between results that are ready at once (kills land in downloads and
    // writes) and results that stay pending (kills land between upload and poll).
    let kills = kill_loop(&env, &emu, &originals, 20, |kill| {
        emu.pending_polls((kill % 2) as u32);
        Duration::from_millis(100 + xorshift(&mut seed) % 400)
    });
    env.run_once().expect_code(0);
    check_every_file_whole(&env, &originals);
    for (p, orig) in &originals {
        assert!(optimized(&env, p, orig), "{} not optimized", p.display());
    }
    assert_no_temp_files(&env.photos());
    let unique = originals.len();
    assert!(
        emu.uploads() <= unique + kills * 10,
        "{} uploads for {unique} images and {kills} kills:\n{}",
        emu.uploads(),
        log_summary(&emu)
    );
}

#[test]
fn sigterm_on_an_idle_daemon_logs_that_it_stops_and_that_it_stopped() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&daemon_config(&emu));
    let d = start(&env);
    let out = stop(d);
    out.expect_mentions(&["SIGTERM received: stopping", "stopped"]);
    let last = out.stderr.lines().last().unwrap_or_default();
    assert!(
        last.ends_with("stopped"),
        "the last line says it stopped:\n{out}"
    );
}
