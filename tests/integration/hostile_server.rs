//! A hostile or broken server, and the network on the way to it: redirects (G8), error pages
//! quoting the key (G8), bodies longer than announced or without end (G6, bounded memory),
//! extras of the wrong size (G6), a server or a network falling silent mid-request (nothing
//! hangs, nothing recorded is paid twice), a proxy that is down, a TLS failure (said in
//! words). File-system hostility lives in `hostile.rs`.

use std::time::Duration;

use shortpixel_emulator::{Emulator, Endpoint, Fault, Recorder, ERROR_PAGE_KEY_AT};

use crate::support::*;

/// Distinctive enough that any occurrence of it, or of its first half, is the key.
const SECRET: &str = "SPAhostile-3f9a7c2e51d4b8e6a0";

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Neither the key nor its first half in the command's output.
#[track_caller]
fn assert_no_key_in(out: &Outcome) {
    let half = &SECRET[..SECRET.len() / 2];
    let all = out.all();
    assert!(
        !all.contains(half),
        "G8: (part of) the key was printed:\n{out}"
    );
}

/// Neither the key nor its first half in the ledger's files.
#[track_caller]
fn assert_no_key_in_ledger(env: &TestEnv) {
    let half = &SECRET.as_bytes()[..SECRET.len() / 2];
    for name in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
        if let Ok(bytes) = std::fs::read(env.path(name)) {
            assert!(
                !contains(&bytes, half),
                "G8: (part of) the key is in {name}"
            );
        }
    }
}

#[test]
fn g8_an_api_redirect_is_not_followed_so_the_key_goes_nowhere_else() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    emu.pending_polls(1);
    let elsewhere = Recorder::start();
    let redirect = |status| Fault::Redirect {
        status,
        to: elsewhere.url(),
    };
    // A 307 keeps the method and body: followed, it would re-send the key over there.
    emu.inject(Endpoint::Poll, redirect(307), 1);
    emu.inject(Endpoint::ApiStatus, redirect(308), 1);
    let mut env = TestEnv::new();
    env.log = "trace".into();
    env.configure(&Config::emulator(&emu).key(SECRET));
    let a = env.add_jpeg("a.jpg", 120, 90, 1);
    let a_original = read(&a);

    // The redirected poll is not followed; the job is asked about again and finished.
    let out = env.run_once();
    out.expect_code(0).expect_mentions(&["redirect"]);
    assert_no_key_in(&out);
    assert_optimized_in_place(&env, &a, &a_original);
    // `status` asks api-status: that answer is redirected too, and not followed either.
    assert_no_key_in(&env.run(&["status"]));

    // A redirected upload fails the file with the reason, and nothing is sent over there.
    emu.inject(Endpoint::Upload, redirect(302), 1);
    let b = env.add_jpeg("b.jpg", 120, 90, 2);
    let b_original = read(&b);
    let out = env.run_once();
    out.expect_code(1).expect_mentions(&["redirect"]);
    assert_no_key_in(&out);
    let status = env.status();
    let reason = status.reason_for(&b).unwrap_or_default();
    assert!(reason.contains("redirect"), "{status}");
    assert_untouched(&b, &blake3::hex(&b_original));

    assert!(
        elsewhere.requests().is_empty(),
        "a redirected API call was followed: {:?}",
        elsewhere
            .requests()
            .iter()
            .map(|r| String::from_utf8_lossy(&r[..r.len().min(200)]).into_owned())
            .collect::<Vec<_>>()
    );
    assert!(!elsewhere.saw(SECRET.as_bytes()));
    let served = emu.requests();
    assert_eq!(
        served
            .iter()
            .filter(|r| matches!(r.fault, Some(Fault::Redirect { .. })))
            .count(),
        3,
        "{}",
        log_summary(&emu)
    );

    // Not a verdict on the image: the next run sends it and succeeds.
    env.run_once().expect_code(0);
    assert_optimized_in_place(&env, &b, &b_original);
    assert_no_key_in_ledger(&env);
}

