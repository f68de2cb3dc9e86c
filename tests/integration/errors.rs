//! Every class of ShortPixel error gets its deliberate reaction (SPEC §4):
//! - transient (-404, -500, -112, -303, -305, HTTP 5xx, dropped connection, reply slower
//!   than the timeout) → retried with backoff, and the file is done in the end, paid once;
//! - out of credits (-403, -301) → uploads pause, api-status is polled, work resumes when
//!   credits return, or the run exits 1 about credits with every file untouched;
//! - invalid key (-401) → exit 1 with a clear message, nothing touched;
//! - bad image (-201, -202, -111) → only that file fails, with the service's reason (G7);
//!
//! A file that is not an image at all ends failed or skipped with a reason (G7).

use std::time::Duration;

use shortpixel_emulator::{Emulator, Endpoint, Fault};

use crate::support::*;

fn refuse(code: i32, message: &str) -> Fault {
    Fault::Refuse {
        code,
        message: message.to_owned(),
    }
}

fn item_error(code: i32, message: &str) -> Fault {
    Fault::ItemError {
        code,
        message: message.to_owned(),
    }
}

/// One JPEG, `faults` queued on `endpoint` in order: the run must retry through all of them
/// and end with the file optimized. Returns the emulator and the original's hash for
/// further checks.
fn assert_recovers(
    endpoint: Endpoint,
    faults: &[Fault],
    tune: impl FnOnce(Config) -> Config,
) -> (Emulator, String) {
    let emu = Emulator::start_with_key(KEY, 1000);
    if endpoint == Endpoint::Poll {
        emu.pending_polls(1);
    }
    for fault in faults {
        emu.inject(endpoint, fault.clone(), 1);
    }
    let env = TestEnv::new();
    env.configure(&tune(Config::emulator(&emu)));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);
    let h = blake3::hex(&original);

    let out = env.run_once();
    assert_eq!(
        out.code,
        Some(0),
        "faults {faults:?} on {endpoint:?} were not survived:\n{out}\n{}",
        log_summary(&emu)
    );

    assert_optimized_in_place(&env, &path, &original);
    let met = emu.requests().iter().filter(|r| r.fault.is_some()).count();
    assert_eq!(
        met,
        faults.len(),
        "every fault should be met by a try:\n{}",
        log_summary(&emu)
    );
    let status = env.status();
    assert_eq!(status.total("optimized"), 1, "{status}");
    assert_eq!(status.total("failed"), 0, "{status}");
    (emu, h)
}

/// Transient faults on the upload: each refused try carried the file, the last one went
/// through, and only that one was paid for.
fn assert_upload_retried(faults: &[Fault]) {
    let (emu, h) = assert_recovers(Endpoint::Upload, faults, |c| c);
    assert_eq!(
        emu.uploads_of(&h),
        faults.len() + 1,
        "{}",
        log_summary(&emu)
    );
    assert_eq!(
        emu.credits_used(KEY),
        1,
        "paid more than once:\n{}",
        log_summary(&emu)
    );
}

#[test]
fn transient_404_queue_full_is_retried_until_done() {
    assert_upload_retried(&[refuse(-404, "queue full"), refuse(-404, "queue full")]);
}

#[test]
fn transient_500_maintenance_is_retried_until_done() {
    assert_upload_retried(&[refuse(-500, "maintenance"), refuse(-500, "maintenance")]);
}

#[test]
fn transient_112_server_error_is_retried_until_done() {
    assert_upload_retried(&[refuse(-112, "Generic server error"), refuse(-112, "again")]);
}

#[test]
fn transient_303_file_not_written_is_retried_until_done() {
    assert_upload_retried(&[item_error(
        -303,
        "Internal API error: the file was not written on disk.",
    )]);
}

#[test]
fn transient_305_internal_error_is_retried_until_done() {
    assert_upload_retried(&[
        item_error(-305, "Internal API error: Unknown"),
        item_error(-305, "Unknown"),
    ]);
}

#[test]
fn transient_http_5xx_is_retried_until_done() {
    assert_upload_retried(&[Fault::Http(502), Fault::Http(503), Fault::Http(500)]);
}

#[test]
fn transient_dropped_connection_is_retried_until_done() {
    assert_upload_retried(&[Fault::Drop, Fault::Drop]);
}

#[test]
fn transient_reply_slower_than_the_timeout_is_retried_until_done() {
    let (emu, h) = assert_recovers(
        Endpoint::Upload,
        &[Fault::Delay(Duration::from_secs(4))],
        |c| c.net("timeout_secs", "1"),
    );
    assert_eq!(emu.uploads_of(&h), 2, "{}", log_summary(&emu));
}

