//! Hostile conditions on the file system: names that are not UTF-8, files swapped under the
//! agent, full disks, lost or corrupt ledgers. Each test is named after what it protects.
//! (A hostile *server* is `hostile_server.rs`.)

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use shortpixel_emulator::Emulator;

use crate::support::*;

/// A local-backend environment (no request leaves the machine; the emulator only trips).
fn local_env() -> (Emulator, TestEnv) {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    (emu, env)
}

/// `photos/<name>` for a name given as bytes.
fn photo(env: &TestEnv, name: &[u8]) -> PathBuf {
    env.photos().join(OsStr::from_bytes(name))
}

#[test]
fn g10_names_that_are_not_utf8_keep_one_record_each_and_restore_exactly() {
    let (_emu, env) = local_env();
    let long = [b'n'; 251]
        .iter()
        .copied()
        .chain(*b".jpg")
        .collect::<Vec<u8>>();
    let names: Vec<Vec<u8>> = vec![
        b"\xff\xfe.jpg".to_vec(),
        b"\xfe\xff.jpg".to_vec(),
        b"line\nbreak.jpg".to_vec(),
        b"plain.jpg".to_vec(),
        long,
    ];
    let files: Vec<(PathBuf, Vec<u8>)> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = photo(&env, n);
            write_file(&p, &images::photo_jpeg(160, 120, 70 + i as u64));
            (p.clone(), read(&p))
        })
        .collect();

    env.run_once().expect_code(0);
    let s = env.status();
    assert_eq!(s.total("files"), files.len() as u64, "{s}");
    assert_eq!(s.total("optimized"), files.len() as u64, "{s}");
    for (p, orig) in &files {
        assert_optimized_in_place(&env, p, orig);
    }

    // Pruning without --force keeps every original whose file is optimized in place.
    env.run(&["backups", "prune", "--max-size", "0"])
        .expect_code(0);
    for (_, orig) in &files {
        let b = env.backup_of(&blake3::hex(orig));
        assert_eq!(read(&b), *orig, "the only copy of an original was pruned");
    }

    // One file restored by its (non-UTF-8) name, then all of them.
    env.run_os(&[OsStr::new("restore"), files[0].0.as_os_str()])
        .expect_code(0);
    assert_eq!(read(&files[0].0), files[0].1);
    assert_ne!(
        read(&files[1].0),
        files[1].1,
        "its twin name was left alone"
    );
    env.run(&["restore", "--all"]).expect_code(0);
    for (p, orig) in &files {
        assert_eq!(read(p), *orig, "{} restored byte for byte", p.display());
    }
    let s = env.status();
    assert_eq!(s.total("restored"), files.len() as u64, "{s}");
}

#[test]
fn g10_status_lists_names_that_are_not_utf8_escaped_and_distinct() {
    let (_emu, env) = local_env();
    // Not images: skipped, and listed by name with the reason.
    for n in [&b"\xff\xfe.jpg"[..], b"\xfe\xff.jpg", b"tab\there.jpg"] {
        write_file(&photo(&env, n), b"not an image at all");
    }
    env.run_once().expect_code(0);
    let s = env.status();
    let listed: Vec<String> = s.0["skipped_files"]
        .as_array()
        .expect("skipped_files")
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_owned())
        .collect();
    let base = canonical(&env.photos());
    for want in ["\\xff\\xfe.jpg", "\\xfe\\xff.jpg", "tab\\there.jpg"] {
        assert!(
            listed.contains(&format!("{base}/{want}")),
            "{want} not listed in {listed:?}"
        );
    }
    let text = env.run(&["status"]);
    text.expect_code(0);
    assert!(text.stdout.contains("\\xff\\xfe.jpg"), "{}", text.stdout);
}

#[test]
fn g1_a_deleted_file_stays_restorable_by_its_old_path_until_pruned_explicitly() {
    let (_emu, env) = local_env();
    let gone = env.add_jpeg("2024/gone.jpg", 160, 120, 31);
    let kept = env.add_jpeg("2024/kept.jpg", 160, 120, 32);
    let (gone_orig, kept_orig) = (read(&gone), read(&kept));
    env.run_once().expect_code(0);
    assert_optimized_in_place(&env, &gone, &gone_orig);

    // Deleted, and a scan has seen it gone.
    std::fs::remove_file(&gone).unwrap();
    env.run_once().expect_code(0);
    // Neither `--all` nor a prune without --force or a retention rule touches it.
    env.run(&["restore", "--all", "--dry-run"]).expect_code(0);
    env.run(&["backups", "prune", "--max-size", "0"])
        .expect_code(0);
    env.run(&[
        "backups",
        "prune",
        "--max-size",
        "0",
        "--deleted-older-than",
        "30d",
    ])
    .expect_code(0);
    assert!(!gone.exists(), "nothing resurrected the deleted file");
    assert_eq!(read(&env.backup_of(&blake3::hex(&gone_orig))), gone_orig);
    let listed = env.run(&["restore", "--deleted", "--dry-run"]);
    listed.expect_code(0);
    assert!(
        listed.stdout.contains("would restore") && listed.stdout.contains("gone.jpg"),
        "{listed}"
    );

    // Restored by its old path: the original, byte for byte, tracked as restored.
    env.run(&["restore", gone.to_str().unwrap()]).expect_code(0);
    assert_eq!(read(&gone), gone_orig);
    assert_ne!(read(&kept), kept_orig, "the other file stays optimized");
    env.run_once().expect_code(0);
    assert_eq!(
        read(&gone),
        gone_orig,
        "a restored file stays restored (G5)"
    );
    assert_eq!(env.status().total("restored"), 1);
}

#[test]
fn g1_the_retention_rule_for_deleted_files_lets_their_originals_go() {
    let (_emu, env) = local_env();
    let gone = env.add_jpeg("gone.jpg", 160, 120, 33);
    // A folder found empty forgets nothing (it may be an unmounted share): keep one file.
    env.add_jpeg("stays.jpg", 160, 120, 34);
    let orig = read(&gone);
    env.run_once().expect_code(0);
    std::fs::remove_file(&gone).unwrap();
    env.run_once().expect_code(0);
    // Deleted "0 seconds ago" is at least 0 s ago: the rule applies.
    env.run(&[
        "backups",
        "prune",
        "--max-size",
        "0",
        "--deleted-older-than",
        "0s",
    ])
    .expect_code(0);
    assert!(!env.backup_of(&blake3::hex(&orig)).exists());
    let out = env.run(&["restore", "--deleted", "--dry-run"]);
    out.expect_code(0);
    assert!(out.stdout.contains("would restore 0 file(s)"), "{out}");
}
