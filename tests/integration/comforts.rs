//! Everyday comforts: progress of `run --once` (a bar on a terminal, plain lines anywhere
//! else) and JSON logs for log collectors.

use shortpixel_emulator::Emulator;

use crate::support::*;

#[test]
fn run_once_progress_off_a_terminal_is_plain_lines_ending_with_the_totals() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    for i in 0..3 {
        env.add_jpeg(&format!("{i}.jpg"), 160, 120, i);
    }
    let out = env.run_once();
    out.expect_code(0);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains("progress: 3/3 files (100%)") && l.contains("saved, took")),
        "a last progress line with the totals:\n{out}"
    );
    assert!(
        !out.stderr.contains('\r') && !out.stderr.contains('\x1b'),
        "off a terminal: no redraws, no escape codes:\n{out:?}",
        out = out.stderr
    );
}

#[test]
fn run_once_on_a_terminal_draws_a_bar_in_place() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    env.add_jpeg("a.jpg", 160, 120, 1);
    // script(1) gives the agent a pseudo-terminal and copies what it draws to stdout.
    let line = format!(
        "{} --config {} run --once",
        bin(),
        env.config_path().display()
    );
    let out = env
        .spawn_argv(&["script", "-qfec", &line, "/dev/null"], &env.root(), &[])
        .wait();
    out.expect_code(0);
    assert!(
        out.stdout.contains("scanning the folders") && out.stdout.contains("\r\x1b[2K"),
        "a bar redrawn in place on a terminal:\n{:?}",
        out.stdout
    );
    assert!(out.stdout.contains("done: 1 optimized"), "{out}");
    assert!(
        !out.stdout.contains("progress: "),
        "no plain progress lines on a terminal:\n{out}"
    );
}

#[test]
fn log_format_json_writes_one_object_per_line() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    env.add_jpeg("a.jpg", 160, 120, 1);
    env.add_file("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg");
    let flag = env.run(&["--log-format", "json", "run", "--once"]);
    env.add_jpeg("b.jpg", 160, 120, 2);
    let var = env.run_with_env(
        &["run", "--once"],
        &[("SHORTPIXEL_AGENT_LOG_FORMAT", "json")],
    );
    for out in [&flag, &var] {
        assert!(out.code.is_some(), "{out}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert!(!lines.is_empty(), "{out}");
        for line in &lines {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}\n{out}"));
            assert!(v["timestamp"].is_string(), "{line}");
            assert!(v["level"].is_string(), "{line}");
            assert!(v["message"].is_string(), "{line}");
        }
        assert!(
            lines.iter().any(|l| l.contains("\"level\":\"INFO\"")
                && l.contains("progress: ")
                && l.contains("files")),
            "progress goes into the same JSON stream:\n{out}"
        );
    }
    assert!(
        flag.stderr.contains("\"level\":\"WARN\"") || flag.stderr.contains("\"level\":\"ERROR\""),
        "the broken file's record is a JSON warning or error too:\n{flag}"
    );
}
