//! The dashboard's HTTP API and metrics (SPEC §2), spoken to in plain HTTP: the daemon
//! serves them, actions need the bearer token, the Host header is checked, the API key
//! never shows, restore keeps G1/G3/G10 and stays inside the configured folders, a busy
//! port is only a warning, and an open address without a token is a config error.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use shortpixel_agent::names::shown;
use shortpixel_emulator::{Emulator, Endpoint, Fault};

use crate::support::env::Running;
use crate::support::http::{self, free_port, get, post};
use crate::support::*;

const T: Duration = Duration::from_secs(60);
pub const TOKEN: &str = "dashboard-test-token-0123456789";

/// A daemon with its dashboard on a free loopback port, guarded by [`TOKEN`]. A test
/// that fails kills it, so no daemon (nor its server) outlives its test.
pub struct Dash {
    pub addr: SocketAddr,
    daemon: Option<Running>,
}

impl Drop for Dash {
    fn drop(&mut self) {
        if let Some(d) = self.daemon.take() {
            d.kill9();
        }
    }
}

/// The emulator config with a 0.3 s settle and `[dashboard]` on `port`. Requests may take
/// 30 s: these tests are about the page, not timeouts, and the emulator shrinking a photo
/// in a debug build on a loaded machine can take longer than the usual 5 s.
pub fn config(emu: &Emulator, port: u16) -> Config {
    Config::emulator(emu)
        .set("settle", "0.3")
        .net("timeout_secs", "30")
        .set(
            "dashboard",
            &format!("{{ listen = \"127.0.0.1:{port}\", token_file = \"dashboard.token\" }}"),
        )
}

