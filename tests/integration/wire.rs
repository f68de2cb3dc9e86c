//! What the agent puts on the wire (SPEC §4, wire notes): uploads batched several files a
//! request (to a service far enough away that one file per round trip would be slow; a
//! nearby one gets one file at a time, so a crash costs at most one) but never more than 10, `file_paths` as opaque ids that leak no local path, the
//! key sent as the `key` field, and `concurrency` really meaning requests in parallel.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use shortpixel_emulator::{Emulator, Fault};

use crate::support::*;

#[test]
fn uploads_are_batched_but_never_more_than_ten_files_a_request() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.latency(Duration::from_millis(60));
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let hashes: BTreeSet<String> = (0..25)
        .map(|i| hash(&env.add_jpeg(&format!("batch/{i:02}.jpg"), 64, 48, 100 + i)))
        .collect();

    env.run_once().expect_code(0);

    let uploads = upload_requests(&emu);
    let sizes: Vec<usize> = uploads.iter().map(|r| r.files.len()).collect();
    assert!(
        sizes.iter().all(|&n| n <= 10),
        "a request carried more than 10 files: {sizes:?}"
    );
    assert!(
        sizes.iter().any(|&n| n > 1),
        "25 queued files were never batched: {sizes:?}"
    );
    let sent: BTreeSet<String> = uploads
        .iter()
        .flat_map(|r| &r.files)
        .map(|f| f.hash.clone())
        .collect();
    assert_eq!(sent, hashes, "every file sent, each once");
    assert_eq!(emu.uploads(), 25, "{}", log_summary(&emu));
    assert_eq!(env.status().total("optimized"), 25);
}

#[test]
fn max_batch_files_is_honoured() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).net("max_batch_files", "3"));
    for i in 0..8 {
        env.add_jpeg(&format!("{i}.jpg"), 64, 48, 200 + i);
    }

    env.run_once().expect_code(0);

    let sizes: Vec<usize> = upload_requests(&emu)
        .iter()
        .map(|r| r.files.len())
        .collect();
    assert!(
        sizes.iter().all(|&n| n <= 3),
        "max_batch_files = 3 exceeded: {sizes:?}"
    );
    assert_eq!(sizes.iter().sum::<usize>(), 8);
}

#[test]
fn file_paths_are_opaque_ids_that_leak_no_local_path_or_name() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let names = [
        "Secret Project Alpha.jpg",
        "private/Diary Page.png",
        "zebra-crossing.jpg",
    ];
    env.add_jpeg(names[0], 80, 60, 1);
    env.add_png(names[1], 80, 60, 2);
    env.add_jpeg(names[2], 80, 60, 3);

    env.run_once().expect_code(0);

    let root = env.root().to_string_lossy().into_owned();
    let mut ids = BTreeSet::new();
    for request in upload_requests(&emu) {
        let raw = request
            .fields
            .get("file_paths")
            .unwrap_or_else(|| panic!("upload without file_paths: {request:?}"));
        let map: serde_json::Map<String, Value> = serde_json::from_str(raw)
            .unwrap_or_else(|e| panic!("file_paths is not a JSON object ({e}): {raw}"));
        for file in &request.files {
            let id = map
                .get(&file.field)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("file_paths has no entry for {}: {raw}", file.field));
            assert_eq!(id, file.path_id);
            assert!(!id.is_empty(), "empty file_paths id");
            assert!(!id.contains(&root), "file_paths leaks the local path: {id}");
            for stem in ["Secret", "Project", "Diary", "zebra", "private", "photos"] {
                assert!(
                    !id.contains(stem),
                    "file_paths leaks a local name ({stem}): {id}"
                );
            }
            assert!(ids.insert(id.to_owned()), "file_paths id {id} used twice");
        }
    }
    assert_eq!(ids.len(), 3);
}

#[test]
fn requests_carry_the_configured_key_and_options() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folder_option("compression", r#""glossy""#));
    env.add_jpeg("a.jpg", 80, 60, 1);

    env.run_once().expect_code(0);

    let uploads = upload_requests(&emu);
    assert!(!uploads.is_empty());
    for r in &uploads {
        assert_eq!(r.key.as_deref(), Some(KEY), "{r:?}");
        assert_eq!(
            r.fields.get("lossy").map(String::as_str),
            Some("2"),
            "glossy is lossy=2: {r:?}"
        );
    }
}

#[test]
fn concurrency_four_keeps_several_requests_in_flight() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    // One file per request, each held 400 ms by the server: a sequential agent would never
    // have two requests open at once.
    env.configure(
        &Config::emulator(&emu)
            .set("concurrency", "4")
            .net("max_batch_files", "1"),
    );
    for i in 0..8 {
        env.add_jpeg(&format!("{i}.jpg"), 64, 48, 300 + i);
    }
    emu.inject(
        shortpixel_emulator::Endpoint::Upload,
        Fault::Delay(Duration::from_millis(400)),
        8,
    );

    env.run_once().expect_code(0);

    assert!(
        emu.max_in_flight() > 1,
        "with concurrency 4 the uploads ran one at a time:\n{}",
        log_summary(&emu)
    );
    assert_eq!(env.status().total("optimized"), 8);
}

#[test]
fn resize_is_sent_and_the_resized_result_accepted() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(
        &Config::emulator(&emu)
            .folder_option("resize", r#"{ mode = "inner", width = 60, height = 60 }"#),
    );
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    let upload = &upload_requests(&emu)[0];
    let field = |k: &str| upload.fields.get(k).map(String::as_str);
    assert_eq!(
        field("resize"),
        Some("3"),
        "inner resize is resize=3: {upload:?}"
    );
    assert_eq!(field("resize_width"), Some("60"));
    assert_eq!(field("resize_height"), Some("60"));
    assert_eq!(images::decode(&path), (image::ImageFormat::Jpeg, 60, 45));
    assert_eq!(read(&env.backup_of(&blake3::hex(&original))), original);
}
