//! A newcomer's first run: `run --once FOLDER` with no config writes one, says what it does
//! and how to undo it, and is idempotent; `run --once --dry-run` changes nothing (no file,
//! no ledger row, no request: SPEC §1); hints repeat what the user typed; `restore` says what
//! to type when it cannot guess.

use std::path::Path;

use shortpixel_emulator::Emulator;

use crate::support::*;

/// The backups of a config written by the agent itself: in the OS data folder.
fn default_backups(env: &TestEnv) -> std::path::PathBuf {
    env.path("home/data/shortpixel-agent/backups")
}

#[test]
fn run_once_folder_without_a_config_writes_one_says_how_to_undo_and_runs_again_idempotently() {
    let env = TestEnv::new();
    let photo = env.add_jpeg("a.jpg", 160, 120, 1);
    let original = read(&photo);
    let config = env.config_path();
    let photos = env.photos();

    let first = env.run(&["run", "--once", photos.to_str().unwrap()]);
    first.expect_code(0).expect_mentions(&[
        "first run: wrote the config",
        "optimized in place",
        &default_backups(&env).display().to_string(),
        &format!("{} --config {} restore --all", bin(), config.display()),
        "done: 1 optimized",
    ]);
    assert!(
        config.is_file(),
        "the config was written where --config said"
    );
    let optimized = read(&photo);
    assert!(optimized.len() < original.len(), "the photo was optimized");
    let backup = default_backups(&env).join(&blake3::hex(&original)[..2]);
    assert!(backup.is_dir(), "the original is in the backups");

    // Again: nothing new, nothing changed, no second "first run".
    let before = state(&env);
    let second = env.run(&["run", "--once", photos.to_str().unwrap()]);
    second
        .expect_code(0)
        .expect_mentions(&["done: 0 optimized"]);
    assert!(!second.all().contains("first run"), "{second}");
    assert_eq!(state(&env), before, "a second run changed files");

    // The undo line does what it says.
    env.run(&["restore", "--all"]).expect_code(0);
    assert_eq!(read(&photo), original);
}

#[test]
fn run_once_with_a_folder_the_config_does_not_have_exits_2_naming_it_and_the_config() {
    let env = TestEnv::new();
    env.write_config("[[folder]]\npath = \"photos\"\n");
    let other = env.path("other");
    std::fs::create_dir(&other).unwrap();
    let out = env.run(&["run", "--once", other.to_str().unwrap()]);
    out.expect_code(2).expect_mentions(&[
        &other.display().to_string(),
        "is not a folder of the config",
        &env.config_path().display().to_string(),
    ]);
}

/// Every file of the tree (photos, config, ledger, backups), but SQLite's `-wal`/`-shm`,
/// which any reader of a WAL database may create empty (`status` does too), and the lock
/// file, which holds the pid of the last run.
fn state(env: &TestEnv) -> std::collections::BTreeMap<String, String> {
    let mut files = env.snapshot(&env.root());
    files.retain(|name, _| {
        !(name.ends_with("-wal") || name.ends_with("-shm") || name.ends_with(".lock"))
    });
    files
}

#[test]
fn dry_run_says_what_a_run_would_do_and_changes_no_file_no_ledger_row_and_sends_nothing() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let done = env.add_jpeg("done.jpg", 160, 120, 1);
    let done_original = read(&done);
    env.run_once().expect_code(0);
    // New since: two new photos, and a copy of one already optimized (its result is known:
    // a real run would write it without an upload).
    env.add_jpeg("new1.jpg", 160, 120, 2);
    env.add_png("new2.png", 120, 90, 3);
    let copy = env.add_file("copy-of-done.jpg", &done_original);
    let requests = emu.requests().len();
    let before = state(&env);

    let out = env.run(&["run", "--once", "--dry-run"]);
    out.expect_code(0).expect_mentions(&[
        "dry run",
        "would optimize 3 file(s)",
        "2 upload(s) to ShortPixel",
        "1 file(s) from results already made or paid for",
        &format!("to do it: {} --config", bin()),
    ]);
    assert_eq!(
        state(&env),
        before,
        "a dry run changed a file or the ledger"
    );
    assert_eq!(emu.requests().len(), requests, "a dry run sent a request");
    assert_eq!(read(&copy), done_original, "the copy was written");

    // Nothing was recorded either: the real run still finds all three to do.
    env.run_once()
        .expect_code(0)
        .expect_mentions(&["done: 3 optimized"]);
    assert_eq!(
        upload_requests(&emu)
            .iter()
            .map(|r| r.files.len())
            .sum::<usize>(),
        3
    );
}

