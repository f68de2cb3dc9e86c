//! The Reducer by URL (`public_url`, SPEC §2): a folder published by a web server is
//! optimized by URL — the emulator fetches each image from a loopback [`Site`] — with
//! nothing uploaded, under the same guarantees as uploads: originals kept (G1), no newer edit
//! clobbered (G3), no credit paid twice (G4). What the web server serves is trusted only as
//! far as it matches the folder: other bytes, or no answer at all, send the file by upload
//! instead, and the log says why.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use shortpixel_emulator::{Emulator, Endpoint, Request, Serve, Site};

use crate::support::config::quote;
use crate::support::*;

/// Key `KEY`, one replace folder `photos` published at `base`.
fn published(emu: &Emulator, base: &str) -> Config {
    Config::emulator(emu).folders(vec![
        Folder::replace("photos").with("public_url", &quote(base))
    ])
}

/// A site serving the temp root, so `photos/` is published at `<site>/photos/`.
fn site_for(env: &TestEnv) -> (Site, String) {
    let site = Site::serve(env.root());
    let base = format!("{}/photos/", site.url());
    (site, base)
}

/// An emulator, a temp tree whose `photos/` a site publishes, configured with that
/// `public_url` (also returned).
fn published_env() -> (Emulator, TestEnv, Site, String) {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let (site, base) = site_for(&env);
    env.configure(&published(&emu, &base));
    (emu, env, site, base)
}

/// The `reducer.php` requests so far.
fn by_url_requests(emu: &Emulator) -> Vec<Request> {
    emu.requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::ByUrl)
        .collect()
}

/// Lines of the output holding `words`.
fn lines_with(out: &Outcome, words: &str) -> usize {
    out.all().lines().filter(|l| l.contains(words)).count()
}

/// G8: the key is in no output and no byte of the ledger.
#[track_caller]
fn assert_key_kept(env: &TestEnv, out: &Outcome) {
    assert!(!out.all().contains(KEY), "G8: the key was printed:\n{out}");
    assert!(
        env.ledger_path().exists(),
        "the ledger should exist to be checked"
    );
    for name in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
        let bytes = std::fs::read(env.path(name)).unwrap_or_default();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "G8: the key is in {name}"
        );
    }
}

fn pixels(bytes: &[u8]) -> Vec<u8> {
    image::load_from_memory(bytes)
        .expect("decodes")
        .to_rgb8()
        .into_raw()
}

/// Mean absolute difference of two same-sized images' pixels.
fn distance(a: &[u8], b: &[u8]) -> f64 {
    let (a, b) = (pixels(a), pixels(b));
    assert_eq!(a.len(), b.len(), "same dimensions");
    let sum: u64 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len() as f64
}

/// `jpeg` mirrored left to right, as a JPEG of quality 90.
fn mirrored(jpeg: &[u8]) -> Vec<u8> {
    let flipped = image::load_from_memory(jpeg).expect("decodes").fliph();
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    flipped.write_with_encoder(enc).expect("encodes");
    out
}

/// The same JPEG with other bytes of the same length (its pixels unchanged): a comment
/// segment filled with `fill`, right after the start marker.
fn with_comment(jpeg: &[u8], fill: u8) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x12]);
    out.extend(std::iter::repeat_n(fill, 16));
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn g1_public_url_folder_is_optimized_by_url_with_no_upload_and_one_fetch_per_file() {
    let (emu, env, site, base) = published_env();
    let mut files: Vec<PathBuf> = (0..3)
        .map(|i| env.add_jpeg(&format!("{i}.jpg"), 120, 90, 300 + i))
        .collect();
    files.push(env.add_jpeg("summer day.jpg", 100, 80, 310));
    // A name that is not UTF-8 is published (and fetched) by its bytes.
    let latin1 = env.photos().join(OsStr::from_bytes(b"caf\xe9.jpg"));
    write_file(&latin1, &images::photo_jpeg(90, 70, 311));
    files.push(latin1);
    let originals: Vec<Vec<u8>> = files.iter().map(|p| read(p)).collect();

    let out = env.run_once();
    out.expect_code(0);

    assert_eq!(emu.uploads(), 0, "{}", log_summary(&emu));
    assert_key_kept(&env, &out);
    let fetched: Vec<String> = emu.fetches().into_iter().map(|f| f.url).collect();
    assert_eq!(
        fetched.len(),
        files.len(),
        "one fetch per file: {fetched:?}"
    );
    for name in ["0.jpg", "1.jpg", "2.jpg", "summer%20day.jpg", "caf%E9.jpg"] {
        assert!(
            fetched.contains(&format!("{base}{name}")),
            "{name} not fetched at its URL: {fetched:?}"
        );
    }
    assert_eq!(emu.credits_used(KEY), files.len() as u64);
    for (path, original) in files.iter().zip(&originals) {
        assert_optimized_in_place(&env, path, original);
    }
    assert!(
        by_url_requests(&emu)
            .iter()
            .all(|r| r.fields["refresh"] == "0"),
        "nothing was fetched before: no refresh (it re-charges)\n{}",
        log_summary(&emu)
    );
    assert_eq!(env.status().total("optimized"), files.len() as u64);
    drop(site);
}

