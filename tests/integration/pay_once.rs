//! G4 when the process dies: killed with SIGKILL at 20 random moments while it works
//! through 300 images at the default concurrency, the agent pays for each image about once
//! (at most 2 % more uploads than images), and loses nothing (G1, G2).
//!
//! Where the kills fall: each run lives a random 0.2–1.6 s, so the kills land in start-up
//! scans, in the uploads and in the long polls while ShortPixel processes (22 s here: the
//! service answers uploads at once, as with `wait = 0`, and takes its time); the final
//! `run --once` then collects every result. (Kills during downloads and replacements are
//! the daemon's kill loop's, in `daemon.rs`.) Only a kill between the service receiving a
//! body and the agent recording its reply costs an upload again. The agent keeps one file
//! in that moment while the service answers quickly (`pipeline/remote/send.rs`), so such a
//! kill costs one upload, and the moment is short: measured on a machine with a load
//! average of 12 on 2 cores, 4.6 ms per file on average, so over 300 files and ~0.9 s
//! between kills about 1.5 kills find it, where 7 would fail the test.

use std::time::Duration;

use shortpixel_emulator::Emulator;

use crate::support::*;

const IMAGES: usize = 300;

#[test]
fn g4_kill_9_at_20_random_moments_at_the_default_concurrency_pays_each_image_about_once() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    emu.processing_time(Duration::from_secs(22));
    let mut env = TestEnv::new();
    env.log = "info".into();
    env.configure(
        &Config::emulator(&emu)
            .unset("concurrency")
            .set("settle", "0.3")
            .net("server_wait_secs", "20")
            .net("pending_wait_secs", "60"),
    );
    let originals: Vec<_> = (0..IMAGES)
        .map(|i| {
            let p = env.add_jpeg(&format!("{:02}/{i}.jpg", i % 10), 64, 48, 9000 + i as u64);
            (p.clone(), read(&p))
        })
        .collect();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill -9 loop seed: {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let kills = kill_loop(&env, &emu, &originals, 20, |_| {
        Duration::from_millis(rng.u64(200..1600))
    });
    env.run_once().expect_code(0);

    check_every_file_whole(&env, &originals);
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
    assert_no_temp_files(&env.photos());
    let allowed = IMAGES + IMAGES * 2 / 100;
    assert!(
        emu.uploads() <= allowed,
        "{} uploads for {IMAGES} images after {kills} kills (at most {allowed}); sent twice:\n{}",
        emu.uploads(),
        repeated_uploads(&emu)
    );
}