#[test]
fn transient_faults_on_poll_are_retried_without_uploading_again() {
    let (emu, h) = assert_recovers(
        Endpoint::Poll,
        &[refuse(-404, "queue full"), Fault::Http(503), Fault::Drop],
        |c| c,
    );
    assert_eq!(
        emu.uploads_of(&h),
        1,
        "a failed poll must not cost an upload:\n{}",
        log_summary(&emu)
    );
}

#[test]
fn transient_faults_on_download_are_retried_without_uploading_again() {
    let (emu, h) = assert_recovers(Endpoint::Download, &[Fault::Http(500), Fault::Drop], |c| c);
    assert_eq!(
        emu.uploads_of(&h),
        1,
        "a failed download must not cost an upload:\n{}",
        log_summary(&emu)
    );
}

/// Index of the first upload refused with `code`, if any.
fn first_refusal(emu: &Emulator, code: i32) -> Option<usize> {
    emu.requests()
        .iter()
        .position(|r| r.endpoint == Endpoint::Upload && r.codes.contains(&code))
}

fn api_status_checks_after(emu: &Emulator, index: usize) -> usize {
    emu.requests()[index + 1..]
        .iter()
        .filter(|r| r.endpoint == Endpoint::ApiStatus)
        .count()
}

#[test]
fn quota_exhausted_pauses_polls_api_status_and_resumes_when_topped_up() {
    let emu = Emulator::start_with_key(KEY, 0);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("credits_wait_secs", "30"));
    let files: Vec<_> = (0..3)
        .map(|i| env.add_jpeg(&format!("{i}.jpg"), 100, 80, 10 + i))
        .collect();
    let originals: Vec<_> = files.iter().map(|p| read(p)).collect();

    let running = env.spawn(&["run", "--once"]);
    wait_until(
        Duration::from_secs(20),
        "two api-status checks after a -403",
        || first_refusal(&emu, -403).is_some_and(|i| api_status_checks_after(&emu, i) >= 2),
    );
    let uploads_while_paused = upload_requests(&emu).len();
    emu.set_quota(KEY, 1000);
    let out = running.wait();

    out.expect_code(0);
    assert!(
        uploads_while_paused <= files.len(),
        "uploads went on while out of credits:\n{}",
        log_summary(&emu)
    );
    for (path, original) in files.iter().zip(&originals) {
        assert_optimized_in_place(&env, path, original);
    }
    assert_eq!(emu.credits_used(KEY), 3);
}

#[test]
fn quota_that_does_not_return_exits_1_about_credits_with_files_untouched() {
    let emu = Emulator::start_with_key(KEY, 0);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("credits_wait_secs", "1"));
    env.add_jpeg("a.jpg", 100, 80, 1);
    env.add_png("b.png", 100, 80, 2);
    let before = env.snapshot(&env.photos());

    env.run_once().expect_code(1).expect_mentions(&["credits"]);

    assert!(
        first_refusal(&emu, -403).is_some_and(|i| api_status_checks_after(&emu, i) >= 1),
        "credits were never checked with api-status:\n{}",
        log_summary(&emu)
    );
    assert_eq!(env.snapshot(&env.photos()), before, "files were touched");
    let status = env.status();
    assert_eq!(
        status.total("failed"),
        0,
        "out of credits is not the files' fault: {status}"
    );
    assert_eq!(
        status.total("pending"),
        2,
        "the files stay queued: {status}"
    );
}

#[test]
fn quota_running_out_mid_batch_keeps_the_rest_queued() {
    // One credit for three files: one is optimized, the others meet a per-item -403.
    let emu = Emulator::start_with_key(KEY, 1);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("credits_wait_secs", "1"));
    let files: Vec<_> = (0..3)
        .map(|i| env.add_jpeg(&format!("{i}.jpg"), 100, 80, 20 + i))
        .collect();
    let originals: Vec<_> = files.iter().map(|p| read(p)).collect();

    env.run_once().expect_code(1).expect_mentions(&["credits"]);

    let status = env.status();
    assert_eq!(status.total("optimized"), 1, "{status}");
    assert_eq!(
        status.total("failed"),
        0,
        "out of credits is not the files' fault: {status}"
    );
    assert_eq!(status.total("pending"), 2, "{status}");
    let untouched = files
        .iter()
        .zip(&originals)
        .filter(|(path, original)| read(path) == **original)
        .count();
    assert_eq!(
        untouched, 2,
        "the two files without credit keep their bytes"
    );
}