/// Starts `run` with `config` and waits until the dashboard answers.
pub fn start(env: &TestEnv, config: &Config) -> Dash {
    std::fs::write(env.path("dashboard.token"), format!("{TOKEN}\n")).unwrap();
    env.configure(config);
    let port: u16 = config
        .render()
        .split("listen = \"127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|p| p.parse().ok())
        .expect("a dashboard port in the config");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut daemon = env.spawn(&["run"]);
    daemon.wait_until(T, "the dashboard to answer", || {
        http::request(addr, "GET", "/api/status", &[], None).is_ok_and(|a| a.status == 200)
    });
    Dash {
        addr,
        daemon: Some(daemon),
    }
}

impl Dash {
    pub fn status(&self) -> Value {
        status_at(self.addr)
    }

    pub fn act(&self, path: &str, body: Value) -> Value {
        let a = post(self.addr, path, Some(TOKEN), &body);
        assert_eq!(a.status, 200, "POST {path}: {}", a.text());
        a.json()
    }

    pub fn daemon(&mut self) -> &mut Running {
        self.daemon.as_mut().expect("the daemon runs")
    }

    pub fn stop(mut self) -> Outcome {
        let daemon = self.daemon.take().expect("the daemon runs");
        daemon.signal("TERM");
        let out = daemon.wait();
        out.expect_code(0);
        out
    }
}

/// `GET /api/status` on `addr`.
pub fn status_at(addr: SocketAddr) -> Value {
    let a = get(addr, "/api/status", &[]);
    assert_eq!(a.status, 200, "{}", a.text());
    a.json()
}

fn optimized(path: &Path, original: &[u8]) -> bool {
    path.exists() && read(path) != original
}

#[test]
fn dashboard_serves_status_and_metrics_refuses_actions_without_the_token_and_never_shows_the_key() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let a = env.add_jpeg("a.jpg", 160, 120, 1);
    let a_orig = read(&a);
    let mut d = start(&env, &config(&emu, free_port()));
    d.daemon()
        .wait_until(T, "a.jpg optimized", || optimized(&a, &a_orig));

    // The status --json object (SPEC §1 keys), with the daemon's state.
    let mut s = d.status();
    for key in ["daemon", "totals", "folders", "failures", "credits"] {
        assert!(s.get(key).is_some(), "status lacks {key}: {s:#}");
    }
    assert_eq!(s["daemon"]["running"], true);
    assert_eq!(s["daemon"]["pid"], d.daemon().pid());
    assert!(s["daemon"]["state"].is_string(), "{s:#}");
    let addr = d.addr;
    d.daemon().wait_until(T, "the credits from api-status", || {
        s = status_at(addr);
        s["credits"]["remaining"].is_u64()
    });

    // Metrics: every name prefixed, the figures there.
    let m = get(d.addr, "/metrics", &[]);
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").unwrap().starts_with("text/plain"));
    let text = m.text();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(line.starts_with("shortpixel_agent_"), "{line}");
    }
    let photos = canonical(&env.photos());
    for want in [
        format!("shortpixel_agent_files{{folder=\"{photos}\",state=\"optimized\"}} 1"),
        "shortpixel_agent_api_requests_total{call=\"upload\",outcome=\"ok\"} 1".into(),
        "shortpixel_agent_api_request_duration_seconds_count{call=\"download\"}".into(),
        "shortpixel_agent_queue_length 0".into(),
        "shortpixel_agent_credits_left ".into(),
        "shortpixel_agent_last_scan_timestamp_seconds ".into(),
    ] {
        assert!(text.contains(&want), "metrics lack {want:?}:\n{text}");
    }

    // Every action is refused without the token (401) and with a wrong one (403).
    for path in [
        "/api/pause",
        "/api/resume",
        "/api/rescan",
        "/api/retry",
        "/api/restore",
    ] {
        let body = json!({ "paths": [shown(&a)], "dry_run": false });
        let none = post(d.addr, path, None, &body);
        assert_eq!(none.status, 401, "{path} without a token: {}", none.text());
        assert!(none.json()["error"].as_str().unwrap().contains("token"));
        let wrong = post(d.addr, path, Some("not-the-token-at-all-0000"), &body);
        assert_eq!(
            wrong.status,
            403,
            "{path} with a wrong token: {}",
            wrong.text()
        );
    }
    assert_eq!(
        get(d.addr, &format!("/api/preview?path={}", shown(&a)), &[]).status,
        401,
        "the pictures need the token too"
    );
    assert!(optimized(&a, &a_orig), "nothing was restored");
    // (The batch that optimized a.jpg may still be closing: "optimizing" is fine.)
    assert_ne!(
        d.status()["daemon"]["state"],
        "paused",
        "nothing was paused"
    );

    // DNS rebinding: a page reaching us under its own name is refused.
    let rebound = get(d.addr, "/api/status", &[("Host", "attacker.example:8719")]);
    assert_eq!(rebound.status, 403, "{}", rebound.text());
    assert_eq!(get(d.addr, "/", &[("Host", "localhost:1")]).status, 200);

    // The page is built in, loads nothing from elsewhere, and carries no key.
    let page = get(d.addr, "/", &[]);
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
    let mut everything = String::new();
    for path in [
        "/",
        "/assets/app.js",
        "/assets/style.css",
        "/api/status",
        "/api/logs",
        "/api/history",
        "/api/backups",
        "/api/files",
        "/metrics",
    ] {
        let a = get(d.addr, path, &[]);
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        everything += &a.text();
    }
    assert!(
        !everything.contains(KEY),
        "the API key must never be served (G8)"
    );
    assert!(
        !everything.contains(TOKEN),
        "a configured token is never served"
    );
    assert!(!everything.contains("http://") || !everything.contains("<script src=\"http"));

    // `check` names the address and says it answers.
    let port = d.addr.port();
    env.run(&["check"])
        .expect_mentions(&[&format!("http://127.0.0.1:{port}/ answers")]);
    d.stop();
}

