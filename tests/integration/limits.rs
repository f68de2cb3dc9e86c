//! `[limits]` against the emulator: the monthly credit budget (never overrun, counted across
//! runs, new each month, raised by a config change without paying twice), quiet hours (no
//! upload inside the window; the built-in optimizer held only with `quiet_hours_local =
//! false`; the daemon sends when the window ends), the upload bandwidth limit (an upper
//! bound on the rate the emulator received), config errors, and what `status`, `check`,
//! `/api/status` and `/metrics` show.
//!
//! The agent's clock is set with `SHORTPIXEL_AGENT_TEST_NOW` (read by test builds only) and
//! `TZ=UTC`, so no test depends on the real date or time of day.

use std::net::SocketAddr;
use std::time::Duration;

use shortpixel_emulator::Emulator;

use crate::support::http::{free_port, get};
use crate::support::*;

/// 2026-11-15 12:00 UTC.
const NOV_15_NOON: i64 = 1_794_744_000;
/// 2026-11-28 12:00 UTC.
const NOV_28_NOON: i64 = 1_795_867_200;
/// 2026-12-02 09:00 UTC.
const DEC_2_MORNING: i64 = 1_796_202_000;
/// 2026-11-15 02:30 UTC.
const NIGHT: i64 = 1_794_709_800;
/// 2026-11-15 07:30 UTC.
const MORNING: i64 = 1_794_727_800;
/// 2026-11-15 23:00 UTC.
const LATE_EVENING: i64 = 1_794_783_600;
/// 2026-11-15 06:59:57 UTC: three seconds before a 01:00-07:00 window ends.
const WINDOW_ENDING: i64 = 1_794_725_997;

const T: Duration = Duration::from_secs(60);

/// `args` with the agent's clock at `now` in UTC.
fn run_at(env: &TestEnv, now: i64, args: &[&str]) -> Outcome {
    let now = now.to_string();
    env.run_with_env(
        args,
        &[("TZ", "UTC"), ("SHORTPIXEL_AGENT_TEST_NOW", now.as_str())],
    )
}

/// `run` (the daemon) in the background with the agent's clock at `now` in UTC.
fn spawn_at(env: &TestEnv, now: i64) -> crate::support::env::Running {
    let now = now.to_string();
    env.spawn_with_env(
        &["run"],
        &[("TZ", "UTC"), ("SHORTPIXEL_AGENT_TEST_NOW", now.as_str())],
    )
}

fn status_at(env: &TestEnv, now: i64) -> Status {
    let out = run_at(env, now, &["status", "--json"]);
    out.expect_code(0);
    Status(serde_json::from_str(out.stdout.trim()).expect("status --json is JSON"))
}

fn held_files(s: &Status) -> u64 {
    s.0["limits"]["held"]
        .as_array()
        .map(|h| h.iter().filter_map(|e| e["files"].as_u64()).sum())
        .unwrap_or(0)
}

fn held_reasons(s: &Status) -> String {
    s.0["limits"]["held"].to_string()
}

fn photos(env: &TestEnv, n: usize, seed: u64) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let p = env.add_jpeg(&format!("p{seed}-{i}.jpg"), 64, 48, seed + i as u64);
            let bytes = read(&p);
            (p, bytes)
        })
        .collect()
}