#[test]
fn g3_an_uncompressed_image_is_uploaded_since_its_size_cannot_tell_an_edit() {
    let (emu, env, _site, base) = published_env();
    let jpeg = env.add_jpeg("a.jpg", 120, 90, 451);
    let bmp = env.path("photos/b.bmp");
    let picture = image::load_from_memory(&read(&jpeg)).expect("decodes");
    picture
        .save_with_format(&bmp, image::ImageFormat::Bmp)
        .expect("write a BMP");

    env.run_once().expect_code(0);

    assert_eq!(emu.uploads_of(&hash(&bmp)), 1, "{}", log_summary(&emu));
    let fetched: Vec<String> = emu.fetches().into_iter().map(|f| f.url).collect();
    assert_eq!(
        fetched,
        [format!("{base}a.jpg")],
        "the BMP is never asked for by URL"
    );
}

#[test]
fn g6_web_server_serving_other_bytes_gets_that_file_uploaded_instead_and_says_why() {
    let (emu, env, site, _) = published_env();
    let a = env.add_jpeg("a.jpg", 120, 90, 401);
    let b = env.add_jpeg("b.jpg", 120, 90, 402);
    let c = env.add_jpeg("c.jpg", 120, 90, 403);
    let (orig_a, orig_b, orig_c) = (read(&a), read(&b), read(&c));
    // A stale copy: another picture of the same dimensions and format (b, mirrored).
    let stale = mirrored(&orig_b);
    assert_ne!(
        stale.len(),
        orig_b.len(),
        "precondition: the stale copy differs in size"
    );
    site.set("photos/b.jpg", Serve::Bytes(stale.clone()));

    let out = env.run_once();
    out.expect_code(0);

    assert_eq!(emu.uploads(), 1, "{}", log_summary(&emu));
    assert_eq!(
        emu.uploads_of(&blake3::hex(&orig_b)),
        1,
        "{}",
        log_summary(&emu)
    );
    assert_eq!(emu.url_fetches(), 3);
    assert_optimized_in_place(&env, &a, &orig_a);
    assert_optimized_in_place(&env, &c, &orig_c);
    assert_optimized_in_place(&env, &b, &orig_b);
    // b holds its own picture, optimized: not the stale copy's.
    let now = read(&b);
    let (own, other) = (distance(&now, &orig_b), distance(&now, &stale));
    assert!(
        own * 4.0 < other,
        "b.jpg was replaced with the result of the other bytes the web server served ({own} vs {other})"
    );
    let reason = format!("serves other bytes for {}", b.display());
    assert_eq!(
        lines_with(&out, &reason),
        1,
        "the reason is said once:\n{out}"
    );
    out.expect_mentions(&["uploading it instead"]);
}

#[test]
fn unreachable_public_url_falls_back_to_upload_and_is_reported_once_per_folder() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    // `photos` points at a port nothing listens on (-106); `more` at a site that answers 404
    // for everything (-102).
    let down = format!("http://127.0.0.1:{}/", http::free_port());
    let empty = tempfile::tempdir().unwrap();
    let site = Site::serve(empty.path());
    std::fs::create_dir(env.path("more")).unwrap();
    env.configure(&Config::emulator(&emu).folders(vec![
        Folder::replace("photos").with("public_url", &quote(&down)),
        Folder::replace("more").with("public_url", &quote(&format!("{}/", site.url()))),
    ]));
    let mut files: Vec<PathBuf> = (0..4)
        .map(|i| env.add_jpeg(&format!("{i}.jpg"), 100, 80, 500 + i))
        .collect();
    for i in 0..3 {
        let path = env.path("more").join(format!("{i}.jpg"));
        write_file(&path, &images::photo_jpeg(100, 80, 510 + i));
        files.push(path);
    }
    let originals: Vec<Vec<u8>> = files.iter().map(|p| read(p)).collect();

    let out = env.run_once();
    out.expect_code(0);

    assert_eq!(emu.uploads(), files.len(), "{}", log_summary(&emu));
    for (path, original) in files.iter().zip(&originals) {
        assert_optimized_in_place(&env, path, original);
    }
    let codes: Vec<i32> = by_url_requests(&emu)
        .iter()
        .flat_map(|r| r.codes.clone())
        .collect();
    assert!(codes.contains(&-106) && codes.contains(&-102), "{codes:?}");
    assert_key_kept(&env, &out);
    let said = "cannot fetch this folder's images";
    assert_eq!(lines_with(&out, said), 2, "once per folder:\n{out}");
    for (folder, url) in [
        (env.photos(), down),
        (env.path("more"), format!("{}/", site.url())),
    ] {
        let line = out
            .all()
            .lines()
            .find(|l| l.contains(said) && l.contains(&url))
            .map(str::to_owned);
        let line = line.unwrap_or_else(|| panic!("no warning names {url}:\n{out}"));
        assert!(line.contains(&folder.display().to_string()), "{line}");
    }
}

