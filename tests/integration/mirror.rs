//! Mirror mode: originals are never written to (byte-identical after any number of runs),
//! optimized copies land in the output tree at the same relative paths, WebP extras beside
//! the copies, a file the service cannot shrink is copied as-is, and the output tree is
//! never fed back in (G5).

use image::ImageFormat;
use shortpixel_emulator::{Emulator, Endpoint, Fault};

use crate::support::*;

fn mirror_config(emu: &Emulator) -> Config {
    Config::emulator(emu).folders(vec![Folder::mirror("photos", "web")])
}

#[test]
fn mirror_leaves_originals_byte_identical_and_writes_copies_at_the_same_relative_paths() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&mirror_config(&emu));
    let rels = ["a.jpg", "sub/b.png", "sub/deep er/Ünï c.JPG"];
    env.add_jpeg(rels[0], 120, 90, 1);
    env.add_png(rels[1], 100, 80, 2);
    env.add_jpeg(rels[2], 90, 70, 3);
    let before = env.snapshot(&env.photos());

    env.run_once().expect_code(0);

    assert_eq!(
        env.snapshot(&env.photos()),
        before,
        "mirror mode wrote to an original"
    );
    for rel in rels {
        let original = read(&env.photos().join(rel));
        let copy = env.path("web").join(rel);
        assert!(copy.exists(), "no mirror copy at {}", copy.display());
        let copy_bytes = read(&copy);
        assert!(
            copy_bytes.len() < original.len(),
            "{rel}: mirror copy is not smaller"
        );
        assert_eq!(
            images::decode_bytes(&copy_bytes),
            images::decode_bytes(&original),
            "{rel}: mirror copy must decode with the original's format and size"
        );
    }
    let status = env.status();
    assert_eq!(status.total("optimized"), 3, "{status}");
    let folder = status.folder(&env.photos());
    assert_eq!(folder["mode"], "mirror", "{status}");
}

#[test]
fn mirror_writes_webp_extras_beside_the_copies_not_the_originals() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&mirror_config(&emu).folder_option("convert", r#"["webp"]"#));
    env.add_jpeg("sub/a.jpg", 120, 90, 1);
    let before = env.snapshot(&env.photos());

    env.run_once().expect_code(0);

    let webp = env.path("web/sub/a.jpg.webp");
    assert_eq!(images::decode(&webp), (ImageFormat::WebP, 120, 90));
    assert_eq!(
        env.snapshot(&env.photos()),
        before,
        "an extra was written beside the original"
    );
}

#[test]
fn g5_mirror_second_run_uploads_nothing_and_does_not_rewrite_outputs() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&mirror_config(&emu));
    env.add_jpeg("a.jpg", 120, 90, 1);
    env.add_png("sub/b.png", 100, 80, 2);
    env.run_once().expect_code(0);
    let web = env.snapshot(&env.path("web"));
    let originals = env.snapshot(&env.photos());

    env.run_once().expect_code(0);

    assert_eq!(emu.uploads(), 2, "{}", log_summary(&emu));
    assert_eq!(env.snapshot(&env.path("web")), web);
    assert_eq!(env.snapshot(&env.photos()), originals);
}

#[test]
fn g5_output_inside_the_watched_folder_is_not_processed_again() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    // A common NAS layout: the web copies live in a subfolder of the photo folder.
    env.configure(&Config::emulator(&emu).folders(vec![Folder::mirror("photos", "photos/web")]));
    let a = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&a);

    let first = env.run_once();
    if first.code == Some(2) {
        // Refusing such a config outright is a valid answer too, if it says why.
        first.expect_mentions(&["output"]);
        return;
    }
    first.expect_code(0);
    env.run_once().expect_code(0);

    assert_eq!(read(&a), original);
    assert!(env.photos().join("web/a.jpg").exists());
    assert!(
        !env.photos().join("web/web/a.jpg").exists(),
        "the output tree was mirrored into itself"
    );
    assert_eq!(
        emu.uploads(),
        1,
        "mirror copies were uploaded:\n{}",
        log_summary(&emu)
    );
}

#[test]
fn g6_mirror_copies_an_already_optimal_file_as_is() {
    let emu = Emulator::start_with_key(KEY, 1000);
    emu.inject(Endpoint::Upload, Fault::Bigger, 1);
    let env = TestEnv::new();
    env.configure(&mirror_config(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);

    env.run_once().expect_code(0);

    assert_eq!(read(&path), original);
    assert_eq!(
        read(&env.path("web/a.jpg")),
        original,
        "the mirror holds the original bytes"
    );
    assert_eq!(env.status().total("skipped"), 1);
}

/// A subfolder that cannot be read (a permission change, a flaky share) is not evidence that
/// its files are gone: the scan walks the tree and the ledger side by side, and the rows
/// below that folder must be kept, not forgotten, and their mirror copies not deleted.
#[test]
fn an_unreadable_subfolder_keeps_its_files_and_their_mirror_copies() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&mirror_config(&emu));
    for (i, rel) in ["a.jpg", "sub/b.jpg", "sub/c.jpg", "z.jpg"]
        .iter()
        .enumerate()
    {
        env.add_jpeg(rel, 80, 60, 70 + i as u64);
    }
    env.run_once().expect_code(0);
    let copies = env.snapshot(&env.path("web"));
    assert_eq!(copies.len(), 4, "{copies:?}");

    let locked = Chmod::set(env.photos().join("sub"), 0o000);
    let out = env.run_unprivileged(&["run", "--once"], &[]);
    out.expect_mentions(&["cannot read", "sub", "left as they were"]);
    drop(locked);
    assert_eq!(env.status().total("files"), 4, "{}", out.all());
    assert_eq!(
        env.snapshot(&env.path("web")),
        copies,
        "mirror copies were touched"
    );
    assert_eq!(emu.uploads(), 4);

    // Readable again: nothing to re-hash or send.
    env.run_once()
        .expect_code(0)
        .expect_mentions(&["0 new or changed, 0 gone, 4 unchanged"]);
    assert_eq!(emu.uploads(), 4);
}
