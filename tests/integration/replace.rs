//! Replace mode end to end: a tree of real images optimized in place with backups (G1), the
//! status report that describes it, and G4 — nothing is paid for twice, whether the same
//! content comes back on the next run, under a new name, as a copy, or twice in one run.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use shortpixel_emulator::{Emulator, Endpoint};

use crate::support::*;

/// 30 files in nested folders with the names real photo folders have: spaces, unicode,
/// parentheses, upper-case extensions, `.jpeg`.
const TREE: [&str; 30] = [
    "IMG_0001.jpg",
    "IMG_0002.JPG",
    "IMG_0003.jpeg",
    "logo.png",
    "Banner Wide.PNG",
    "Holiday 2024/beach day 01.jpg",
    "Holiday 2024/beach day 02.JPG",
    "Holiday 2024/Sunset (final).jpeg",
    "Holiday 2024/map.png",
    "Holiday 2024/deep/nested/folder/tiny.jpg",
    "Holiday 2024/deep/nested/folder/tiny icon.png",
    "Holiday 2024/deep/also here.jpg",
    "Ünïcödé/café crème.jpg",
    "Ünïcödé/日本語の写真.png",
    "Ünïcödé/Ёлка.JPG",
    "Ünïcödé/emoji 🎉 party.jpg",
    "scans/2023/page 1.png",
    "scans/2023/page 2.png",
    "scans/2023/page 3.png",
    "scans/2024/receipt.jpg",
    "scans/2024/receipt (1).jpg",
    "family/Mum & Dad.jpg",
    "family/kids' room.jpeg",
    "family/dog.jpg",
    "family/cat.JPEG",
    "family/garden.png",
    "a/b/c/d/e/f/deepest.jpg",
    "a/b/c/d/e/f/deepest.png",
    "UPPER/CASE.JPG",
    "mixed.Case.Png",
];

fn is_png(rel: &str) -> bool {
    rel.to_lowercase().ends_with(".png")
}

/// Writes `TREE` under `photos/`: small images of varied sizes, each with its own content.
fn add_tree(env: &TestEnv) -> BTreeMap<PathBuf, Vec<u8>> {
    TREE.iter()
        .enumerate()
        .map(|(i, rel)| {
            let (w, h, seed) = (
                64 + (i as u32 * 37) % 120,
                48 + (i as u32 * 23) % 90,
                i as u64 + 1,
            );
            let path = if is_png(rel) {
                env.add_png(rel, w, h, seed)
            } else {
                env.add_jpeg(rel, w, h, seed)
            };
            let bytes = read(&path);
            (path, bytes)
        })
        .collect()
}

#[test]
fn g1_thirty_image_tree_is_optimized_in_place_with_verified_backups() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let originals = add_tree(&env);

    env.run_once().expect_code(0);

    for (path, original) in &originals {
        assert_optimized_in_place(&env, path, original);
        assert_eq!(
            emu.uploads_of(&blake3::hex(original)),
            1,
            "{} should be uploaded exactly once",
            path.display()
        );
    }
    let leftovers: Vec<_> = files_under(&env.photos())
        .into_iter()
        .filter(|p| !originals.contains_key(p))
        .collect();
    assert!(
        leftovers.is_empty(),
        "unexpected files in photos/: {leftovers:?}"
    );
}

#[test]
fn status_json_describes_the_optimized_tree() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let originals = add_tree(&env);

    env.run_once().expect_code(0);

    let status = env.status();
    let bytes_original: u64 = originals.values().map(|b| b.len() as u64).sum();
    let bytes_optimized: u64 = originals.keys().map(|p| read(p).len() as u64).sum();
    assert_eq!(status.total("files"), 30, "{status}");
    assert_eq!(status.total("optimized"), 30, "{status}");
    for key in ["pending", "failed", "skipped", "restored"] {
        assert_eq!(status.total(key), 0, "totals.{key}: {status}");
    }
    assert_eq!(status.total("bytes_original"), bytes_original, "{status}");
    assert_eq!(status.total("bytes_optimized"), bytes_optimized, "{status}");
    assert!(bytes_optimized < bytes_original);

    let folder = status.folder(&env.photos());
    assert_eq!(folder["mode"], "replace", "{status}");
    assert_eq!(folder["files"], 30, "{status}");
    assert_eq!(folder["optimized"], 30, "{status}");
    assert_eq!(folder["bytes_original"], bytes_original, "{status}");
    assert_eq!(folder["bytes_optimized"], bytes_optimized, "{status}");
    assert!(status.failures().is_empty(), "{status}");
    assert_eq!(status.0["daemon"]["running"], false, "{status}");

    // Every image improved by far more than 5 %, so each cost one credit.
    assert_eq!(emu.credits_used(KEY), 30);
    let credits = &status.0["credits"];
    assert_eq!(credits["used"], 30, "{status}");
    assert_eq!(credits["quota"], 1000, "{status}");
    assert_eq!(credits["remaining"], 970, "{status}");
}