#[test]
fn a_budget_of_3_sends_exactly_3_and_a_raised_budget_sends_the_rest_once() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    // A distant service: the agent keeps several files in flight, which the budget counts.
    emu.latency(Duration::from_millis(100));
    // Each result is ready on its second poll: polls go on while uploads are held.
    emu.pending_polls(2);
    let env = TestEnv::new();
    let config = Config::emulator(&emu)
        .net("max_batch_files", "1")
        .set("limits", "{ monthly_credits = 3 }");
    env.configure(&config);
    let originals = photos(&env, 6, 100);

    let out = run_at(&env, NOV_15_NOON, &["run", "--once"]);
    out.expect_code(0).expect_mentions(&["3 held by [limits]"]);
    assert_eq!(emu.uploads(), 3, "{}", log_summary(&emu));
    assert_eq!(emu.credits_used(KEY), 3, "what the service charged");
    assert!(emu.polls() >= 6, "{}", log_summary(&emu));
    let s = status_at(&env, NOV_15_NOON);
    assert_eq!(s.total("optimized"), 3, "{s}");
    assert_eq!(s.total("failed"), 0, "held files are not failures:\n{s}");
    assert_eq!(s.0["daemon"]["queued"], 3, "{s}");
    assert_eq!(held_files(&s), 3, "{s}");
    assert!(
        held_reasons(&s)
            .contains("monthly credit budget is reached (3 of 3 credits used in 2026-11)"),
        "{s}"
    );
    let l = &s.0["limits"];
    assert_eq!(
        (
            l["monthly_credits"].as_u64(),
            l["credits_used_month"].as_u64()
        ),
        (Some(3), Some(3)),
        "{s}"
    );
    assert_eq!(l["budget_reached"], true, "{s}");
    // The human table says it too, and so does `check`.
    run_at(&env, NOV_15_NOON, &["status"]).expect_mentions(&[
        "monthly budget 3 credits, 3 used in 2026-11",
        "3 file(s) held: the monthly credit budget is reached",
    ]);
    run_at(&env, NOV_15_NOON, &["check"])
        .expect_mentions(&["monthly budget 3 credits, 3 used in 2026-11 (reached"]);

    run_at(&env, NOV_15_NOON, &["run", "--once", "--dry-run"])
        .expect_code(0)
        .expect_mentions(&["none of them would be sent now: held: the monthly credit budget"]);
    // Another run the same month sends nothing more.
    run_at(&env, NOV_15_NOON + 60, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.uploads(), 3, "{}", log_summary(&emu));

    // Raised: the other three go, each once, and nothing is lost.
    env.configure(&config.set("limits", "{ monthly_credits = 10 }"));
    run_at(&env, NOV_15_NOON + 120, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.uploads(), 6, "{}", log_summary(&emu));
    assert_eq!(repeated_uploads(&emu), "", "no content is sent twice");
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
    let s = status_at(&env, NOV_15_NOON + 120);
    assert_eq!(held_files(&s), 0, "{s}");
    assert_eq!(s.0["limits"]["credits_used_month"], 6, "{s}");
}

#[test]
fn the_budget_counts_across_runs_in_one_month_and_starts_again_in_the_next() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).set("limits", "{ monthly_credits = 2 }"));
    photos(&env, 3, 200);

    run_at(&env, NOV_15_NOON, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.uploads(), 2, "{}", log_summary(&emu));
    // A later run in November (a new process) still counts the two.
    photos(&env, 1, 300);
    run_at(&env, NOV_28_NOON, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.uploads(), 2, "{}", log_summary(&emu));
    assert_eq!(held_files(&status_at(&env, NOV_28_NOON)), 2);

    // December: a new budget of two.
    run_at(&env, DEC_2_MORNING, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.uploads(), 4, "{}", log_summary(&emu));
    assert_eq!(repeated_uploads(&emu), "");
    let s = status_at(&env, DEC_2_MORNING);
    assert_eq!(s.total("optimized"), 4, "{s}");
    assert_eq!(s.0["limits"]["month"], "2026-12", "{s}");
    assert_eq!(s.0["limits"]["credits_used_month"], 2, "{s}");
    // November's count is kept as it was.
    assert_eq!(
        status_at(&env, NOV_28_NOON).0["limits"]["credits_used_month"],
        2
    );
}

