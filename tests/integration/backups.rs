//! `backups` and `backups prune`: sizes you can see, and pruning that never removes the only
//! copy of an original whose file is optimized in place unless forced (G1). A pruned backup
//! is recorded, so `restore` says what happened and `status` counts it.

use std::time::Duration;

use shortpixel_agent::backup::prune::date;
use shortpixel_agent::ledger::now;
use shortpixel_emulator::Emulator;

use crate::support::*;

/// Two files optimized in place, then one of them restored: `a.jpg` still needs its
/// backup, `b.jpg` (restored, holding its original again) does not.
fn one_needed_one_not(env: &TestEnv, emu: &Emulator) -> (Vec<u8>, Vec<u8>) {
    env.configure(&Config::emulator(emu));
    let a = env.add_jpeg("a.jpg", 160, 120, 1);
    let b = env.add_jpeg("b.jpg", 160, 120, 2);
    let (a_orig, b_orig) = (read(&a), read(&b));
    env.run_once().expect_code(0);
    env.run(&["restore", b.to_str().unwrap()]).expect_code(0);
    assert_eq!(read(&b), b_orig);
    (a_orig, b_orig)
}

#[test]
fn backups_shows_originals_and_kept_results_with_their_sizes() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let (a_orig, b_orig) = one_needed_one_not(&env, &emu);
    let out = env.run(&["backups"]);
    out.expect_code(0).expect_mentions(&[
        &format!("backups in {}", env.backup_dir().display()),
        "originals:      2 files",
        "1 of them",
        "only copy of a file optimized in place",
        "kept results:",
        &format!("oldest:         {}", date(now())),
        "backups prune --older-than",
    ]);
    let total = (a_orig.len() + b_orig.len()) as u64;
    assert!(
        out.stdout
            .contains(&shortpixel_agent::status::human_bytes(total)),
        "the originals' size ({total} bytes) in human units:\n{out}"
    );
}

#[test]
fn prune_never_removes_a_backup_still_needed_unless_forced_and_restore_then_says_so() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let (a_orig, b_orig) = one_needed_one_not(&env, &emu);
    let a = env.photos().join("a.jpg");
    let a_backup = env.backup_of(&blake3::hex(&a_orig));
    let b_backup = env.backup_of(&blake3::hex(&b_orig));

    let out = env.run(&["backups", "prune", "--older-than", "0s"]);
    out.expect_code(0).expect_mentions(&[
        "pruned",
        "kept 1 backup(s)",
        "only copy of an original",
        "--force",
    ]);
    assert!(!b_backup.exists(), "b.jpg was restored: its backup may go");
    assert_eq!(
        read(&a_backup),
        a_orig,
        "a.jpg is optimized in place: its backup is the only copy of its original (G1)"
    );
    // What is kept still restores byte for byte.
    env.run(&["restore", "--dry-run", a.to_str().unwrap()])
        .expect_code(0)
        .expect_mentions(&["would restore 1 file(s)"]);

    let before = now();
    env.run(&["backups", "prune", "--older-than", "0s", "--force"])
        .expect_code(0)
        .expect_mentions(&["1 of them were the only copy", "can no longer be restored"]);
    assert!(!a_backup.exists(), "--force prunes needed backups too");
    let optimized = read(&a);

    let out = env.run(&["restore", a.to_str().unwrap()]);
    out.expect_code(1);
    let dates = [date(before), date(now())];
    assert!(
        dates.iter().any(|d| out
            .stderr
            .contains(&format!("its backup was pruned on {d}"))),
        "restore must say when the backup was pruned:\n{out}"
    );
    assert!(out.stderr.contains("cannot be restored"), "{out}");
    assert_eq!(
        read(&a),
        optimized,
        "a refused restore leaves the file alone"
    );

    let status = env.status();
    assert_eq!(status.0["backups"]["pruned"], 2, "{status}");
    assert_eq!(status.0["backups"]["unrestorable"], 1, "{status}");
    assert_eq!(status.0["backups"]["files"], 0, "{status}");
    env.run(&["status"])
        .expect_code(0)
        .expect_mentions(&["2 pruned", "1 optimized file(s) can no longer be restored"]);
}

#[test]
fn prune_to_a_size_dry_run_deletes_nothing_and_the_real_run_keeps_what_is_needed() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let (a_orig, _) = one_needed_one_not(&env, &emu);
    let before = env.snapshot(&env.backup_dir());
    assert!(before.len() >= 3, "originals and kept results: {before:?}");

    env.run(&["backups", "prune", "--max-size", "1", "--dry-run"])
        .expect_code(0)
        .expect_mentions(&["would prune", "kept 1 backup(s)", "the rest is needed"]);
    assert_eq!(
        env.snapshot(&env.backup_dir()),
        before,
        "--dry-run deletes nothing"
    );

    env.run(&["backups", "prune", "--max-size", "1"])
        .expect_code(0)
        .expect_mentions(&["the rest is needed"]);
    let left = env.snapshot(&env.backup_dir());
    let a_hash = blake3::hex(&a_orig);
    // The store's journal (G9) is not a backup: it stays, describing what is left.
    let (journal, backups): (Vec<&String>, Vec<&String>) =
        left.keys().partition(|k| k.starts_with("journal/"));
    assert_eq!(
        backups,
        vec![&format!("{}/{a_hash}", &a_hash[..2])],
        "only the needed original is left"
    );
    assert!(!journal.is_empty(), "the journal stays");
}

#[test]
fn prune_with_a_bad_age_or_no_limit_is_refused_with_how_to_write_it() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    env.run(&["backups", "prune", "--older-than", "three months"])
        .expect_code(2)
        .expect_mentions(&["is not an age", "90d"]);
    env.run(&["backups", "prune"])
        .expect_code(2)
        .expect_mentions(&["--older-than", "--max-size"]);
}

#[test]
fn prune_is_refused_while_the_daemon_runs() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let mut d = env.spawn(&["run"]);
    wait_until(Duration::from_secs(60), "the daemon to start", || {
        assert!(d.alive(), "the daemon exited early");
        env.status().0["daemon"]["running"] == true
    });
    env.run(&["backups", "prune", "--older-than", "0s"])
        .expect_code(1)
        .expect_mentions(&["already running", "stop it first"]);
    d.signal("TERM");
    d.wait().expect_code(0);
}
