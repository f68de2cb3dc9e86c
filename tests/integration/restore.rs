//! `restore` (G1, G5): originals come back byte for byte with their permissions, the agent
//! does not optimize them again, a dry run changes nothing, a file the user edited since is
//! only overwritten with `--force`, and the extras the agent made (`.webp`) go away.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use image::ImageFormat;
use shortpixel_emulator::Emulator;

use crate::support::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn g1_restore_gives_back_the_original_bytes_and_mode() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("sub/a.jpg", 120, 90, 1);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let original = read(&path);

    env.run_once().expect_code(0);
    assert_optimized_in_place(&env, &path, &original);
    assert_eq!(
        mode(&path),
        0o640,
        "G2: the replaced file keeps its permissions"
    );

    env.run(&["restore", arg(&path)]).expect_code(0);

    assert_eq!(
        read(&path),
        original,
        "restore must give back the exact original bytes"
    );
    assert_eq!(mode(&path), 0o640, "restore keeps the permissions");
    let status = env.status();
    assert_eq!(status.total("restored"), 1, "{status}");
    assert_eq!(status.total("optimized"), 0, "{status}");
}

#[test]
fn g5_restored_file_is_not_optimized_again() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let other = env.add_png("b.png", 100, 80, 2);
    let original = read(&path);
    env.run_once().expect_code(0);
    env.run(&["restore", arg(&path)]).expect_code(0);
    let uploads = emu.uploads();
    let other_optimized = read(&other);

    env.run_once().expect_code(0);
    env.run_once().expect_code(0);

    assert_eq!(
        emu.uploads(),
        uploads,
        "a restored file was uploaded again:\n{}",
        log_summary(&emu)
    );
    assert_eq!(
        read(&path),
        original,
        "the restored file must stay original"
    );
    assert_eq!(read(&other), other_optimized);
    let status = env.status();
    assert_eq!(status.total("restored"), 1, "{status}");
    assert_eq!(status.total("optimized"), 1, "{status}");
}

#[test]
fn g5_restored_file_is_processed_again_once_its_content_changes() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    env.run_once().expect_code(0);
    env.run(&["restore", arg(&path)]).expect_code(0);

    let edited = env.add_jpeg("a.jpg", 130, 95, 99);
    let edited_bytes = read(&edited);
    env.run_once().expect_code(0);

    assert_eq!(
        emu.uploads_of(&blake3::hex(&edited_bytes)),
        1,
        "{}",
        log_summary(&emu)
    );
    assert_optimized_in_place(&env, &path, &edited_bytes);
}

#[test]
fn restore_dry_run_changes_nothing() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folder_option("convert", r#"["webp"]"#));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    env.run_once().expect_code(0);
    let tree = env.snapshot(&env.root());

    let out = env.run(&["restore", "--dry-run", arg(&path)]);
    out.expect_code(0).expect_mentions(&["a.jpg"]);
    let out = env.run(&["restore", "--dry-run", "--all"]);
    out.expect_code(0).expect_mentions(&["a.jpg"]);

    // The ledger files may be touched by merely opening them; everything else must not be.
    let is_data = |rel: &String| !rel.starts_with("ledger.db") && !rel.starts_with("home/");
    let changed: Vec<_> = env
        .snapshot(&env.root())
        .into_iter()
        .filter(|(rel, h)| is_data(rel) && tree.get(rel) != Some(h))
        .collect();
    let gone: Vec<_> = tree
        .keys()
        .filter(|rel| is_data(rel) && !env.root().join(rel).exists())
        .collect();
    assert!(
        changed.is_empty() && gone.is_empty(),
        "dry run changed {changed:?}, removed {gone:?}"
    );
    let status = env.status();
    assert_eq!(status.total("optimized"), 1, "{status}");
    assert_eq!(status.total("restored"), 0, "{status}");
}

#[test]
fn restore_refuses_a_file_edited_since_optimization_unless_forced() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);
    env.run_once().expect_code(0);

    // The user saves new work over the optimized file.
    let edit = images::photo_jpeg(140, 100, 42);
    write_file(&path, &edit);

    env.run(&["restore", arg(&path)])
        .expect_code(1)
        .expect_mentions(&["--force"]);
    assert_eq!(
        read(&path),
        edit,
        "a refused restore must leave the user's edit alone"
    );

    env.run(&["restore", "--force", arg(&path)]).expect_code(0);
    assert_eq!(read(&path), original);
}