#[test]
fn g8_a_redirected_download_carries_no_key_and_its_answer_is_verified() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    let elsewhere = Recorder::start();
    emu.inject(
        Endpoint::Download,
        Fault::Redirect {
            status: 302,
            to: elsewhere.url(),
        },
        1,
    );
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).key(SECRET));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    // Downloads may be redirected (a CDN), but never carry the key; what came back from
    // there ("{}", not an image) was rejected and fetched again from the service.
    let seen = elsewhere.requests();
    assert_eq!(seen.len(), 1, "{}", log_summary(&emu));
    assert!(
        seen[0].starts_with(b"GET /dl/"),
        "{:?}",
        String::from_utf8_lossy(&seen[0])
    );
    assert!(!elsewhere.saw(SECRET.as_bytes()));
    assert!(!elsewhere.saw(&SECRET.as_bytes()[..SECRET.len() / 2]));
    assert_optimized_in_place(&env, &path, &original);
    assert_eq!(emu.uploads_of(&blake3::hex(&original)), 1);
}

#[test]
fn g8_an_error_page_quoting_the_key_leaves_no_part_of_it_in_output_status_or_ledger() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    // Every try of the upload meets the page, so its excerpt ends up as the file's reason.
    emu.inject(Endpoint::Upload, Fault::ErrorPage, 20);
    let mut env = TestEnv::new();
    env.log = "trace".into();
    env.configure(&Config::emulator(&emu).key(SECRET).net("max_retries", "2"));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);

    let out = env.run_once();
    out.expect_code(1).expect_mentions(&["not JSON"]);
    assert!(
        emu.requests()
            .iter()
            .any(|r| r.fault == Some(Fault::ErrorPage)),
        "the error page was never served:\n{}",
        log_summary(&emu)
    );
    // The page really put the key past character 100 (so a cut at 120 would split it).
    assert!(ERROR_PAGE_KEY_AT > 100 && ERROR_PAGE_KEY_AT + SECRET.len() / 2 < 120);
    assert_no_key_in(&out);
    let reason = env.status().reason_for(&path).unwrap_or_default();
    assert!(
        reason.contains("Bad Gateway"),
        "the reason should quote the page: {reason:?}"
    );
    for args in [&["status"][..], &["status", "--json"]] {
        assert_no_key_in(&env.run(args));
    }
    assert_no_key_in_ledger(&env);
}

/// One JPEG whose every download meets `fault`; returns the emulator, env and path after a
/// run that must end with the file failed and untouched.
fn download_meets(fault: Fault) -> (Emulator, TestEnv, std::path::PathBuf, Vec<u8>) {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.inject(Endpoint::Download, fault, 2);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("max_retries", "1"));
    let path = env.add_jpeg("a.jpg", 160, 120, 1);
    let original = read(&path);

    let out = env.run_once();
    out.expect_code(1).expect_mentions(&["longer than"]);
    assert_untouched(&path, &blake3::hex(&original));
    (emu, env, path, original)
}

/// What the emulator handed out for two tries: socket buffers, not the body.
const READ_AT_MOST: u64 = 48 * 1024 * 1024;

#[test]
fn g6_a_download_far_longer_than_announced_is_cut_off_early_and_fetched_again_later() {
    let (emu, env, path, original) = download_meets(Fault::Oversize(512 * 1024 * 1024));
    assert!(
        emu.bytes_streamed() < READ_AT_MOST,
        "{} bytes of a 512 MiB body were read",
        emu.bytes_streamed()
    );
    let reason = env.status().reason_for(&path).unwrap_or_default();
    assert!(reason.contains("longer than"), "{reason:?}");

    // The job stayed recorded: the next run fetches the result without uploading again.
    env.run_once().expect_code(0);
    assert_optimized_in_place(&env, &path, &original);
    assert_eq!(
        emu.uploads_of(&blake3::hex(&original)),
        1,
        "{}",
        log_summary(&emu)
    );
}

#[test]
fn g6_a_download_that_never_ends_is_cut_off_early() {
    let (emu, _env, _path, _original) = download_meets(Fault::Endless);
    assert!(
        emu.bytes_streamed() < READ_AT_MOST,
        "{} bytes of an endless body were read",
        emu.bytes_streamed()
    );
}

