//! The built-in local optimizer: with no API key anywhere the backend is "local", and it
//! makes a PNG and a JPEG genuinely smaller, still decodable at the same size, with the
//! same backups and restore as the ShortPixel backend — and no request leaves the machine.

use shortpixel_emulator::Emulator;

use crate::support::*;

#[test]
fn local_backend_without_a_key_shrinks_png_and_jpeg_with_backups() {
    // The emulator is only a tripwire: api_url points at it, but nothing may call it.
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    let jpeg = env.add_jpeg("photo.jpg", 160, 120, 1);
    let png = env.add_png("sub/graphic.png", 160, 120, 2);
    let originals = [read(&jpeg), read(&png)];

    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &jpeg, &originals[0]);
    assert_optimized_in_place(&env, &png, &originals[1]);
    let status = env.status();
    assert_eq!(status.total("optimized"), 2, "{status}");
    assert_eq!(status.0["credits"], serde_json::Value::Null, "{status}");
    assert!(
        emu.requests().is_empty(),
        "the local backend called the service:\n{}",
        log_summary(&emu)
    );
}

#[test]
fn local_backend_second_run_changes_nothing() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    env.add_jpeg("photo.jpg", 160, 120, 1);
    env.add_png("graphic.png", 160, 120, 2);
    env.run_once().expect_code(0);
    let after_first = env.snapshot(&env.photos());
    let backups = env.snapshot(&env.backup_dir());

    env.run_once().expect_code(0);

    assert_eq!(
        env.snapshot(&env.photos()),
        after_first,
        "G5: optimized files were processed again"
    );
    assert_eq!(env.snapshot(&env.backup_dir()), backups);
}

#[test]
fn local_backend_restore_gives_back_the_originals() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    let jpeg = env.add_jpeg("photo.jpg", 160, 120, 1);
    let png = env.add_png("graphic.png", 160, 120, 2);
    let originals = [read(&jpeg), read(&png)];
    env.run_once().expect_code(0);

    env.run(&["restore", "--all"]).expect_code(0);

    assert_eq!(read(&jpeg), originals[0]);
    assert_eq!(read(&png), originals[1]);
}

#[test]
fn explicit_local_backend_with_a_key_never_calls_the_service() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).set("backend", r#""local""#));
    let png = env.add_png("graphic.png", 120, 90, 3);
    let original = read(&png);

    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &png, &original);
    assert!(
        emu.requests().is_empty(),
        "backend = \"local\" called the service:\n{}",
        log_summary(&emu)
    );
}