#[test]
fn pause_holds_new_uploads_until_resume_and_rescan_finds_what_no_event_told() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let mut d = start(&env, &config(&emu, free_port()));
    let addr = d.addr;
    // Work in flight finishes after a pause: the first scan must be over before b.jpg
    // comes, or it may find and send it.
    d.daemon().wait_until(T, "the first scan to end", || {
        status_at(addr)["daemon"]["last_scan"].is_i64()
    });
    assert_eq!(d.act("/api/pause", json!({}))["state"], "paused");
    let b = env.add_jpeg("b.jpg", 160, 120, 2);
    let b_orig = read(&b);
    d.daemon()
        .wait_until(T, "the change held while paused", || {
            status_at(addr)["dashboard"]["held"] == 1
        });
    assert_eq!(
        upload_requests(&emu).len(),
        0,
        "nothing is uploaded while paused"
    );
    assert_eq!(read(&b), b_orig);
    assert_eq!(d.status()["daemon"]["state"], "paused");
    d.act("/api/resume", json!({}));
    d.daemon()
        .wait_until(T, "b.jpg optimized after resume", || optimized(&b, &b_orig));

    // A rescan walks every folder now: its scan line shows up after the request.
    let seen = last_log_seq(&d);
    assert_eq!(d.act("/api/rescan", json!({}))["rescan"], "started");
    d.daemon().wait_until(T, "the rescan's scan line", || {
        logs_after(addr, seen)
            .iter()
            .any(|l| l.ends_with(" unchanged"))
    });
    assert!(d.status()["daemon"]["last_scan"].is_i64());
    d.stop();
}

/// A pause reaches a batch that is already uploading: it sends nothing more, its unsent
/// files wait in the ledger with the reason, and a resume sends each of them once.
#[test]
fn pause_stops_a_batch_already_uploading_and_resume_sends_the_rest_once() {
    let emu = Emulator::start_with_key(KEY, 1000);
    // One file a request, one request at a time, each a while away: the batch is
    // still uploading when the pause comes, however fast the machine.
    emu.latency(Duration::from_millis(200));
    let env = TestEnv::new();
    let n = 24;
    let files: Vec<_> = (0..n)
        .map(|i| {
            let p = env.add_jpeg(&format!("p/{i:02}.jpg"), 64, 48, 300 + i as u64);
            let orig = read(&p);
            (p, orig)
        })
        .collect();
    let config = config(&emu, free_port())
        .set("concurrency", "1")
        .net("max_batch_files", "1");
    let mut d = start(&env, &config);
    let addr = d.addr;
    d.daemon()
        .wait_until(T, "the first uploads", || emu.uploads() >= 2);
    assert_eq!(d.act("/api/pause", json!({}))["state"], "paused");
    d.daemon()
        .wait_until(T, "the running batch to hold the rest", || {
            let s = status_at(addr);
            s["daemon"]["in_flight"] == 0
                && s["limits"]["held"].as_array().is_some_and(|h| {
                    h.iter()
                        .any(|e| e["reason"].as_str().is_some_and(|r| r.contains("paused")))
                })
        });
    let sent = emu.uploads();
    assert!(sent < n, "the batch stopped sending: {sent} of {n} sent");
    let left = files.iter().filter(|(p, o)| read(p) == *o).count();
    assert!(left > 0, "files were left unsent");
    d.act("/api/resume", json!({}));
    d.daemon()
        .wait_until(T, "every file optimized after resume", || {
            files.iter().all(|(p, o)| optimized(p, o))
        });
    assert_eq!(
        emu.uploads(),
        n,
        "each file sent once: {}",
        log_summary(&emu)
    );
    for (_, orig) in &files {
        assert_eq!(emu.uploads_of(&blake3::hex(orig)), 1);
    }
}