#[test]
fn restore_removes_the_webp_extras_it_made() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).folder_option("convert", r#"["webp"]"#));
    let path = env.add_jpeg("sub/a.jpg", 120, 90, 1);
    let original = read(&path);
    let webp = env.photos().join("sub/a.jpg.webp");
    // A .webp the user made by hand is not the agent's to delete.
    let own_webp = env.add_file("sub/mine.webp", b"not touched by the agent");

    env.run_once().expect_code(0);
    assert_eq!(
        images::decode(&webp),
        (ImageFormat::WebP, 120, 90),
        "the extra is a WebP"
    );

    env.run(&["restore", arg(&path)]).expect_code(0);

    assert_eq!(read(&path), original);
    assert!(
        !webp.exists(),
        "{} should be removed by restore",
        webp.display()
    );
    assert_eq!(read(&own_webp), b"not touched by the agent");
}

#[test]
fn restore_of_a_folder_restores_only_the_files_under_it() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let inside = [
        env.add_jpeg("trip/a.jpg", 120, 90, 1),
        env.add_png("trip/deep/b.png", 90, 60, 2),
    ];
    let outside = env.add_jpeg("other/c.jpg", 100, 80, 3);
    let originals = inside.each_ref().map(|p| read(p));
    env.run_once().expect_code(0);
    let outside_optimized = read(&outside);

    env.run(&["restore", arg(&env.photos().join("trip"))])
        .expect_code(0);

    for (path, original) in inside.iter().zip(&originals) {
        assert_eq!(&read(path), original, "{} not restored", path.display());
    }
    assert_eq!(
        read(&outside),
        outside_optimized,
        "a file outside the folder was restored"
    );
    assert_eq!(env.status().total("restored"), 2);
}

#[test]
fn restore_all_puts_back_every_file_the_agent_changed() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(
        &Config::emulator(&emu).folders(vec![Folder::replace("photos"), Folder::replace("albums")]),
    );
    let mut files = vec![
        env.add_jpeg("a.jpg", 120, 90, 1),
        env.add_png("x/b.png", 90, 60, 2),
    ];
    let album = env.path("albums/2024/c.jpg");
    write_file(&album, &images::photo_jpeg(100, 80, 3));
    files.push(album);
    let originals: Vec<_> = files.iter().map(|p| read(p)).collect();
    env.run_once().expect_code(0);
    assert!(
        files.iter().zip(&originals).all(|(p, o)| read(p) != *o),
        "all were optimized"
    );

    env.run(&["restore", "--all"]).expect_code(0);

    for (path, original) in files.iter().zip(&originals) {
        assert_eq!(&read(path), original, "{} not restored", path.display());
    }
    let status = env.status();
    assert_eq!(status.total("restored"), 3, "{status}");
    assert_eq!(status.total("optimized"), 0, "{status}");
}

#[test]
fn g1_restore_finds_the_original_of_a_renamed_file() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 120, 90, 1);
    let original = read(&path);
    env.run_once().expect_code(0);
    let renamed = env.photos().join("moved/renamed.jpg");
    std::fs::create_dir_all(renamed.parent().unwrap()).unwrap();
    std::fs::rename(&path, &renamed).unwrap();
    env.run_once().expect_code(0);

    env.run(&["restore", arg(&renamed)]).expect_code(0);

    assert_eq!(read(&renamed), original);
    assert_eq!(emu.uploads(), 1, "{}", log_summary(&emu));
}

#[test]
fn g1_restore_refuses_a_damaged_or_missing_backup() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let damaged = env.add_jpeg("damaged.jpg", 120, 90, 1);
    let missing = env.add_jpeg("missing.jpg", 100, 80, 2);
    let (damaged_hash, missing_hash) = (hash(&damaged), hash(&missing));
    env.run_once().expect_code(0);
    let optimized = [read(&damaged), read(&missing)];

    let backup = env.backup_of(&damaged_hash);
    let mut bytes = read(&backup);
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xFF;
    write_file(&backup, &bytes);
    std::fs::remove_file(env.backup_of(&missing_hash)).unwrap();

    for path in [&damaged, &missing] {
        env.run(&["restore", arg(path)]).expect_code(1);
    }
    assert_eq!(
        read(&damaged),
        optimized[0],
        "a damaged backup must not be restored"
    );
    assert_eq!(read(&missing), optimized[1]);
}
