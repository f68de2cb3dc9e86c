//! G8 secrets stay secret: with tracing at its most verbose, the API key appears in no
//! command's stdout or stderr (init, run, status, restore — on success and on failures whose
//! error messages could carry a URL or a request), in no byte of the ledger (db, -wal,
//! -shm), and in no other file the agent writes; whether the key comes from the config,
//! the environment or a key file.

use std::path::Path;

use shortpixel_emulator::{Emulator, Endpoint, Fault};

use crate::support::*;

/// Distinctive enough that any occurrence is the key.
const SECRET: &str = "SPAsecret7f3a9c2e51d4";

#[track_caller]
fn assert_clean(out: &Outcome) {
    assert!(
        !out.all().contains(SECRET),
        "G8: the API key was printed:\n{out}"
    );
}

/// No file under the temp root contains the key, except the ones the user wrote it into.
#[track_caller]
fn assert_no_file_holds_the_key(env: &TestEnv, allowed: &[&Path]) {
    for ledger in ["ledger.db", "ledger.db-wal", "ledger.db-shm"] {
        let path = env.path(ledger);
        if let Ok(bytes) = std::fs::read(&path) {
            assert!(
                !contains(&bytes, SECRET.as_bytes()),
                "G8: the key is in {ledger}"
            );
        }
    }
    assert!(
        env.ledger_path().exists(),
        "the ledger should exist to be checked"
    );
    for path in files_under(&env.root()) {
        if allowed.contains(&path.as_path()) {
            continue;
        }
        assert!(
            !contains(&read(&path), SECRET.as_bytes()),
            "G8: the key was written to {}",
            path.display()
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A secret-keyed env at trace level with two images.
fn traced_env(config: Config) -> TestEnv {
    let mut env = TestEnv::new();
    env.log = "trace".to_owned();
    env.configure(&config.key(SECRET));
    env.add_jpeg("a.jpg", 100, 80, 1);
    env.add_png("sub/b.png", 90, 60, 2);
    env
}

#[test]
fn g8_key_never_appears_in_any_output_ledger_or_file() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    let env = traced_env(Config::emulator(&emu).folder_option("convert", r#"["webp"]"#));
    let a = env.photos().join("a.jpg");
    let a_arg = a.to_str().unwrap();

    for args in [
        &["run", "--once"][..],
        &["status"],
        &["status", "--json"],
        &["restore", "--dry-run", "--all"],
        &["restore", a_arg],
        &["run", "--once"],
        &["restore", "--all"],
        &["status", "--json"],
    ] {
        let out = env.run(args);
        assert!(matches!(out.code, Some(0)), "{out}");
        assert_clean(&out);
    }

    assert!(
        upload_requests(&emu)
            .iter()
            .all(|r| r.key.as_deref() == Some(SECRET)),
        "the key was not what the agent sent, so this test proves nothing"
    );
    let config = env.config_path();
    assert_no_file_holds_the_key(&env, &[&config]);
}

#[test]
fn g8_init_with_the_key_in_the_environment_does_not_print_it() {
    let mut env = TestEnv::new();
    env.log = "trace".to_owned();
    let out = env.run_with_env(
        &["init", env.photos().to_str().unwrap()],
        &[("SHORTPIXEL_API_KEY", SECRET)],
    );
    out.expect_code(0);
    assert_clean(&out);
}

#[test]
fn g8_key_from_the_environment_is_used_and_not_leaked() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    let mut env = TestEnv::new();
    env.log = "trace".to_owned();
    env.configure(&Config::emulator(&emu).no_key_line());
    let path = env.add_jpeg("a.jpg", 100, 80, 1);
    let original = read(&path);
    let key = [("SHORTPIXEL_API_KEY", SECRET)];

    let out = env.run_with_env(&["run", "--once"], &key);
    out.expect_code(0);
    assert_clean(&out);
    let out = env.run_with_env(&["status", "--json"], &key);
    out.expect_code(0);
    assert_clean(&out);

    assert_optimized_in_place(&env, &path, &original);
    assert_eq!(upload_requests(&emu)[0].key.as_deref(), Some(SECRET));
    assert_no_file_holds_the_key(&env, &[]);
}

#[test]
fn g8_key_from_a_key_file_is_used_and_not_leaked() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    let mut env = TestEnv::new();
    env.log = "trace".to_owned();
    let key_file = env.path("sp.key");
    write_file(&key_file, format!("{SECRET}\n").as_bytes());
    env.configure(
        &Config::emulator(&emu)
            .no_key_line()
            .set("api_key_file", r#""sp.key""#),
    );
    let path = env.add_jpeg("a.jpg", 100, 80, 1);
    let original = read(&path);

    let out = env.run_once();
    out.expect_code(0);
    assert_clean(&out);

    assert_optimized_in_place(&env, &path, &original);
    assert_eq!(
        upload_requests(&emu)[0].key.as_deref(),
        Some(SECRET),
        "the key file's trailing newline must not be sent"
    );
    assert_no_file_holds_the_key(&env, &[&key_file]);
}

#[test]
fn g8_error_messages_do_not_carry_the_key() {
    let emu = Emulator::start_with_key(SECRET, 1000);
    // Connection-level errors are where an HTTP client's message quotes the request URL.
    emu.inject(Endpoint::Upload, Fault::Drop, 50);
    emu.inject(Endpoint::ApiStatus, Fault::Http(500), 50);
    let env = traced_env(Config::emulator(&emu).net("max_retries", "1"));

    // Whether this run ends 0 (files left queued) or 1 (files failed) is not G8's concern.
    assert_clean(&env.run_once());
    let out = env.run(&["status"]);
    assert_clean(&out);
    let out = env.run(&["status", "--json"]);
    assert_clean(&out);
    let config = env.config_path();
    assert_no_file_holds_the_key(&env, &[&config]);
}
