//! Pending results (G4, SPEC §4): a Code 1 job is remembered in the ledger by its
//! OriginalURL and finished by polling with `file_urls` — on the same run or a later one —
//! never by uploading the file again, unless the service says the job is gone (-102).

use shortpixel_emulator::{Emulator, Endpoint, Fault};

use crate::support::*;

#[test]
fn g4_pending_result_is_polled_by_original_url_until_done() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.pending_polls(3);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &path, &original);
    assert_eq!(
        emu.uploads_of(&blake3::hex(&original)),
        1,
        "{}",
        log_summary(&emu)
    );
    assert!(
        emu.polls() >= 3,
        "the job needs 3 polls:\n{}",
        log_summary(&emu)
    );
    // Every poll names the job by the OriginalURL the upload returned.
    let upload = &upload_requests(&emu)[0];
    assert_eq!(upload.codes, [1], "the upload was answered Code 1");
    for poll in emu
        .requests()
        .iter()
        .filter(|r| r.endpoint == Endpoint::Poll)
    {
        assert!(poll.files.is_empty(), "a poll re-sent the file");
        assert_eq!(poll.urls.len(), 1, "{poll:?}");
        let origin = format!("{}/orig/", emu.url());
        assert!(
            poll.urls[0].starts_with(&origin),
            "poll by an unknown URL: {poll:?}"
        );
    }
}

#[test]
fn g4_pending_result_is_finished_on_a_later_run_without_reupload() {
    let emu = Emulator::start_with_key(KEY, 1000);
    // The job is ready on its 6th poll; the first run may poll at most twice: its polls are
    // 5 s apart and it gives up waiting after 1 s.
    emu.pending_polls(6);
    let env = TestEnv::new();
    let patient = Config::emulator(&emu);
    env.configure(&patient.clone().hasty());
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);
    let h = blake3::hex(&original);

    let first = env.run_once();
    first.expect_code(0).expect_mentions(&["pending"]);
    assert!(
        emu.polls() < 6,
        "precondition: the first run polled {} times despite poll_interval_ms = 5000",
        emu.polls()
    );
    assert_untouched(&path, &h);
    let status = env.status();
    assert_eq!(status.total("pending"), 1, "{status}");
    assert_eq!(status.total("optimized"), 0, "{status}");

    env.configure(&patient);
    env.run_once().expect_code(0);

    assert_eq!(
        emu.uploads_of(&h),
        1,
        "the pending file was uploaded again:\n{}",
        log_summary(&emu)
    );
    assert_optimized_in_place(&env, &path, &original);
    let status = env.status();
    assert_eq!(status.total("pending"), 0, "{status}");
    assert_eq!(status.total("optimized"), 1, "{status}");
}

#[test]
fn g4_job_gone_on_poll_is_uploaded_again_exactly_once() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.pending_polls(2);
    emu.inject(Endpoint::Poll, Fault::JobGone, 1);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    assert!(
        emu.requests().iter().any(|r| r.codes.contains(&-102)),
        "the -102 was never served:\n{}",
        log_summary(&emu)
    );
    assert_eq!(
        emu.uploads_of(&blake3::hex(&original)),
        2,
        "a -102 must cost exactly one re-upload:\n{}",
        log_summary(&emu)
    );
    assert_optimized_in_place(&env, &path, &original);
}

#[test]
fn code_2_without_sizes_is_treated_as_still_pending() {
    let emu = Emulator::start_with_key(KEY, 1000);
    // The "API waiting bug": Code 2 with URLs but zero sizes means "not ready yet".
    emu.inject(Endpoint::Upload, Fault::MissingSizes, 1);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    assert!(
        emu.polls() >= 1,
        "the zero-size Code 2 was not polled again:\n{}",
        log_summary(&emu)
    );
    assert_eq!(
        emu.uploads_of(&blake3::hex(&original)),
        1,
        "{}",
        log_summary(&emu)
    );
    assert_optimized_in_place(&env, &path, &original);
}

#[test]
fn g4_pending_jobs_of_a_whole_batch_all_complete() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.pending_polls(2);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let files: Vec<_> = (0..6)
        .map(|i| env.add_jpeg(&format!("{i}.jpg"), 64, 48, 40 + i))
        .collect();
    let originals: Vec<_> = files.iter().map(|p| read(p)).collect();

    env.run_once().expect_code(0);

    for (path, original) in files.iter().zip(&originals) {
        assert_optimized_in_place(&env, path, original);
        assert_eq!(
            emu.uploads_of(&blake3::hex(original)),
            1,
            "{}",
            log_summary(&emu)
        );
    }
    assert_eq!(env.status().total("optimized"), 6);
}

/// Jobs due at the same moment share one poll (many OriginalURLs per request), so waiting
/// for a thousand results costs a handful of requests, not a thousand. Jobs a first run left
/// pending are all due when the next run starts: whatever the machine's load, they must be
/// asked about together.
#[test]
fn g4_jobs_left_pending_are_asked_about_together_in_one_poll() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.pending_polls(2);
    let env = TestEnv::new();
    let patient = Config::emulator(&emu);
    env.configure(&patient.clone().hasty());
    let files: Vec<_> = (0..5)
        .map(|i| env.add_jpeg(&format!("{i}.jpg"), 100, 80, 70 + i))
        .collect();
    env.run_once().expect_code(0);
    let status = env.status();
    assert_eq!(status.total("pending"), 5, "precondition: {status}");
    let before = emu.requests().len();

    env.configure(&patient);
    env.run_once().expect_code(0);

    let requests = emu.requests();
    let polls: Vec<_> = requests[before..]
        .iter()
        .filter(|r| r.endpoint == Endpoint::Poll)
        .collect();
    assert_eq!(
        polls.first().map(|p| p.urls.len()),
        Some(5),
        "the first poll of the second run asks about every pending job:\n{}",
        log_summary(&emu)
    );
    assert_eq!(emu.uploads(), 5, "{}", log_summary(&emu));
    assert_eq!(env.status().total("optimized"), files.len() as u64);
}