#[test]
fn dry_run_without_a_config_writes_neither_config_nor_ledger() {
    let env = TestEnv::new();
    env.add_jpeg("a.jpg", 160, 120, 1);
    let before = state(&env);
    let photos = env.photos();
    let out = env.run(&["run", "--once", "--dry-run", photos.to_str().unwrap()]);
    out.expect_code(0)
        .expect_mentions(&["would optimize 1 file(s)", "built-in optimizer"]);
    assert_eq!(state(&env), before, "{out}");
    assert!(!env.config_path().exists());
}

#[test]
fn hints_through_cargo_run_say_cargo_run_and_keep_the_config_given() {
    let env = TestEnv::new();
    let photos = env.photos();
    let config = env.config_path();
    let out = env.run_with_env(
        &["init", photos.to_str().unwrap()],
        &[("CARGO_PKG_NAME", "shortpixel-agent")],
    );
    out.expect_code(0).expect_mentions(&[&format!(
        "`cargo run -- --config {} run --once`",
        config.display()
    )]);
    // Not through cargo: the program as it was typed (here, its full path).
    let out = env.run(&["restore"]);
    out.expect_code(2).expect_mentions(&[
        "name the files or folders to restore",
        &format!("`{} --config {} restore --all`", bin(), config.display()),
    ]);
}

#[test]
fn a_missing_config_says_where_the_agent_looked_and_the_init_to_run() {
    let env = TestEnv::new();
    let out = env.run(&["status"]);
    out.expect_code(2).expect_mentions(&[
        &format!("no config file at {}", env.config_path().display()),
        "given with --config",
        "init FOLDER",
    ]);
    assert!(
        !out.all().contains("invalid"),
        "missing is not invalid:\n{out}"
    );
    // Without --config: the default place, named as such.
    let bare = env.spawn_argv(&[bin(), "check"], &env.root(), &[]).wait();
    bare.expect_code(2).expect_mentions(&[
        &env.path("home/config/shortpixel-agent/config.toml")
            .display()
            .to_string(),
        "the default place",
    ]);
}

#[test]
fn restore_of_a_path_that_does_not_exist_says_so() {
    let env = TestEnv::new();
    env.write_config("[[folder]]\npath = \"photos\"\n");
    let gone = env.photos().join("no-such.jpg");
    let out = env.run(&["restore", gone.to_str().unwrap()]);
    out.expect_code(1).expect_mentions(&["no such file"]);
    assert!(!out.all().contains("not a file the agent manages"), "{out}");
    let here = env.add_file("notes.txt", b"not an image");
    env.run(&["restore", here.to_str().unwrap()])
        .expect_code(1)
        .expect_mentions(&["not a file the agent manages"]);
}

#[test]
fn a_saving_below_min_saving_keeps_the_original_as_already_optimal_and_is_not_sent_again() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).set("min_saving", "99"));
    let photo = env.add_jpeg("a.jpg", 160, 120, 1);
    let original_hash = hash(&photo);
    env.run_once()
        .expect_code(0)
        .expect_mentions(&["1 already optimal"]);
    assert_untouched(&photo, &original_hash);
    assert!(
        !env.backup_of(&original_hash).exists(),
        "no backup for a file that was not replaced"
    );
    let status = env.status();
    let reason = serde_json::to_string(&status.0).unwrap();
    assert!(
        reason.contains("min_saving"),
        "the reason names the setting: {status}"
    );
    env.run_once().expect_code(0);
    assert_eq!(emu.uploads_of(&original_hash), 1, "{}", log_summary(&emu));

    // The default (1 %) takes an ordinary saving.
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let photo = env.add_jpeg("b.jpg", 160, 120, 7);
    let original = read(&photo);
    env.run_once().expect_code(0);
    assert_optimized_in_place(&env, &photo, &original);
}