#[test]
fn quiet_hours_hold_every_upload_until_the_window_ends() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).set("limits", "{ quiet_hours = \"01:00-07:00\" }"));
    let originals = photos(&env, 3, 400);

    run_at(&env, NIGHT, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.uploads(), 0, "{}", log_summary(&emu));
    for (p, orig) in &originals {
        assert_eq!(&read(p), orig, "{} changed in quiet hours", p.display());
    }
    let s = status_at(&env, NIGHT);
    assert_eq!(held_files(&s), 3, "{s}");
    assert!(
        held_reasons(&s).contains("quiet hours (01:00-07:00, local time); uploads resume at 07:00"),
        "{s}"
    );
    assert_eq!(s.0["limits"]["quiet_now"], true, "{s}");
    assert_eq!(s.0["limits"]["in_effect"], "quiet_hours", "{s}");

    run_at(&env, MORNING, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.uploads(), 3, "{}", log_summary(&emu));
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
    let s = status_at(&env, MORNING);
    assert_eq!(s.0["limits"]["quiet_now"], false, "{s}");
    assert_eq!(held_files(&s), 0, "{s}");
}

#[test]
fn quiet_hours_hold_the_builtin_optimizer_only_with_quiet_hours_local_false() {
    let emu = Emulator::start();
    let env = TestEnv::new();
    let config = Config::without_key(&emu);
    env.configure(&config.clone().set(
        "limits",
        "{ quiet_hours = \"22:00-06:00\", quiet_hours_local = false }",
    ));
    let originals = photos(&env, 3, 500);

    run_at(&env, LATE_EVENING, &["run", "--once"]).expect_code(0);
    for (p, orig) in &originals {
        assert_eq!(&read(p), orig, "{} optimized in quiet hours", p.display());
    }
    let s = status_at(&env, LATE_EVENING);
    assert_eq!(s.total("optimized"), 0, "{s}");
    assert_eq!(held_files(&s), 3, "{s}");
    assert!(
        held_reasons(&s).contains("optimizing resume at 06:00"),
        "{s}"
    );

    // The default: the built-in optimizer works through quiet hours.
    env.configure(&config.set("limits", "{ quiet_hours = \"22:00-06:00\" }"));
    run_at(&env, LATE_EVENING, &["run", "--once"]).expect_code(0);
    let s = status_at(&env, LATE_EVENING);
    assert_eq!(s.total("optimized"), 3, "{s}");
    assert_eq!(held_files(&s), 0, "{s}");
    assert_eq!(s.0["limits"]["in_effect"], serde_json::Value::Null, "{s}");
}

#[test]
fn the_daemon_sends_what_quiet_hours_held_once_the_window_ends() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    env.configure(
        &Config::emulator(&emu)
            .set("settle", "0.3")
            .set("limits", "{ quiet_hours = \"01:00-07:00\" }"),
    );
    let originals = photos(&env, 2, 600);
    // The agent's clock reads 06:59:57 at its first look, which is after this instant.
    let spawned = std::time::Instant::now();
    let mut daemon = spawn_at(&env, WINDOW_ENDING);
    daemon.wait_until(T, "both files sent after 07:00", || {
        env.status().total("optimized") == 2
    });
    // Nothing went out before the window ended.
    let first_upload = emu
        .upload_timeline()
        .iter()
        .map(|t| t.0)
        .min()
        .expect("an upload");
    let after = first_upload.duration_since(spawned);
    assert!(
        after >= Duration::from_millis(2900),
        "an upload began {after:?} after the start, inside quiet hours"
    );
    daemon.signal("TERM");
    let out = daemon.wait();
    out.expect_code(0)
        .expect_mentions(&["quiet hours (01:00-07:00"]);
    assert_eq!(emu.uploads(), 2, "{}", log_summary(&emu));
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
}

