//! G1, G2, G4, G5 at the boundaries of a group commit. Files are put in place by groups,
//! durability paid once per group (see `pipeline::apply::group`), so a kill can land between
//! any two steps of a group with several files half done. The agent is killed here from
//! inside (`SHORTPIXEL_AGENT_KILL_AT=<step>:2`: SIGKILL at that step of its second group,
//! with groups of a few files), once per step; after each kill every file must be wholly
//! original or wholly optimized with its original in the store, and a normal run must then
//! finish the work without uploading anything twice or optimizing its own results again,
//! every original still restorable byte for byte.

use std::collections::HashSet;
use std::path::PathBuf;

use shortpixel_emulator::Emulator;

use crate::support::*;
// Every step a commit can be killed at, in order, as the agent names them.
use shortpixel_agent::pipeline::KILL_STEPS as STEPS;

/// Six contents, each in two folders (so a work has several files), JPEG and PNG.
fn library(env: &TestEnv) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for i in 0..6u64 {
        for dir in ["a", "b"] {
            let p = match i % 2 {
                0 => env.add_jpeg(&format!("{dir}/{i}.jpg"), 96, 64, 700 + i),
                _ => env.add_png(&format!("{dir}/{i}.png"), 96, 64, 700 + i),
            };
            files.push((p.clone(), read(&p)));
        }
    }
    files
}

/// Runs `run --once` killed at `step` of its second group of three files, then a normal
/// run, and checks everything this module promises; returns the env for more checks.
/// `serial`: groups are committed one after another, so the kill leaves some work undone
/// (the service's results are applied as they arrive, several at once).
fn kill_at_then_finish(
    config: &Config,
    step: &str,
    serial: bool,
) -> (TestEnv, Vec<(PathBuf, Vec<u8>)>) {
    let env = TestEnv::new();
    env.configure(config);
    let originals = library(&env);
    let at = format!("{step}:2");
    let killed = env.run_with_env(
        &["run", "--once"],
        &[
            ("SHORTPIXEL_AGENT_KILL_AT", &at),
            ("SHORTPIXEL_AGENT_GROUP_FILES", "3"),
        ],
    );
    assert_eq!(
        killed.code, None,
        "the run was not killed at {step}:\n{killed}"
    );
    check_every_file_whole(&env, &originals);
    let done = originals.iter().filter(|(p, o)| read(p) != *o).count();
    assert!(
        !serial || done < originals.len(),
        "{step}: every file was done before the kill"
    );

    env.run_once().expect_code(0);
    check_every_file_whole(&env, &originals);
    for (p, orig) in &originals {
        let now = read(p);
        assert!(
            now != *orig && now.len() < orig.len(),
            "{step}: {} not optimized after the second run",
            p.display()
        );
    }
    assert_no_temp_files(&env.photos());
    never_optimized_twice(&env, &originals, step);

    env.run(&["restore", "--all"]).expect_code(0);
    for (p, orig) in &originals {
        assert!(
            read(p) == *orig,
            "{step}: {} is not its original after restore",
            p.display()
        );
    }
    (env, originals)
}

/// G5 from the store's own description: every optimized line's original is one of the
/// user's originals, never a result of the agent's.
fn never_optimized_twice(env: &TestEnv, originals: &[(PathBuf, Vec<u8>)], step: &str) {
    let mine: HashSet<String> = originals.iter().map(|(_, o)| blake3::hex(o)).collect();
    let mut lines = 0;
    for seg in files_under(&env.backup_dir().join("journal")) {
        for line in String::from_utf8_lossy(&read(&seg)).lines() {
            let Ok(r) = serde_json::from_str::<serde_json::Value>(line) else {
                continue; // a line torn by the kill
            };
            if r["event"] == "optimized" {
                lines += 1;
                let orig = r["orig"].as_str().unwrap_or_default();
                assert!(
                    mine.contains(orig),
                    "{step}: {} was optimized again from {orig}, which is not an original",
                    r["path"]
                );
            }
        }
    }
    assert!(lines >= originals.len(), "{step}: {lines} journal lines");
}

#[test]
fn g1_g2_g5_built_in_optimizer_killed_at_each_step_of_a_group_loses_nothing() {
    // The emulator is only a tripwire: with no key, nothing may call it.
    let emu = Emulator::start_with_key(KEY, 1000);
    for step in STEPS {
        kill_at_then_finish(&Config::without_key(&emu), step, true);
    }
    assert!(emu.requests().is_empty(), "{}", log_summary(&emu));
}

#[test]
fn g1_g4_g5_service_results_killed_at_each_step_of_a_group_are_paid_once() {
    for step in STEPS {
        let emu = Emulator::start_with_key(KEY, 1000);
        let (_env, originals) = kill_at_then_finish(&Config::emulator(&emu), step, false);
        for (p, orig) in &originals {
            assert_eq!(
                emu.uploads_of(&blake3::hex(orig)),
                1,
                "{step}: {} (and its copy) uploaded more than once:\n{}",
                p.display(),
                log_summary(&emu)
            );
        }
    }
}
