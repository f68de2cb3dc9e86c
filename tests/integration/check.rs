//! `check`: what it reports must be true and say what to do. A bad key (asked to the
//! emulator's api-status, never printed: G8), an unreadable folder, a folder the agent
//! cannot write in, and an inotify limit below the folders to watch (read from an injected
//! file instead of /proc, so no root is needed); and it changes nothing on disk.

use shortpixel_emulator::{Emulator, Endpoint};

use crate::support::*;

/// An inotify limit file holding `limit`, for `SHORTPIXEL_AGENT_INOTIFY_LIMIT_FILE`.
fn limit_file(env: &TestEnv, limit: u64) -> String {
    let path = env.path("max_user_watches");
    std::fs::write(&path, format!("{limit}\n")).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn check_passes_a_good_setup_naming_everything_it_looked_at_and_changes_nothing() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    // Mirror mode, with the output not made yet: check must not make it either.
    env.configure(&Config::without_key(&emu).folders(vec![Folder::mirror("photos", "web/photos")]));
    env.add_jpeg("a.jpg", 64, 48, 1);
    std::fs::create_dir_all(env.photos().join("2024/summer")).unwrap();
    let limit = limit_file(&env, 8192);
    let before = env.snapshot(&env.root());
    let out = env.run_with_env(
        &["check"],
        &[("SHORTPIXEL_AGENT_INOTIFY_LIMIT_FILE", &limit)],
    );
    out.expect_code(0).expect_mentions(&[
        "✓ config",
        "✓ folder",
        "built-in optimizer",
        &format!(
            "✓ folder {}: readable, 3 folder(s);",
            env.photos().display()
        ),
        &format!(
            "can write in {} (created on the first run)",
            env.path("web/photos").display()
        ),
        "✓ inotify: 3 folder(s) to watch; the system allows 8192 watches",
        "✓ ledger",
        "✓ backups",
        "the agent can work here",
    ]);
    assert!(!out.stdout.contains('✗'), "no problem expected:\n{out}");
    assert_eq!(
        env.snapshot(&env.root()),
        before,
        "check must not create or change files"
    );
    assert!(emu.requests().is_empty(), "no key: nothing may be sent");
}

#[test]
fn check_reports_a_refused_key_with_where_to_put_the_right_one_and_never_prints_it() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let wrong = "WRONG-KEY-4242";
    env.configure(&Config::emulator(&emu).key(wrong));
    let out = env.run(&["check"]);
    out.expect_code(1)
        .expect_mentions(&["✗ API key", "refused", "api_key", "SHORTPIXEL_API_KEY"]);
    assert!(
        !out.all().contains(wrong),
        "the key must never be printed (G8):\n{out}"
    );
    assert_eq!(count(&emu, Endpoint::ApiStatus), 1, "{}", log_summary(&emu));
}

#[test]
fn check_accepts_a_good_key_and_shows_the_credits_left() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    let out = env.run(&["check"]);
    out.expect_code(0)
        .expect_mentions(&["✓ API key: accepted by ShortPixel; 1000 credits left"]);
    assert!(
        !out.all().contains(KEY),
        "the key must never be printed (G8)"
    );
}

#[test]
fn check_reports_an_unreadable_folder_in_words_a_user_can_act_on() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    env.add_jpeg("a.jpg", 64, 48, 1);
    let _locked = Chmod::set(env.photos(), 0o000);
    let out = env.run_unprivileged(&["check"], &[]);
    out.expect_code(1).expect_mentions(&[
        &format!("✗ folder {}", env.photos().display()),
        "cannot be read",
        "permission denied",
        "give it access",
        "chmod",
        "problem(s) to fix",
    ]);
}

#[test]
fn check_reports_a_folder_replace_mode_cannot_write_in() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    env.add_jpeg("a.jpg", 64, 48, 1);
    let _read_only = Chmod::set(env.photos(), 0o555);
    let out = env.run_unprivileged(&["check"], &[]);
    out.expect_code(1).expect_mentions(&[
        "cannot write in",
        "replace mode writes the optimized files there",
        "mode = \"mirror\"",
    ]);
}

#[test]
fn check_warns_when_the_inotify_limit_is_below_the_folders_to_watch_and_says_how_to_raise_it() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    for i in 0..20 {
        std::fs::create_dir_all(env.photos().join(format!("2024/{i:02}"))).unwrap();
    }
    let limit = limit_file(&env, 8);
    let out = env.run_with_env(
        &["check"],
        &[("SHORTPIXEL_AGENT_INOTIFY_LIMIT_FILE", &limit)],
    );
    // A low limit costs polling, it does not stop the agent: a warning, exit 0.
    out.expect_code(0).expect_mentions(&[
        "! inotify: 22 folders to watch, but the system allows only 8 inotify watches",
        "polled instead",
        "sudo sysctl fs.inotify.max_user_watches=524288",
        "/etc/sysctl.d/",
        "1 warning(s)",
    ]);
}

#[test]
fn check_with_an_invalid_config_exits_2_naming_the_key() {
    let env = TestEnv::new();
    env.write_config("[[folder]]\npath = \"photos\"\ncompression = \"best\"\n");
    let out = env.run(&["check"]);
    out.expect_code(2).expect_mentions(&[
        "✗ config",
        "compression",
        "best",
        "fix the config first",
    ]);
}