#[test]
fn g4_nothing_changed_means_no_fetch_and_an_edited_file_is_refreshed_and_charged_once() {
    let (emu, env, _site, base) = published_env();
    let a = env.add_jpeg("a.jpg", 120, 90, 601);
    env.add_jpeg("b.jpg", 120, 90, 602);
    env.add_jpeg("c.jpg", 120, 90, 603);
    env.run_once().expect_code(0);
    assert_eq!((emu.url_fetches(), emu.credits_used(KEY)), (3, 3));
    let requests = emu.requests().len();

    env.run_once().expect_code(0);
    assert_eq!(
        emu.requests().len(),
        requests,
        "an unchanged folder asks nothing:\n{}",
        log_summary(&emu)
    );

    let edited = images::photo_jpeg(120, 90, 604);
    write_file(&a, &edited);
    let earlier = by_url_requests(&emu).len();
    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &a, &edited);
    assert_eq!(emu.uploads(), 0, "{}", log_summary(&emu));
    assert_eq!(
        (emu.url_fetches(), emu.credits_used(KEY)),
        (4, 4),
        "{}",
        log_summary(&emu)
    );
    let third: Vec<Request> = by_url_requests(&emu).into_iter().skip(earlier).collect();
    let refreshed: Vec<&String> = third
        .iter()
        .filter(|r| r.fields["refresh"] == "1")
        .flat_map(|r| &r.urls)
        .collect();
    assert_eq!(
        refreshed,
        [&format!("{base}a.jpg")],
        "{}",
        log_summary(&emu)
    );
    for r in by_url_requests(&emu) {
        if r.fields["refresh"] == "1" {
            assert!(
                r.urls.iter().all(|u| u.ends_with("/a.jpg")),
                "an unchanged file was refreshed: {:?}",
                r.urls
            );
        }
    }
}

#[test]
fn g4_sigkill_after_the_by_url_reply_is_recorded_is_finished_by_polling_without_a_new_charge() {
    let (emu, env, _site, base) = published_env();
    let patient = published(&emu, &base);
    let a = env.add_jpeg("a.jpg", 120, 90, 701);
    env.run_once().expect_code(0);
    // Edited: the next request for its URL says refresh = 1, the one that charges.
    let edited = images::photo_jpeg(120, 90, 702);
    write_file(&a, &edited);
    emu.pending_polls(3);
    env.configure(&patient.clone().net("poll_interval_ms", "5000"));
    let before = by_url_requests(&emu).len();

    let run = env.spawn(&["run", "--once"]);
    // A request after the refresh is a poll: it is only made once the reply is recorded.
    wait_until(
        Duration::from_secs(30),
        "the refreshed job to be polled",
        || by_url_requests(&emu).len() >= before + 2,
    );
    run.kill9();
    assert_eq!(
        read(&a),
        edited,
        "precondition: killed before the result was applied"
    );
    assert_eq!(
        (emu.url_fetches(), emu.credits_used(KEY)),
        (2, 2),
        "{}",
        log_summary(&emu)
    );

    env.configure(&patient);
    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &a, &edited);
    assert_eq!(
        (emu.url_fetches(), emu.credits_used(KEY)),
        (2, 2),
        "the recorded job was fetched or paid for again:\n{}",
        log_summary(&emu)
    );
    assert_eq!(emu.uploads(), 0, "{}", log_summary(&emu));
    assert_eq!(
        count(&emu, Endpoint::Poll),
        0,
        "a job made by URL is asked about through its URL, not file_urls:\n{}",
        log_summary(&emu)
    );
    let after: Vec<Request> = by_url_requests(&emu).into_iter().skip(before + 1).collect();
    assert!(
        after.iter().all(|r| r.fields["refresh"] == "0"),
        "{}",
        log_summary(&emu)
    );
}

#[test]
fn g3_a_file_edited_while_shortpixel_fetches_it_is_not_clobbered_nor_paid_twice() {
    let (emu, env, site, _) = published_env();
    let a = env.add_jpeg("a.jpg", 120, 90, 801);
    let original = read(&a);
    // The same size, other bytes: only the content, not the size, tells them apart.
    let hashed = with_comment(&original, b'h');
    let edit = with_comment(&original, b'e');
    write_file(&a, &hashed);
    let (path, edit_now, once) = (a.clone(), edit.clone(), Arc::new(AtomicBool::new(false)));
    site.on_request(move |p| {
        if p == b"photos/a.jpg" && !once.swap(true, Ordering::SeqCst) {
            write_file(&path, &edit_now);
        }
    });

    env.run_once().expect_code(0);
    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &a, &edit);
    assert!(
        !env.backup_of(&blake3::hex(&hashed)).exists(),
        "the content hashed before the edit was never the one replaced"
    );
    assert_eq!(
        (emu.url_fetches(), emu.credits_used(KEY)),
        (1, 1),
        "what ShortPixel fetched is the edit: its result is used, not paid for again\n{}",
        log_summary(&emu)
    );
    assert_eq!(emu.uploads(), 0, "{}", log_summary(&emu));
}