#[test]
fn uploads_together_never_pass_the_bandwidth_limit() {
    const KIBPS: u64 = 96;
    let emu = Emulator::start_with_key(KEY, 10_000);
    // A distant service: several uploads are in flight at once (see `send::Unrecorded`).
    let latency = Duration::from_millis(150);
    emu.latency(latency);
    let env = TestEnv::new();
    env.configure(
        &Config::emulator(&emu)
            .net("max_batch_files", "1")
            .net("timeout_secs", "30")
            .set("limits", &format!("{{ upload_kbps = {KIBPS} }}")),
    );
    let originals: Vec<_> = (0..6)
        .map(|i| {
            let p = env.add_jpeg(&format!("big{i}.jpg"), 320, 240, 700 + i);
            let bytes = read(&p);
            (p, bytes)
        })
        .collect();
    let total: u64 = originals.iter().map(|(_, b)| b.len() as u64).sum();
    assert!(
        total > 3 * KIBPS * 1024,
        "too few bytes to measure: {total}"
    );

    run_at(&env, NOV_15_NOON, &["run", "--once"]).expect_code(0);
    let timeline = emu.upload_timeline();
    assert_eq!(timeline.len(), 6, "{}", log_summary(&emu));
    let sent: u64 = timeline.iter().map(|t| t.2).sum();
    assert_eq!(sent, total);
    // From the first request's head to the last body read: every file byte arrived in
    // between.
    let start = timeline.iter().map(|t| t.0).min().unwrap();
    let end = timeline.iter().map(|t| t.1).max().unwrap();
    let secs = end.duration_since(start).as_secs_f64();
    let rate = sent as f64 / secs;
    let limit = (KIBPS * 1024) as f64;
    let overlapping = timeline
        .iter()
        .enumerate()
        .any(|(i, a)| timeline[i + 1..].iter().any(|b| a.0 < b.1 && b.0 < a.1));
    eprintln!(
        "{sent} bytes in {secs:.2} s: {:.1} KiB/s (limit {KIBPS}); uploads overlapped: {overlapping}",
        rate / 1024.0
    );
    assert!(
        rate <= limit * 1.05,
        "{:.1} KiB/s received, over the {KIBPS} KiB/s limit",
        rate / 1024.0
    );
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
}

#[test]
fn bad_limits_exit_2_naming_the_key() {
    let emu = Emulator::start();
    let env = TestEnv::new();
    let config = Config::emulator(&emu).render();
    for (line, key, words) in [
        (
            "quiet_hours = \"25:00-07:00\"",
            "limits.quiet_hours",
            "HH:MM-HH:MM",
        ),
        (
            "quiet_hours = \"night\"",
            "limits.quiet_hours",
            "HH:MM-HH:MM",
        ),
        (
            "quiet_hours = \"07:00-07:00\"",
            "limits.quiet_hours",
            "same minute",
        ),
        (
            "monthly_credits = 0",
            "limits.monthly_credits",
            "out of range",
        ),
        (
            "monthly_credits = -5",
            "limits.monthly_credits",
            "out of range",
        ),
        ("upload_kbps = 0", "limits.upload_kbps", "out of range"),
        ("upload_kbps = -1", "limits.upload_kbps", "out of range"),
        (
            "monthly_credit = 3",
            "monthly_credit",
            "did you mean `monthly_credits`",
        ),
        (
            "quiet_hours_local = \"yes\"",
            "quiet_hours_local",
            "boolean",
        ),
    ] {
        env.write_config(&format!("{config}\n[limits]\n{line}\n"));
        let out = env.run_once();
        out.expect_code(2).expect_mentions(&[key, words]);
        assert_eq!(emu.uploads(), 0);
    }
}