#[test]
fn status_before_any_run_answers_without_uploading() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    env.add_jpeg("a.jpg", 80, 60, 1);

    // Before any run the ledger may not even exist: status must still answer.
    let status = env.status();
    assert_eq!(status.total("optimized"), 0, "{status}");
    assert_eq!(status.total("failed"), 0, "{status}");
    assert_eq!(emu.uploads(), 0, "status must never upload");
}

#[test]
fn g4_second_run_uploads_nothing_and_changes_nothing() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let files = [
        env.add_jpeg("a.jpg", 120, 90, 1),
        env.add_jpeg("sub/b.JPG", 100, 80, 2),
        env.add_png("sub/c.png", 90, 70, 3),
    ];
    let originals = files.each_ref().map(|p| read(p));

    env.run_once().expect_code(0);
    for (path, original) in files.iter().zip(&originals) {
        assert_optimized_in_place(&env, path, original);
    }
    let traffic = |emu: &Emulator| {
        [Endpoint::Upload, Endpoint::Poll, Endpoint::Download].map(|e| count(emu, e))
    };
    let after_first = traffic(&emu);
    let photos = env.snapshot(&env.photos());
    let backups = env.snapshot(&env.backup_dir());

    env.run_once().expect_code(0);

    assert_eq!(
        emu.uploads(),
        3,
        "second run uploaded:\n{}",
        log_summary(&emu)
    );
    assert_eq!(
        traffic(&emu),
        after_first,
        "second run talked to the service about known files:\n{}",
        log_summary(&emu)
    );
    assert_eq!(
        env.snapshot(&env.photos()),
        photos,
        "files changed on the second run"
    );
    assert_eq!(
        env.snapshot(&env.backup_dir()),
        backups,
        "optimized files must not be backed up as new originals"
    );
    assert_eq!(env.status().total("optimized"), 3);
}

/// The scan walks the tree and the ledger side by side in one order; names that sort
/// differently with and without the '/' of a folder must still pair up, or a rescan would
/// re-hash (and in the worst case forget) files.
#[test]
fn rescan_pairs_every_name_with_its_row_and_finds_what_is_gone() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let names = [
        "a.jpg",
        "a-b.jpg",
        "a b.jpg",
        "a/x.jpg",
        "a/b/y.jpg",
        "a.b/z.jpg",
        "a0.jpg",
        "ab.jpg",
        "Z.jpg",
        "\u{e9}t\u{e9}/caf\u{e9}.jpg",
    ];
    for (i, n) in names.iter().enumerate() {
        env.add_jpeg(n, 40, 30, 500 + i as u64);
    }
    env.run_once().expect_code(0);
    assert_eq!(env.status().total("optimized"), names.len() as u64);

    let again = env.run_once();
    again
        .expect_code(0)
        .expect_mentions(&["0 new or changed, 0 gone, 10 unchanged"]);
    assert_eq!(emu.uploads(), names.len(), "{}", log_summary(&emu));

    std::fs::remove_file(env.photos().join("a-b.jpg")).unwrap();
    std::fs::remove_file(env.photos().join("a/b/y.jpg")).unwrap();
    env.run_once()
        .expect_code(0)
        .expect_mentions(&["0 new or changed, 2 gone, 8 unchanged"]);
    assert_eq!(env.status().total("files"), 8);
    assert_eq!(emu.uploads(), names.len());
}

#[test]
fn g4_renamed_moved_and_copied_files_cost_no_upload() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let a = env.add_jpeg("a.jpg", 120, 90, 1);
    let b = env.add_png("b.png", 100, 80, 2);
    let c = env.add_jpeg("c.jpg", 110, 70, 3);
    env.run_once().expect_code(0);
    assert_eq!(emu.uploads(), 3);

    let renamed = env.photos().join("renamed.jpg");
    let moved = env.photos().join("elsewhere/deeper/b.png");
    let copy = env.photos().join("c copy.jpg");
    std::fs::rename(&a, &renamed).unwrap();
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&b, &moved).unwrap();
    std::fs::copy(&c, &copy).unwrap();
    let before = env.snapshot(&env.photos());

    env.run_once().expect_code(0);

    assert_eq!(
        emu.uploads(),
        3,
        "known content was uploaded again:\n{}",
        log_summary(&emu)
    );
    assert_eq!(
        env.snapshot(&env.photos()),
        before,
        "known content was rewritten"
    );
    let status = env.status();
    assert_eq!(
        status.total("files"),
        3 + 1,
        "the copy is a tracked file: {status}"
    );
    assert_eq!(status.total("optimized"), 4, "{status}");
    assert_eq!(status.total("pending"), 0, "{status}");
    assert_eq!(status.total("failed"), 0, "{status}");
}

