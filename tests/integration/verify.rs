//! G6 no file gets worse: a result that is not smaller is skipped as "already optimal" (and
//! not paid for again), downloads that arrive truncated, corrupt or expired are rejected with
//! the original intact, and a download fault that a retry cures does not cost a re-upload.

use shortpixel_emulator::{Emulator, Endpoint, Fault};

use crate::support::*;

/// More faults than the agent may try (`max_retries` = 2, so 3 tries per download), with
/// room to spare for an agent that also re-polls once.
const PERSISTENT: usize = 20;

fn config(emu: &Emulator) -> Config {
    Config::emulator(emu).net("max_retries", "2")
}

#[test]
fn g6_bigger_result_is_skipped_as_already_optimal_and_not_uploaded_again() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.inject(Endpoint::Upload, Fault::Bigger, 1);
    let env = TestEnv::new();
    env.configure(&config(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let h = hash(&path);

    env.run_once().expect_code(0);

    assert_untouched(&path, &h);
    let status = env.status();
    assert_eq!(status.total("skipped"), 1, "{status}");
    assert_eq!(status.total("optimized"), 0, "{status}");
    assert_eq!(status.total("failed"), 0, "{status}");
    let text = env.run(&["status"]);
    text.expect_code(0).expect_mentions(&["already optimal"]);
    if let Some(reason) = status.reason_for(&path) {
        assert!(reason.starts_with("already optimal"), "reason {reason:?}");
    }

    env.run_once().expect_code(0);
    assert_eq!(
        emu.uploads_of(&h),
        1,
        "an already-optimal file was uploaded again:\n{}",
        log_summary(&emu)
    );
    assert_untouched(&path, &h);
}

/// One JPEG whose downloads all meet `fault`: the run fails that file and keeps it intact.
fn assert_download_rejected(fault: Fault, reason_mentions: Option<&str>) {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.inject(Endpoint::Download, fault.clone(), PERSISTENT);
    let env = TestEnv::new();
    env.configure(&config(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let h = hash(&path);

    let out = env.run_once();

    let met = emu.requests().iter().filter(|r| r.fault.is_some()).count();
    assert!(
        met < PERSISTENT,
        "{met} {fault:?} downloads in a row and the agent had not given up:\n{out}\n{}",
        log_summary(&emu)
    );
    assert_eq!(
        hash(&path),
        h,
        "a.jpg changed after {fault:?} downloads:\n{out}"
    );
    let temps: Vec<_> = files_under(&env.photos())
        .into_iter()
        .filter(|p| *p != path)
        .collect();
    assert!(
        temps.is_empty(),
        "left beside the original after a rejected {fault:?}: {temps:?}"
    );
    let status = env.status();
    assert_eq!(
        status.total("failed"),
        1,
        "{fault:?} download must fail the file: {status}"
    );
    assert_eq!(status.total("optimized"), 0, "{status}");
    out.expect_code(1);
    let reason = status
        .reason_for(&path)
        .unwrap_or_else(|| panic!("no failure recorded for a.jpg:\n{status}"));
    assert!(!reason.trim().is_empty());
    if let Some(word) = reason_mentions {
        assert!(
            reason.to_lowercase().contains(word),
            "reason {reason:?} should mention {word:?}"
        );
    }
}

#[test]
fn g6_truncated_download_is_rejected_and_the_original_kept() {
    assert_download_rejected(Fault::Truncate, Some("truncat"));
}

#[test]
fn g6_corrupt_download_is_rejected_and_the_original_kept() {
    assert_download_rejected(Fault::Corrupt, Some("decode"));
}

#[test]
fn g6_expired_download_302_is_rejected_and_the_original_kept() {
    assert_download_rejected(Fault::Expired, None);
}

/// Fewer faults than tries: the download is retried (not the upload) and the file done.
fn assert_download_recovers(fault: Fault, times: usize) {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.inject(Endpoint::Download, fault.clone(), times);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("max_retries", "4"));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &path, &original);
    assert_eq!(
        emu.uploads_of(&blake3::hex(&original)),
        1,
        "a bad {fault:?} download cost a re-upload:\n{}",
        log_summary(&emu)
    );
    assert_eq!(env.status().total("optimized"), 1);
}

#[test]
fn g6_truncated_download_once_or_twice_is_retried_and_recovers() {
    assert_download_recovers(Fault::Truncate, 2);
}

#[test]
fn g6_corrupt_download_once_or_twice_is_retried_and_recovers() {
    assert_download_recovers(Fault::Corrupt, 2);
}

#[test]
fn g6_corrupt_webp_extra_is_not_written_beside_the_file() {
    let emu = Emulator::start_with_key(KEY, 1000);
    // Every download is corrupt: neither the main result nor its WebP may land on disk.
    emu.inject(Endpoint::Download, Fault::Corrupt, PERSISTENT);
    let env = TestEnv::new();
    env.configure(&config(&emu).folder_option("convert", r#"["webp"]"#));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let h = hash(&path);

    env.run_once().expect_code(1);

    assert_untouched(&path, &h);
    let webp = env.photos().join("a.jpg.webp");
    assert!(!webp.exists(), "a corrupt WebP extra was written");
}
