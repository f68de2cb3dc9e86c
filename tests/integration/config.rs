//! The config file (SPEC §2): anything invalid exits 2 with a message naming the file and
//! the key — unknown keys included, never silently ignored — before anything is touched;
//! relative paths resolve against the config's folder; `init` writes a commented starter
//! file that parses, and never overwrites an existing one.

use shortpixel_emulator::Emulator;

use crate::support::*;

/// A valid config for `emu` with `line` spliced in at `section` (a header such as
/// `[network]`, or "" for the top level).
fn config_with(emu: &Emulator, section: &str, line: &str) -> String {
    let valid = Config::emulator(emu).render();
    if section.is_empty() {
        return format!("{line}\n{valid}");
    }
    let at = valid.find(section).expect("section present") + section.len();
    format!("{}\n{line}{}", &valid[..at], &valid[at..])
}

/// `run --once` and `status` both refuse `toml` with exit 2, naming the file and `key` on
/// stderr, and neither touches a photo nor calls the service.
#[track_caller]
fn assert_rejected(emu: &Emulator, toml: &str, key: &str) {
    let env = TestEnv::new();
    env.write_config(toml);
    env.add_jpeg("a.jpg", 80, 60, 1);
    let before = env.snapshot(&env.photos());
    let file = env.config_path().to_string_lossy().into_owned();

    for args in [&["run", "--once"][..], &["status", "--json"]] {
        let out = env.run(args);
        out.expect_code(2);
        assert!(
            out.stderr.contains(&file),
            "stderr should name {file}:\n{out}"
        );
        assert!(
            out.stderr.contains(key),
            "stderr should name the key `{key}`:\n{out}"
        );
    }
    assert_eq!(env.snapshot(&env.photos()), before);
    assert!(
        emu.requests().is_empty(),
        "an invalid config reached the service"
    );
}

#[test]
fn unknown_top_level_key_exits_2_naming_file_and_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    assert_rejected(&emu, &config_with(&emu, "", r#"colour = "blue""#), "colour");
}

#[test]
fn unknown_folder_key_exits_2_naming_file_and_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    assert_rejected(
        &emu,
        &config_with(&emu, "[[folder]]", "qualty = 80"),
        "qualty",
    );
}

#[test]
fn unknown_network_key_exits_2_naming_file_and_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    assert_rejected(
        &emu,
        &config_with(&emu, "[network]", "timeout_sec = 5"),
        "timeout_sec",
    );
}

#[test]
fn bad_compression_value_exits_2_naming_the_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .folder_option("compression", r#""extreme""#)
        .render();
    assert_rejected(&emu, &toml, "compression");
}

#[test]
fn bad_mode_value_exits_2_naming_the_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .folder_option("mode", r#""copy""#)
        .render();
    assert_rejected(&emu, &toml, "mode");
}

#[test]
fn bad_backend_value_exits_2_naming_the_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu).set("backend", r#""cloud""#).render();
    assert_rejected(&emu, &toml, "backend");
}

#[test]
fn wrong_value_type_exits_2_naming_the_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .set("concurrency", r#""four""#)
        .render();
    assert_rejected(&emu, &toml, "concurrency");
}

#[test]
fn out_of_range_settle_exits_2_naming_the_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu).set("settle", "-1").render();
    assert_rejected(&emu, &toml, "settle");
}

#[test]
fn unknown_watch_mode_exits_2_naming_the_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .folder_option("watch", r#""inotify""#)
        .render();
    assert_rejected(&emu, &toml, "watch");
}

#[test]
fn folder_without_path_exits_2_naming_path() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .render()
        .replace("path = \"photos\"\n", "");
    assert!(!toml.contains("path ="));
    assert_rejected(&emu, &toml, "path");
}

#[test]
fn mirror_without_output_exits_2_naming_output() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .folder_option("mode", r#""mirror""#)
        .render();
    assert!(!toml.contains("output"));
    assert_rejected(&emu, &toml, "output");
}

#[test]
fn toml_syntax_error_exits_2_naming_the_file() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = config_with(&emu, "", "this is = = not toml");
    let env = TestEnv::new();
    env.write_config(&toml);
    let out = env.run(&["run", "--once"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains(&*env.config_path().to_string_lossy()),
        "{out}"
    );
}

#[test]
fn missing_config_file_exits_2_naming_it() {
    let env = TestEnv::new();
    let out = env.run(&["run", "--once"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains(&*env.config_path().to_string_lossy()),
        "{out}"
    );
}

#[test]
fn relative_paths_resolve_against_the_config_folder_not_the_working_directory() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let path = env.add_jpeg("a.jpg", 100, 80, 1);
    let original = read(&path);
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();

    env.run_in(&elsewhere, &["run", "--once"]).expect_code(0);

    assert_optimized_in_place(&env, &path, &original);
    assert!(
        env.ledger_path().exists(),
        "ledger.db should be beside config.toml"
    );
    assert!(
        files_under(&elsewhere).is_empty(),
        "wrote into the working directory"
    );
}