#[test]
fn file_larger_than_remaining_quota_301_pauses_then_resumes() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.inject(
        Endpoint::Upload,
        refuse(-301, "The file is larger than the remaining quota."),
        1,
    );
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    let refused = first_refusal(&emu, -301).expect("the -301 was served");
    assert!(
        api_status_checks_after(&emu, refused) >= 1,
        "a -301 must be followed by an api-status check:\n{}",
        log_summary(&emu)
    );
    assert_optimized_in_place(&env, &path, &original);
}

#[test]
fn invalid_key_401_stops_with_a_clear_message_and_touches_nothing() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let wrong = "WRONGKEY-0000-zzzz";
    env.configure(&Config::emulator(&emu).key(wrong));
    let files = [
        env.add_jpeg("a.jpg", 100, 80, 1),
        env.add_png("b.png", 100, 80, 2),
    ];
    let before = env.snapshot(&env.photos());

    let out = env.run_once();
    out.expect_code(1).expect_mentions(&["api key", "invalid"]);
    // Not "done: … 0 still pending" while the files were never sent.
    out.expect_mentions(&["stopped:", "2 not sent, still queued for the next run"]);
    assert!(!out.stdout.contains("done:"), "{out}");

    assert!(
        !out.all().contains(wrong),
        "G8: the key was printed:\n{out}"
    );
    assert_eq!(env.snapshot(&env.photos()), before, "files were touched");
    assert!(
        files_under(&env.backup_dir()).is_empty(),
        "backups written for nothing"
    );
    for path in &files {
        assert!(
            emu.uploads_of(&hash(path)) <= 1,
            "retried after -401:\n{}",
            log_summary(&emu)
        );
    }
}

#[test]
fn bad_image_codes_fail_only_that_file_with_the_services_reason() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let bad = [
        ("format.jpg", -201, "Invalid image format (case 201)"),
        (
            "unsupported.png",
            -202,
            "Invalid image or unsupported image format (case 202)",
        ),
        ("huge.jpg", -111, "File too big (case 111)"),
    ];
    let bad: Vec<_> = bad
        .iter()
        .enumerate()
        .map(|(i, (name, code, message))| {
            let path = if name.ends_with(".png") {
                env.add_png(name, 90, 70, 50 + i as u64)
            } else {
                env.add_jpeg(name, 90, 70, 50 + i as u64)
            };
            let h = hash(&path);
            emu.fail_content(&h, *code, message);
            (path, h, *message)
        })
        .collect();
    let good = [
        env.add_jpeg("good.jpg", 100, 80, 1),
        env.add_png("sub/good.png", 80, 60, 2),
    ];
    let good_originals = good.each_ref().map(|p| read(p));

    env.run_once().expect_code(1);

    let status = env.status();
    for (path, h, message) in &bad {
        assert_untouched(path, h);
        let reason = status
            .reason_for(path)
            .unwrap_or_else(|| panic!("{} not listed in failures:\n{status}", path.display()));
        assert!(
            reason.contains(message),
            "reason {reason:?} should carry {message:?}"
        );
        assert_eq!(
            emu.uploads_of(h),
            1,
            "a bad image was retried:\n{}",
            log_summary(&emu)
        );
    }
    for (path, original) in good.iter().zip(&good_originals) {
        assert_optimized_in_place(&env, path, original);
    }
    assert_eq!(status.total("failed"), 3, "{status}");
    assert_eq!(status.total("optimized"), 2, "{status}");
}

#[test]
fn file_too_big_for_the_service_fails_only_that_file() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let big = env.add_jpeg("big.jpg", 320, 240, 1);
    let small = env.add_jpeg("small.jpg", 64, 64, 2);
    let (big_hash, small_original) = (hash(&big), read(&small));
    emu.max_file_size(read(&big).len() as u64 / 2);
    assert!((small_original.len() as u64) < read(&big).len() as u64 / 2);

    env.run_once().expect_code(1);

    assert_untouched(&big, &big_hash);
    assert_optimized_in_place(&env, &small, &small_original);
    let status = env.status();
    let reason = status.reason_for(&big).unwrap_or_default();
    assert!(
        reason.to_lowercase().contains("too big"),
        "reason {reason:?}:\n{status}"
    );
}