#[test]
fn g4_duplicate_originals_in_one_run_are_uploaded_once() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let first = env.add_jpeg("first.jpg", 120, 90, 7);
    let original = read(&first);
    let copies = [
        first.clone(),
        env.add_file("same again.jpg", &original),
        env.add_file("sub/folder/third copy.JPG", &original),
    ];

    env.run_once().expect_code(0);

    assert_eq!(
        emu.uploads_of(&blake3::hex(&original)),
        1,
        "identical content must be sent once:\n{}",
        log_summary(&emu)
    );
    let optimized = read(&first);
    for path in &copies {
        assert_optimized_in_place(&env, path, &original);
        assert_eq!(
            read(path),
            optimized,
            "{} got another result",
            path.display()
        );
    }
    assert_eq!(env.status().total("optimized"), 3);
}

#[test]
fn g2_no_temporary_files_are_left_behind() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folder_option("convert", r#"["webp"]"#));
    env.add_jpeg("a.jpg", 120, 90, 1);
    env.add_png("sub/b.png", 100, 80, 2);

    env.run_once().expect_code(0);

    let temps: Vec<_> = files_under(&env.root())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".spa-tmp-"))
        .collect();
    assert!(temps.is_empty(), "temporary files left: {temps:?}");
}

#[test]
fn g2_replaced_file_keeps_its_permissions_and_mtime() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);
    let taken = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(taken)
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();

    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &path, &original);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        meta.permissions().mode() & 0o7777,
        0o604,
        "permissions not carried over"
    );
    assert_eq!(meta.modified().unwrap(), taken, "mtime not carried over");
}

#[test]
fn g5_webp_extras_are_not_picked_up_as_new_images() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folder_option("convert", r#"["webp"]"#));
    env.add_jpeg("a.jpg", 120, 90, 1);
    env.add_png("sub/b.png", 100, 80, 2);
    env.run_once().expect_code(0);
    let webp = env.photos().join("a.jpg.webp");
    assert!(webp.exists(), "no WebP extra was written");
    let tree = env.snapshot(&env.photos());

    env.run_once().expect_code(0);

    assert_eq!(
        emu.uploads(),
        2,
        "an extra was uploaded:\n{}",
        log_summary(&emu)
    );
    assert_eq!(env.snapshot(&env.photos()), tree);
    let status = env.status();
    assert_eq!(
        status.total("files"),
        2,
        "extras are not tracked files: {status}"
    );
}

#[test]
fn hidden_nas_excluded_and_non_image_files_are_left_alone() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folder_option("exclude", r#"["**/thumbs/**"]"#));
    let visible = env.add_jpeg("visible.jpg", 100, 80, 1);
    let visible_original = read(&visible);
    let ignored: Vec<_> = [
        ".hidden.jpg",
        ".cache/inside.jpg",
        "@eaDir/visible.jpg/SYNOPHOTO_THUMB_M.jpg",
        "#recycle/deleted.jpg",
        "sub/thumbs/t.jpg",
        "thumbs/t2.jpg",
    ]
    .iter()
    .enumerate()
    .map(|(i, rel)| env.add_jpeg(rel, 64, 48, 10 + i as u64))
    .collect();
    let notes = env.add_file("notes.txt", b"not an image");
    let before: Vec<_> = ignored.iter().map(|p| read(p)).collect();

    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &visible, &visible_original);
    for (path, bytes) in ignored.iter().zip(&before) {
        assert_eq!(
            &read(path),
            bytes,
            "{} should not be touched",
            path.display()
        );
    }
    assert_eq!(read(&notes), b"not an image");
    assert_eq!(
        emu.uploads(),
        1,
        "only visible.jpg may be sent:\n{}",
        log_summary(&emu)
    );
    let status = env.status();
    assert_eq!(status.total("failed"), 0, "{status}");
    assert_eq!(status.total("optimized"), 1, "{status}");
}

/// A NAS share is often linked into place: the configured folder itself may be a symlink
/// (the config resolves it; the scan never follows links itself).
#[test]
fn a_folder_that_is_a_symlink_is_followed() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let real = env.path("real-photos");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, env.path("linked")).unwrap();
    env.configure(&Config::emulator(&emu).folders(vec![Folder::replace("linked")]));
    let p = real.join("a.jpg");
    write_file(&p, &images::photo_jpeg(120, 90, 9));
    let original = read(&p);
    env.run_once().expect_code(0);
    assert_eq!(env.status().total("optimized"), 1);
    assert_ne!(read(&p), original, "the file behind the link was optimized");
    env.run_once()
        .expect_code(0)
        .expect_mentions(&["0 new or changed, 0 gone, 1 unchanged"]);
}