#[test]
fn init_writes_a_commented_config_that_parses() {
    let env = TestEnv::new();
    env.add_png("a.png", 64, 48, 1);

    env.run(&["init", env.photos().to_str().unwrap()])
        .expect_code(0);

    let text = std::fs::read_to_string(env.config_path()).expect("init wrote the config");
    let comments = text
        .lines()
        .filter(|l| l.trim_start().starts_with('#'))
        .count();
    assert!(
        comments >= 5,
        "the starter config should explain itself:\n{text}"
    );
    let status = env.status();
    status.folder(&env.photos());
    assert_eq!(
        status.0["credits"],
        serde_json::Value::Null,
        "no key, no credits: {status}"
    );
}

#[test]
fn init_refuses_to_overwrite_an_existing_config() {
    let env = TestEnv::new();
    let mine = "# my precious config\nconcurrency = 2\n";
    env.write_config(mine);

    let out = env.run(&["init", env.photos().to_str().unwrap()]);

    assert!(
        matches!(out.code, Some(1 | 2)),
        "init over an existing config must fail:\n{out}"
    );
    assert_eq!(std::fs::read_to_string(env.config_path()).unwrap(), mine);
}

/// `assert_rejected`, and the message also names the other key of the clash.
#[track_caller]
fn assert_clash(emu: &Emulator, toml: &str, key: &str, other: &str) {
    assert_rejected(emu, toml, key);
    let env = TestEnv::new();
    env.write_config(toml);
    let out = env.run(&["status"]);
    out.expect_code(2).expect_mentions(&[key, other]);
}

#[test]
fn two_folders_with_the_same_output_exit_2_naming_both_keys() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .folders(vec![
            Folder::mirror("photos", "web"),
            Folder::mirror("other", "web"),
        ])
        .render();
    // `other` need not exist for the clash to be seen.
    assert_clash(&emu, &toml, "folder[1].output", "folder[0].output");
}

#[test]
fn a_backup_dir_or_ledger_inside_a_mirror_output_exits_2_naming_both_keys() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .set("backup_dir", r#""web/backups""#)
        .folders(vec![Folder::mirror("photos", "web")])
        .render();
    assert_clash(&emu, &toml, "backup_dir", "folder[0].output");
    let toml = Config::emulator(&emu)
        .set("ledger", r#""web/ledger.db""#)
        .folders(vec![Folder::mirror("photos", "web")])
        .render();
    assert_clash(&emu, &toml, "ledger", "folder[0].output");
}

#[test]
fn a_mirror_output_inside_another_watched_folder_or_a_folder_inside_an_output_exits_2() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let toml = Config::emulator(&emu)
        .folders(vec![
            Folder::replace("photos"),
            Folder::mirror("other", "photos/web"),
        ])
        .render();
    assert_clash(&emu, &toml, "folder[1].output", "folder[0].path");
    let toml = Config::emulator(&emu)
        .folders(vec![
            Folder::mirror("other", "web"),
            Folder::replace("web/photos"),
        ])
        .render();
    assert_clash(&emu, &toml, "folder[1].path", "folder[0].output");
}

#[test]
fn a_misspelt_key_suggests_the_nearest_valid_one() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.write_config(&config_with(&emu, "[[folder]]", r#"compresion = "lossy""#));
    env.run(&["check"])
        .expect_code(2)
        .expect_mentions(&["compresion", "did you mean `compression`?"]);
}

#[test]
fn checking_a_mirror_config_creates_no_output_folder() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu).folders(vec![Folder::mirror("photos", "web")]));
    for args in [&["check"][..], &["status"]] {
        env.run(args);
        assert!(
            !env.path("web").exists(),
            "{args:?} created the mirror output"
        );
    }
    env.run_once().expect_code(0);
    assert!(env.path("web").is_dir(), "run creates it");
}

#[test]
fn a_missing_folder_blocks_only_run_status_and_restore_work_and_check_reports_it() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let photo = env.add_jpeg("a.jpg", 160, 120, 1);
    let original = read(&photo);
    env.run_once().expect_code(0);
    // The share is unmounted.
    let away = env.path("unmounted");
    std::fs::rename(env.photos(), &away).unwrap();

    let run = env.run_once();
    run.expect_code(1)
        .expect_mentions(&["folder[0].path", "is not there", "unmounted share"]);
    let status = env.status();
    assert_eq!(status.total("optimized"), 1, "{status}");
    env.run(&["check"]).expect_code(1).expect_mentions(&[
        "✗ folder",
        "is not there",
        "status` and `restore` work",
    ]);
    // Not refused for the config: the file itself is what is missing.
    env.run(&["restore", "--dry-run", photo.to_str().unwrap()])
        .expect_code(0)
        .expect_mentions(&["would restore 1 file(s)"]);

    // Back again: nothing was forgotten, the original is still restorable.
    std::fs::rename(&away, env.photos()).unwrap();
    env.run_once()
        .expect_code(0)
        .expect_mentions(&["done: 0 optimized"]);
    env.run(&["restore", "--all"]).expect_code(0);
    assert_eq!(read(&photo), original);
    assert!(
        emu.uploads_of(&blake3::hex(&original)) == 1,
        "{}",
        log_summary(&emu)
    );
}
