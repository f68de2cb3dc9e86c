//! The dashboard in a real browser: headless Chromium driven through WebDriver. The page
//! loads from the binary alone, its counts follow a file dropped into a watched folder
//! without a reload, "restore" puts the original back byte for byte, and a request the
//! page makes without the token is refused.
//!
//! With `SHORTPIXEL_AGENT_SCREENSHOTS=DIR`, the screenshots for the README are written to
//! DIR (`dashboard.png`, `dashboard-file.png`).

use std::time::Duration;

use serde_json::json;
use shortpixel_agent::names::shown;
use shortpixel_emulator::Emulator;

use crate::dashboard::{config, start, TOKEN};
use crate::support::http::free_port;
use crate::support::images::{graphic_png, photo_jpeg};
use crate::support::webdriver::{available, Browser};
use crate::support::*;

/// Generous: a page under a loaded machine's builds refreshes slowly.
const T: Duration = Duration::from_secs(120);

#[test]
fn the_page_in_chromium_follows_a_dropped_file_restores_and_is_refused_without_the_token() {
    if !available(
        "the_page_in_chromium_follows_a_dropped_file_restores_and_is_refused_without_the_token",
    ) {
        return;
    }
    let emu = Emulator::start_with_key(KEY, 10_000);
    let env = TestEnv::new();
    let a = env.add_file("2026/lake.jpg", &photo_jpeg(640, 420, 11));
    let b = env.add_file("2026/chart.png", &graphic_png(320, 200, 12));
    let truncated = photo_jpeg(200, 150, 13);
    env.add_file("2026/cut.jpg", &truncated[..truncated.len() / 3]);
    let (a_orig, b_orig) = (read(&a), read(&b));
    // A budget, so the page shows this month's credits against it.
    let config = config(&emu, free_port()).set("limits", "{ monthly_credits = 5000 }");
    let mut d = start(&env, &config);
    d.daemon().wait_until(T, "the first files optimized", || {
        read(&a) != a_orig && read(&b) != b_orig
    });

    let browser = Browser::start();
    browser.goto(&format!("http://{}/", d.addr));
    let wait_text = |css: &str, want: &str| {
        wait_until(T, &format!("{css} to read {want:?}"), || {
            browser.text(css) == want
        });
    };
    wait_text("#files-optimized", "2");
    wait_text("#failures-count", "(1)");
    assert!(
        browser.run(
            "return !document.getElementById('tokenbox').hidden;",
            json!([])
        ) == true,
        "a configured token is asked for, never handed to the page"
    );

    // Without the token, the page's own request is refused and nothing pauses.
    let refused = browser.run_async(
        "const done = arguments[arguments.length - 1];
         fetch('/api/pause', {method: 'POST'}).then(r => done(r.status), e => done(String(e)));",
        json!([]),
    );
    assert_eq!(refused, 401);
    assert_ne!(browser.text("#state"), "paused");

    browser.type_into("#token-input", TOKEN);
    browser.click("#token-save");

    // A file dropped into the watched folder shows up without a reload.
    let c = env.add_file("2026/new.jpg", &photo_jpeg(480, 320, 14));
    let c_orig = read(&c);
    wait_text("#files-optimized", "3");
    // This month's credits, as the service charged them, against the budget.
    let used = emu.credits_used(KEY);
    wait_until(T, "the budget card", || {
        let text = browser.text("#budget");
        text.starts_with(&format!("{used} / ")) && text.ends_with("000")
    });
    assert_ne!(read(&c), c_orig);
    wait_until(T, "the chart drawn", || {
        browser.run(
            "return document.querySelectorAll('#chart path').length;",
            json!([]),
        ) == 2
    });
    let shots = std::env::var_os("SHORTPIXEL_AGENT_SCREENSHOTS").map(std::path::PathBuf::from);
    let page = browser.screenshot();
    assert!(page.starts_with(b"\x89PNG"), "a PNG screenshot");
    if let Some(dir) = &shots {
        std::fs::write(dir.join("dashboard.png"), &page).unwrap();
    }

    // The file view: both pictures load (the original from the backup), then restore.
    let a_shown = shown(&a);
    let clicked = browser.run(
        "const row = [...document.querySelectorAll('#file-list tr')].find(r => r.dataset.path === arguments[0]);
         if (row) row.click(); return !!row;",
        json!([a_shown]),
    );
    assert_eq!(clicked, true, "lake.jpg is listed");
    wait_until(T, "both pictures shown", || {
        browser.run(
            "const o = document.getElementById('fv-original'), r = document.getElementById('fv-result');
             return !document.getElementById('fileview').hidden && o.naturalWidth > 0 && r.naturalWidth > 0;",
            json!([]),
        ) == true
    });
    assert_eq!(browser.text("#fv-state"), "optimized");
    if let Some(dir) = &shots {
        browser.run("document.getElementById('fv-slider').value = 40; document.getElementById('fv-slider').dispatchEvent(new Event('input'));", json!([]));
        std::fs::write(dir.join("dashboard-file.png"), browser.screenshot()).unwrap();
    }
    browser.click("#fv-restore");
    assert_eq!(read(&a), read(&a), "one click only arms the button");
    assert_ne!(read(&a), a_orig, "nothing restored on the first click");
    browser.click("#fv-restore");
    wait_text("#fv-message", "The original is back.");
    assert_eq!(read(&a), a_orig, "the original, byte for byte (G1)");
    drop(browser);
    d.stop();
}