#[test]
fn the_dashboard_and_metrics_show_the_limits_and_the_state_in_words() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    let port = free_port();
    env.configure(
        &Config::emulator(&emu)
            .set("settle", "0.3")
            .set("dashboard", &format!("{{ listen = \"127.0.0.1:{port}\" }}"))
            .set(
                "limits",
                "{ monthly_credits = 50, quiet_hours = \"01:00-07:00\", upload_kbps = 512 }",
            ),
    );
    photos(&env, 2, 800);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut daemon = spawn_at(&env, NIGHT);
    let mut status = serde_json::Value::Null;
    daemon.wait_until(T, "the dashboard to show 2 held files", || {
        let Ok(a) = crate::support::http::request(addr, "GET", "/api/status", &[], None) else {
            return false;
        };
        status = a.json();
        status["limits"]["held"][0]["files"] == 2
    });
    let l = &status["limits"];
    assert_eq!(l["monthly_credits"], 50, "{status:#}");
    assert_eq!(l["credits_used_month"], 0, "{status:#}");
    assert_eq!(l["quiet_hours"], "01:00-07:00", "{status:#}");
    assert_eq!(l["quiet_now"], true, "{status:#}");
    assert_eq!(l["upload_kbps"], 512, "{status:#}");
    assert_eq!(status["daemon"]["state"], "quiet_hours", "{status:#}");
    let metrics = get(addr, "/metrics", &[]).text();
    for line in [
        "shortpixel_agent_budget_credits 50",
        "shortpixel_agent_credits_used_month 0",
        "shortpixel_agent_quiet_hours_active 1",
        "shortpixel_agent_upload_limit_bytes_per_second 524288",
        "shortpixel_agent_held_files 2",
        "shortpixel_agent_state{state=\"quiet_hours\"} 1",
    ] {
        assert!(metrics.contains(line), "no {line:?} in:\n{metrics}");
    }
    let page = get(addr, "/assets/app.js", &[]).text();
    assert!(
        page.contains("paused: quiet hours"),
        "the page says it in words"
    );
    assert_eq!(emu.uploads(), 0, "{}", log_summary(&emu));
    daemon.signal("TERM");
    daemon.wait().expect_code(0);
}

#[test]
fn a_budget_raised_by_a_reload_lets_the_daemon_send_the_rest() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    let config = Config::emulator(&emu).set("settle", "0.3");
    env.configure(&config.clone().set("limits", "{ monthly_credits = 1 }"));
    let originals = photos(&env, 3, 900);
    let mut daemon = env.spawn(&["run"]);
    daemon.wait_until(T, "two files held by the budget", || {
        held_files(&env.status()) == 2
    });
    assert_eq!(emu.uploads(), 1, "{}", log_summary(&emu));

    env.configure(&config.set("limits", "{ monthly_credits = 3 }"));
    daemon.signal("HUP");
    daemon.wait_until(T, "every file optimized after the reload", || {
        env.status().total("optimized") == 3
    });
    daemon.signal("TERM");
    daemon.wait().expect_code(0);
    assert_eq!(emu.uploads(), 3, "{}", log_summary(&emu));
    assert_eq!(repeated_uploads(&emu), "");
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
}

#[test]
fn the_budget_counts_images_fetched_by_url_like_uploads() {
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    let site = shortpixel_emulator::Site::serve(env.root());
    let base = format!("{}/photos/", site.url());
    let published = Config::emulator(&emu).folders(vec![
        Folder::replace("photos").with("public_url", &crate::support::config::quote(&base))
    ]);
    env.configure(&published.clone().set("limits", "{ monthly_credits = 2 }"));
    let originals = photos(&env, 4, 1000);

    run_at(&env, NOV_15_NOON, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.url_fetches(), 2, "{}", log_summary(&emu));
    assert_eq!(emu.uploads(), 0, "{}", log_summary(&emu));
    let s = status_at(&env, NOV_15_NOON);
    assert_eq!(held_files(&s), 2, "{s}");
    assert_eq!(s.0["limits"]["credits_used_month"], 2, "{s}");

    env.configure(&published.set("limits", "{ monthly_credits = 10 }"));
    run_at(&env, NOV_15_NOON + 60, &["run", "--once"]).expect_code(0);
    assert_eq!(emu.url_fetches(), 4, "{}", log_summary(&emu));
    assert_eq!(emu.credits_used(KEY), 4, "what the service charged");
    let s = status_at(&env, NOV_15_NOON + 60);
    assert_eq!(s.0["limits"]["credits_used_month"], 4, "{s}");
    for (p, orig) in &originals {
        assert_optimized_in_place(&env, p, orig);
    }
    drop(site);
}