#[test]
fn include_globs_and_min_size_choose_the_files_and_a_shrunk_file_stays_tracked() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let big = env.add_png("big.png", 200, 150, 1);
    let size = read(&big).len();
    let small = env.add_png("small.png", 16, 12, 2);
    let jpeg = env.add_jpeg("photo.jpg", 200, 150, 3);
    assert!(read(&small).len() < size);
    env.configure(
        &Config::without_key(&emu)
            .folder_option("include", r#"["**/*.png"]"#)
            .folder_option("min_size", &size.to_string()),
    );
    let (small_hash, jpeg_hash) = (hash(&small), hash(&jpeg));
    env.run_once().expect_code(0);
    assert!(read(&big).len() < size, "the big PNG was optimized");
    assert_untouched(&small, &small_hash);
    assert_untouched(&jpeg, &jpeg_hash);
    assert_eq!(env.status().total("files"), 1);
    // Optimized, it is now below min_size: still tracked, still restorable.
    env.run_once().expect_code(0);
    let status = env.status();
    assert_eq!(
        (status.total("files"), status.total("optimized")),
        (1, 1),
        "{status}"
    );
    env.run(&["restore", big.to_str().unwrap()])
        .expect_code(0)
        .expect_mentions(&["restored"]);
    assert_eq!(read(&big).len(), size);
}

#[test]
fn global_options_are_shown_at_the_top_only_and_still_accepted_after_the_command() {
    let env = TestEnv::new();
    let top = env.run(&["--help"]);
    top.expect_code(0)
        .expect_mentions(&["--config", "--log-format"]);
    for cmd in ["status", "run", "completions", "man"] {
        let out = env.run(&[cmd, "--help"]);
        out.expect_code(0);
        assert!(
            !out.stdout.contains("--log-format") && !out.stdout.contains("--config"),
            "{cmd} --help repeats the global options:\n{out}"
        );
    }
    env.write_config("[[folder]]\npath = \"photos\"\n");
    let config = env.config_path();
    let out = env
        .spawn_argv(
            &[bin(), "status", "--config", config.to_str().unwrap()],
            &env.root(),
            &[],
        )
        .wait();
    out.expect_code(0);
}

#[test]
fn the_man_page_has_environment_files_exit_status_and_examples_and_no_dangling_help_page() {
    let env = TestEnv::new();
    let out = env.run(&["man"]);
    out.expect_code(0);
    for section in [
        ".SH ENVIRONMENT",
        ".SH FILES",
        ".SH \"EXIT STATUS\"",
        ".SH EXAMPLES",
        "SHORTPIXEL_API_KEY",
    ] {
        assert!(out.stdout.contains(section), "{section}:\n{out}");
    }
    let dir = env.path("man");
    env.run(&["man", "--dir", dir.to_str().unwrap()])
        .expect_code(0);
    for page in files_under(&dir) {
        let text = std::fs::read_to_string(&page).unwrap();
        for word in text.split(|c: char| c.is_whitespace() || c == ',') {
            if let Some(name) = word.strip_suffix("(1)") {
                let name = name
                    .replace("\\-", "-")
                    .replace("\\fB", "")
                    .replace("\\fR", "");
                assert!(
                    Path::new(&dir).join(format!("{name}.1")).exists(),
                    "{} points to {name}(1), which is not written",
                    page.display()
                );
            }
        }
    }
}

#[test]
fn dry_run_after_losing_the_ledger_plans_from_the_backup_store_and_still_writes_no_ledger() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    env.add_jpeg("a.jpg", 160, 120, 1);
    env.run_once().expect_code(0);
    for name in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
        let _ = std::fs::remove_file(env.path(name));
    }
    let before = state(&env);
    let requests = emu.requests().len();
    let out = env.run(&["run", "--once", "--dry-run"]);
    out.expect_code(0)
        .expect_mentions(&["0 upload(s) to ShortPixel"]);
    assert!(
        !env.ledger_path().exists(),
        "a dry run made a ledger:\n{out}"
    );
    assert_eq!(state(&env), before, "{out}");
    assert_eq!(emu.requests().len(), requests);
}