#[test]
fn retry_sends_a_failed_file_again_and_only_that_one() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let mut d = start(&env, &config(&emu, free_port()));
    let refuse = Fault::ItemError {
        code: -201,
        message: "Invalid image format".into(),
    };
    emu.inject(Endpoint::Upload, refuse, 1);
    let c = env.add_jpeg("c.jpg", 160, 120, 3);
    let addr = d.addr;
    let c_orig = read(&c);
    d.daemon().wait_until(T, "c.jpg failed", || {
        status_at(addr)["totals"]["failed"] == 1
    });
    assert_eq!(read(&c), c_orig);
    let outside = post(
        d.addr,
        "/api/retry",
        Some(TOKEN),
        &json!({ "paths": ["/nowhere/x.jpg"] }),
    );
    assert_eq!(outside.status, 400, "{}", outside.text());
    let r = d.act("/api/retry", json!({}));
    assert_eq!(r["retried"], 1, "{r:#}");
    assert_eq!(r["paths"][0], shown(&c));
    d.daemon()
        .wait_until(T, "c.jpg optimized after the retry", || {
            optimized(&c, &c_orig)
        });
    assert_eq!(d.status()["totals"]["failed"], 0);
    assert_eq!(
        emu.uploads_of(&blake3::hex(&c_orig)),
        2,
        "sent once more, not more"
    );
    d.stop();
}

fn logs_after(addr: SocketAddr, seq: u64) -> Vec<String> {
    let v = get(addr, &format!("/api/logs?after={seq}"), &[]).json();
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap().to_string())
        .collect()
}

fn last_log_seq(d: &Dash) -> u64 {
    let v = get(d.addr, "/api/logs", &[]).json();
    v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["seq"].as_u64())
        .max()
        .unwrap_or(0)
}

#[test]
fn restore_through_the_api_returns_originals_refuses_edits_and_paths_outside_the_folders() {
    use std::os::unix::ffi::OsStrExt;
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let a = env.add_jpeg("a.jpg", 160, 120, 4);
    // G10: a name that is not UTF-8 travels escaped and comes back to the same bytes.
    let odd = env
        .photos()
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9 \xff.jpg"));
    write_file(&odd, &images::photo_jpeg(160, 120, 5));
    let b = env.add_jpeg("b.jpg", 160, 120, 6);
    let (a_orig, odd_orig, b_orig) = (read(&a), read(&odd), read(&b));
    let mut d = start(&env, &config(&emu, free_port()));
    d.daemon().wait_until(T, "all three optimized", || {
        optimized(&a, &a_orig) && optimized(&odd, &odd_orig) && optimized(&b, &b_orig)
    });
    // The files are in place a moment before their batch ends and records the point.
    let addr = d.addr;
    let last_point = || {
        get(addr, "/api/history", &[]).json()["points"]
            .as_array()
            .and_then(|p| p.last().cloned())
    };
    d.daemon()
        .wait_until(T, "the chart to have the saving", || {
            last_point().is_some_and(|p| p["files"] == 3)
        });
    let last = last_point().unwrap();
    assert!(last["bytes_optimized"].as_u64() < last["bytes_original"].as_u64());

    // Paths outside the folders, or climbing out of one, are refused and nothing happens.
    for bad in [
        "/etc/passwd".to_string(),
        format!("{}/../config.toml", canonical(&env.photos())),
        "photos/a.jpg".to_string(),
    ] {
        let r = post(
            d.addr,
            "/api/restore",
            Some(TOKEN),
            &json!({ "paths": [bad, shown(&a)] }),
        );
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("nothing was done"),
            "{}",
            r.text()
        );
    }
    let r = post(
        d.addr,
        "/api/restore",
        Some(TOKEN),
        &json!({ "path": shown(&a) }),
    );
    assert_eq!(
        r.status,
        400,
        "a body of the wrong shape says so: {}",
        r.text()
    );
    assert!(
        r.json()["error"].as_str().unwrap().contains("\"paths\""),
        "{}",
        r.text()
    );
    assert!(optimized(&a, &a_orig));

    // A dry run changes nothing.
    let dry = d.act(
        "/api/restore",
        json!({ "paths": [shown(&a)], "dry_run": true }),
    );
    assert_eq!(dry["files"][0]["outcome"], "would_restore", "{dry:#}");
    assert!(optimized(&a, &a_orig));

    // G3: an edit made after the agent optimized the file is never overwritten.
    d.act("/api/pause", json!({}));
    let edit = images::photo_jpeg(120, 90, 7);
    write_file(&b, &edit);
    let r = d.act("/api/restore", json!({ "paths": [shown(&b)] }));
    assert_eq!(r["files"][0]["outcome"], "refused", "{r:#}");
    assert!(
        r["files"][0]["reason"].as_str().unwrap().contains("edited"),
        "{r:#}"
    );
    assert_eq!(read(&b), edit);

    // G1: the originals come back byte for byte, also under a name that is not UTF-8.
    let r = d.act("/api/restore", json!({ "paths": [shown(&a), shown(&odd)] }));
    assert_eq!(r["restored"], 2, "{r:#}");
    assert_eq!(read(&a), a_orig);
    assert_eq!(read(&odd), odd_orig);
    assert_eq!(d.status()["totals"]["restored"], 2);
    d.stop();
}