#[test]
fn g7_undecodable_jpeg_on_disk_is_recorded_with_a_reason_and_the_run_goes_on() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    // JPEG magic, then garbage: it sniffs as a JPEG but cannot be decoded.
    let mut junk = vec![0xFF, 0xD8, 0xFF, 0xE0];
    junk.extend(b"this is not really a jpeg ".repeat(200));
    let broken = env.add_file("broken.jpg", &junk);
    let good = env.add_jpeg("good.jpg", 100, 80, 1);
    let good_original = read(&good);

    let out = env.run_once();

    assert_eq!(read(&broken), junk, "the broken file must be left as it is");
    assert_optimized_in_place(&env, &good, &good_original);
    let status = env.status();
    let (failed, skipped) = (status.total("failed"), status.total("skipped"));
    assert_eq!(
        failed + skipped,
        1,
        "broken.jpg must end failed or skipped: {status}"
    );
    assert_eq!(
        out.code,
        Some(if failed == 1 { 1 } else { 0 }),
        "exit code vs failures:\n{out}"
    );
    if failed == 1 {
        let reason = status.reason_for(&broken).unwrap_or_default();
        assert!(!reason.trim().is_empty(), "no reason recorded:\n{status}");
    }
    env.run(&["status"])
        .expect_code(0)
        .expect_mentions(&["broken.jpg"]);
}

#[test]
fn g7_text_file_named_like_a_jpeg_is_recorded_by_name_with_a_reason() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let text = env.add_file("shopping list.jpg", b"eggs, milk, flour\n");
    let good = env.add_jpeg("good.jpg", 100, 80, 1);
    let good_original = read(&good);

    let out = env.run_once();

    assert_eq!(read(&text), b"eggs, milk, flour\n");
    assert_optimized_in_place(&env, &good, &good_original);
    let status = env.status();
    let (failed, skipped) = (status.total("failed"), status.total("skipped"));
    assert_eq!(
        failed + skipped,
        1,
        "the text file must end failed or skipped: {status}"
    );
    assert_eq!(out.code, Some(if failed == 1 { 1 } else { 0 }), "{out}");
    // The run's own summary says so too, not only `status` afterwards.
    assert!(
        out.stdout
            .contains(&format!("{skipped} skipped, {failed} failed")),
        "the summary counts the text file: {out}"
    );
    // G7: the user must be able to find *which* file could not be processed, and why.
    let human = env.run(&["status"]);
    human.expect_code(0);
    assert!(
        human.stdout.contains("shopping list.jpg") || status.0.to_string().contains("shopping list.jpg"),
        "status names neither in text nor in JSON the file that was not processed:\n{human}\n{status}"
    );
}

#[test]
fn every_code_on_a_long_poll_has_its_reaction_and_only_a_lost_job_is_uploaded_again() {
    let emu = Emulator::start_with_key(KEY, 1000);
    // The service answers uploads at once and takes a second; polls may be held 20 s.
    emu.processing_time(Duration::from_secs(1));
    for fault in [
        Fault::Http(503),
        Fault::Drop,
        refuse(-404, "queue full"),
        refuse(-500, "maintenance"),
        item_error(-403, "Quota exceeded"),
        item_error(-305, "Internal API error"),
        Fault::JobGone,
    ] {
        emu.inject(Endpoint::Poll, fault, 1);
    }
    let env = TestEnv::new();
    env.configure(
        &Config::emulator(&emu)
            .net("server_wait_secs", "20")
            .net("max_retries", "6"),
    );
    let files: Vec<_> = (0..5)
        .map(|i| env.add_jpeg(&format!("{i}.jpg"), 100, 80, 60 + i))
        .collect();
    let originals: Vec<_> = files.iter().map(|p| read(p)).collect();

    env.run_once().expect_code(0);

    let polls: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Poll)
        .collect();
    // Which jobs the service said were gone: their URLs name the content's hash.
    let gone = |hash: &str| {
        polls
            .iter()
            .flat_map(|p| p.urls.iter().zip(&p.codes))
            .filter(|(url, code)| **code == -102 && url.contains(&hash[..12]))
            .count()
    };
    for (path, original) in files.iter().zip(&originals) {
        assert_optimized_in_place(&env, path, original);
        let h = blake3::hex(original);
        // Every other code asks about the same job again; only -102 (the job is gone)
        // calls for a new upload, one per -102.
        assert_eq!(emu.uploads_of(&h), 1 + gone(&h), "{}", log_summary(&emu));
    }
    assert!(
        polls.iter().any(|p| p.codes.contains(&-102)),
        "{}",
        log_summary(&emu)
    );
    // Whether these five happen to be asked about together depends on how close in time
    // their uploads were answered (a loaded machine spreads them out); that jobs due
    // together go in one poll is `pending::g4_jobs_left_pending_are_asked_about_together_in_one_poll`.
    assert!(
        polls
            .iter()
            .all(|p| p.fields.get("wait").map(String::as_str) == Some("20")),
        "polls must let the service hold them"
    );
}