#[test]
fn g6_a_webp_of_the_wrong_size_is_not_written_beside_the_image() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.inject(Endpoint::Upload, Fault::SmallExtra, 1);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folder_option("convert", r#"["webp"]"#));
    let path = env.add_jpeg("a.jpg", 488, 325, 1);
    let original = read(&path);

    let out = env.run_once();
    out.expect_code(0).expect_mentions(&["webp", "wrong size"]);

    assert_optimized_in_place(&env, &path, &original);
    let webp = env.photos().join("a.jpg.webp");
    assert!(
        !webp.exists(),
        "a 16x16 WebP was written beside a 488x325 image"
    );
}

#[test]
fn a_server_falling_silent_mid_request_is_given_up_and_nothing_recorded_is_paid_twice() {
    // A laptop that sleeps: requests in flight get no answer, downloads stop halfway.
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.pending_polls(1);
    let silence = Fault::Stall(Duration::from_secs(90));
    emu.inject(Endpoint::Upload, silence.clone(), 1);
    emu.inject(Endpoint::Poll, silence.clone(), 2);
    emu.inject(Endpoint::Download, silence, 2);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("timeout_secs", "1"));
    let originals: Vec<_> = (0..12)
        .map(|i| {
            let p = env.add_jpeg(&format!("{i}.jpg"), 96, 64, 300 + i);
            (p.clone(), read(&p))
        })
        .collect();

    let out = env.run_once();
    out.expect_code(0).expect_mentions(&["timed out"]);

    let stalled = emu
        .requests()
        .iter()
        .filter(|r| matches!(r.fault, Some(Fault::Stall(_))))
        .count();
    assert_eq!(stalled, 5, "{}", log_summary(&emu));
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
    // The stalled upload made no job; every other file was recorded once and then only
    // asked about: each image paid for once.
    assert_eq!(
        emu.credits_used(KEY),
        originals.len() as u64,
        "{}",
        log_summary(&emu)
    );
}

#[test]
fn a_proxy_that_is_down_is_named_and_no_proxy_lets_the_service_be_reached_directly() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("max_retries", "1"));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);

    let out = env.run_with_env(&["run", "--once"], &[("HTTP_PROXY", &proxy)]);
    out.expect_code(1)
        .expect_mentions(&["proxy", proxy.trim_start_matches("http://"), "NO_PROXY"]);
    assert_eq!(emu.uploads(), 0, "the request went around the proxy");
    assert_untouched(&path, &blake3::hex(&original));

    let out = env.run_with_env(
        &["run", "--once"],
        &[("HTTP_PROXY", &proxy), ("NO_PROXY", "127.0.0.1")],
    );
    out.expect_code(0);
    assert_optimized_in_place(&env, &path, &original);
}

#[test]
fn requests_go_through_the_proxy_the_environment_names() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let proxy = Recorder::start();
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("max_retries", "0"));
    env.add_jpeg("a.jpg", 120, 90, 1);

    env.run_with_env(&["run", "--once"], &[("HTTP_PROXY", &proxy.url())]);

    let target = format!("POST {}/v2/post-reducer.php", emu.url());
    assert!(
        proxy.saw(target.as_bytes()),
        "the proxy never saw the upload: {:?}",
        proxy
            .requests()
            .iter()
            .map(|r| String::from_utf8_lossy(&r[..r.len().min(120)]).into_owned())
            .collect::<Vec<_>>()
    );
    assert_eq!(emu.uploads(), 0, "the request went around the proxy");
}

#[test]
fn a_tls_failure_is_said_in_words() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    // The emulator speaks plain HTTP: a TLS handshake with it fails.
    let https = emu.url().replace("http://", "https://");
    env.configure(
        &Config::emulator(&emu)
            .api_url(&https)
            .net("max_retries", "0"),
    );
    let path = env.add_jpeg("a.jpg", 120, 90, 1);

    let out = env.run_once();
    out.expect_code(1)
        .expect_mentions(&["secure connection (TLS)", "127.0.0.1"]);
    let reason = env.status().reason_for(&path).unwrap_or_default();
    assert!(reason.contains("TLS"), "{reason:?}");
}