#[test]
fn a_busy_dashboard_port_is_a_warning_and_the_daemon_works_without_the_page() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::write(env.path("dashboard.token"), TOKEN).unwrap();
    env.configure(&config(&emu, port));
    let a = env.add_jpeg("a.jpg", 160, 120, 8);
    let a_orig = read(&a);
    let url = format!("http://127.0.0.1:{port}/");
    env.run(&["check"])
        .expect_mentions(&[&url, "will answer while", "not reachable now"]);
    let mut daemon = env.spawn(&["run"]);
    daemon.wait_until(T, "a.jpg optimized without the page", || {
        optimized(&a, &a_orig)
    });
    // The port's holder accepts but never answers: `check` says the page is not there
    // although the agent runs.
    env.run(&["check"])
        .expect_mentions(&[&url, "does not answer", "although the agent runs"]);
    daemon.signal("TERM");
    daemon.wait().expect_code(0).expect_mentions(&[
        "dashboard cannot listen",
        &format!("127.0.0.1:{port}"),
        "running without it",
    ]);
}

#[test]
fn a_dashboard_open_to_the_network_without_a_token_is_a_config_error_naming_both_keys() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    env.configure(&Config::emulator(&emu).set("dashboard", "{ listen = \"0.0.0.0:8719\" }"));
    env.run(&["run", "--once"])
        .expect_code(2)
        .expect_mentions(&["dashboard.listen", "dashboard.token_file", "0.0.0.0:8719"]);
    env.configure(
        &Config::emulator(&emu).set("dashboard", "{ listen = \"127.0.0.1:1\", colour = 1 }"),
    );
    env.run(&["status"])
        .expect_code(2)
        .expect_mentions(&["colour"]);
}

#[test]
fn a_token_file_changed_and_reloaded_revokes_the_old_token() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let mut d = start(&env, &config(&emu, free_port()));
    let new_token = "a-fresh-token-after-a-leak-9876543210";
    std::fs::write(env.path("dashboard.token"), new_token).unwrap();
    d.daemon().signal("HUP");
    wait_until(T, "the old token refused", || {
        post(d.addr, "/api/pause", Some(TOKEN), &json!({})).status == 403
    });
    let a = post(d.addr, "/api/pause", Some(new_token), &json!({}));
    assert_eq!(a.status, 200, "{}", a.text());
    d.stop();
}

#[test]
fn without_a_token_file_the_page_carries_a_token_drawn_for_this_start() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = TestEnv::new();
    let port = free_port();
    let cfg =
        Config::emulator(&emu).set("dashboard", &format!("{{ listen = \"127.0.0.1:{port}\" }}"));
    let d = start(&env, &cfg);
    assert_eq!(d.status()["dashboard"]["token_configured"], false);
    let page = get(d.addr, "/", &[]).text();
    let drawn = page
        .split("name=\"spa-token\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the token in the page");
    assert_eq!(drawn.len(), 48, "{drawn:?}");
    assert_eq!(post(d.addr, "/api/rescan", None, &json!({})).status, 401);
    let a = post(d.addr, "/api/rescan", Some(drawn), &json!({}));
    assert_eq!(a.status, 200, "{}", a.text());
    d.stop();
}
