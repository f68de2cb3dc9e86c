//! Everyday comforts: progress of `run --once` (a bar on a terminal, plain lines anywhere
//! else), JSON logs for log collectors, shell completions and man pages generated from the
//! command line definitions — and the copies of those kept in `packaging/` for the .deb
//! never fall behind.

use std::path::{Path, PathBuf};

use shortpixel_emulator::Emulator;

use crate::support::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary with `args` outside any config (completions, man).
fn agent(env: &TestEnv, args: &[&str]) -> Outcome {
    env.run(args)
}

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

/// `run --once` with a pseudo-terminal from script(1), which copies what the agent draws
/// and logs to stdout.
fn run_once_on_a_terminal(env: &TestEnv) -> Outcome {
    let line = format!(
        "{} --config {} run --once",
        bin(),
        env.config_path().display()
    );
    env.spawn_argv(&["script", "-qfec", &line, "/dev/null"], &env.root(), &[])
        .wait()
}

#[test]
fn run_once_on_a_terminal_draws_a_bar_in_place() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    env.add_jpeg("a.jpg", 160, 120, 1);
    let out = run_once_on_a_terminal(&env);
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

#[test]
fn completions_bash_prints_a_script_bash_accepts_that_knows_every_command() {
    let env = TestEnv::new();
    let out = agent(&env, &["completions", "bash"]);
    out.expect_code(0);
    assert!(out.stdout.contains("complete -F"), "{out}");
    for word in [
        "run",
        "status",
        "restore",
        "check",
        "backups",
        "prune",
        "--older-than",
    ] {
        assert!(out.stdout.contains(word), "completes {word}:\n{out}");
    }
    let script = env.path("completion.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("run bash -n");
    assert!(
        syntax.status.success(),
        "bash rejects the script: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = agent(&env, &["completions", shell]);
        out.expect_code(0);
        assert!(out.stdout.contains("backups"), "{shell}:\n{out}");
    }
    agent(&env, &["completions", "tcsh"])
        .expect_code(2)
        .expect_mentions(&["possible values", "bash"]);
}

#[test]
fn man_page_builds_and_documents_every_command() {
    let env = TestEnv::new();
    let out = agent(&env, &["man"]);
    out.expect_code(0);
    assert!(out.stdout.contains(".TH shortpixel-agent 1"), "{out}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(out.stdout.contains(section), "{section}:\n{out}");
    }
    for cmd in [
        "init",
        "run",
        "status",
        "restore",
        "check",
        "backups",
        "completions",
        "man",
    ] {
        assert!(
            out.stdout
                .contains(&format!("shortpixel\\-agent\\-{cmd}(1)")),
            "the page lists {cmd}:\n{out}"
        );
    }
    let dir = env.path("man");
    agent(&env, &["man", "--dir", dir.to_str().unwrap()]).expect_code(0);
    for page in [
        "shortpixel-agent.1",
        "shortpixel-agent-run.1",
        "shortpixel-agent-backups-prune.1",
    ] {
        let text = std::fs::read_to_string(dir.join(page))
            .unwrap_or_else(|e| panic!("{page} not written: {e}"));
        assert!(text.contains(".SH NAME"), "{page}");
    }
}

/// The files under `dir`, by name, with their text.
fn texts(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn the_man_pages_and_completions_kept_for_the_deb_match_the_binary() {
    let env = TestEnv::new();
    let fresh = env.path("man");
    agent(&env, &["man", "--dir", fresh.to_str().unwrap()]).expect_code(0);
    assert!(
        texts(&repo().join("packaging/man")) == texts(&fresh),
        "packaging/man is out of date: run `cargo run -- man --dir packaging/man` \
         (after `rm packaging/man/*`)"
    );
    for (shell, file) in [
        ("bash", "shortpixel-agent.bash"),
        ("zsh", "_shortpixel-agent"),
        ("fish", "shortpixel-agent.fish"),
    ] {
        let out = agent(&env, &["completions", shell]);
        out.expect_code(0);
        let kept = std::fs::read_to_string(repo().join("packaging/completions").join(file))
            .unwrap_or_else(|e| panic!("packaging/completions/{file}: {e}"));
        assert!(
            kept == out.stdout,
            "packaging/completions/{file} is out of date: run \
             `cargo run -- completions {shell} > packaging/completions/{file}`"
        );
    }
}

/// A PNG with an `sBIT` chunk (8 significant bits per channel) after its header.
fn png_with_sbit(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let png = images::graphic_png(w, h, seed);
    let ihdr_end = 8 + 4 + 4 + 13 + 4;
    let mut chunk = b"sBIT\x08\x08\x08".to_vec();
    let crc = crc32(&chunk);
    let mut out = png[..ihdr_end].to_vec();
    out.extend_from_slice(&3u32.to_be_bytes());
    out.append(&mut chunk);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&png[ihdr_end..]);
    out
}

/// The PNG chunk checksum (CRC-32, IEEE).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_png_optimizers_warning_names_the_file_and_says_what_it_means() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::without_key(&emu));
    let png = env.add_file("sbit.png", &png_with_sbit(120, 90, 1));
    assert!(
        images::decode_bytes(&read(&png)).is_ok(),
        "the test PNG is valid"
    );
    let out = env.run_once();
    out.expect_code(0);
    assert!(
        out.stderr
            .lines()
            .any(|l| l.contains(&*png.to_string_lossy())
                && l.contains("sBIT")
                && l.contains("the picture is unchanged")),
        "a line naming the file and what the sBIT warning means:\n{out}"
    );
    assert!(
        !out.stderr
            .contains("explicitly kept, disabling all reductions"),
        "oxipng's own wording, naming no file:\n{out}"
    );
}

#[test]
fn log_lines_on_a_terminal_start_with_the_local_time_elsewhere_with_full_utc() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu));
    env.add_jpeg("a.jpg", 160, 120, 1);
    let out = run_once_on_a_terminal(&env);
    out.expect_code(0);
    let short = |l: &str| {
        let b = l.as_bytes();
        b.len() > 9
            && b[..8].iter().enumerate().all(|(i, c)| match i {
                2 | 5 => *c == b':',
                _ => c.is_ascii_digit(),
            })
            && b[8] == b' '
    };
    let lines: Vec<&str> = out
        .stdout
        .split(['\n', '\r'])
        .map(|l| l.trim_start_matches("\x1b[2K"))
        .filter(|l| l.contains("INFO"))
        .collect();
    assert!(!lines.is_empty(), "{out}");
    assert!(
        lines.iter().all(|l| short(l)),
        "HH:MM:SS on a terminal:\n{lines:#?}"
    );

    env.add_jpeg("b.jpg", 160, 120, 2);
    let piped = env.run_once();
    let info: Vec<&str> = piped
        .stderr
        .lines()
        .filter(|l| l.contains("INFO"))
        .collect();
    assert!(
        !info.is_empty()
            && info
                .iter()
                .all(|l| l.starts_with("20") && l.contains('T') && l.contains('Z')),
        "full UTC timestamps off a terminal:\n{piped}"
    );
}
