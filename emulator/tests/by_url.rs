//! `reducer.php` by URL: the emulator fetches each URL itself from a loopback web server
//! ([`Site`]), answers per the API, caches per (key, URL) so that asking again without
//! `refresh` costs nothing, and fetches nothing but loopback, with a capped body.

mod common;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::*;
use serde_json::{json, Value};
use shortpixel_emulator::{Emulator, Endpoint, Fault, Serve, Site};

const KEY: &str = "TESTKEY";

/// A folder holding `a.jpg` and `b.png`, served by a `Site`.
fn site_with_images() -> (tempfile::TempDir, Site, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (jpeg(320, 240, 7), png(200, 150));
    std::fs::write(dir.path().join("a.jpg"), &a).unwrap();
    std::fs::write(dir.path().join("b.png"), &b).unwrap();
    let site = Site::serve(dir.path());
    (dir, site, a, b)
}

async fn by_url(emu: &Emulator, key: &str, refresh: u8, urls: &[&str]) -> Value {
    let body = json!({"key": key, "plugin_version": "TST01", "lossy": 1, "wait": 30,
                      "refresh": refresh, "urllist": urls});
    post_json(&format!("{}/v2/reducer.php", emu.url()), &body).await
}

#[tokio::test]
async fn urllist_fetches_each_url_shrinks_it_and_charges_one_credit_per_url() {
    let emu = Emulator::start_with_key(KEY, 10);
    let (_dir, site, a, b) = site_with_images();
    let (ua, ub) = (
        format!("{}/a.jpg", site.url()),
        format!("{}/b.png", site.url()),
    );
    let items = by_url(&emu, KEY, 0, &[&ua, &ub]).await;
    for (item, (url, original)) in items
        .as_array()
        .expect("array reply")
        .iter()
        .zip([(&ua, &a), (&ub, &b)])
    {
        assert_eq!(item["Status"]["Code"], "2", "{item}");
        assert_eq!(item["OriginalURL"], url.as_str());
        assert_eq!(item["OriginalSize"].as_u64(), Some(original.len() as u64));
        let lossy = get(item["LossyURL"].as_str().unwrap())
            .await
            .bytes()
            .await
            .unwrap();
        assert_eq!(lossy.len() as f64, num(&item["LossySize"]));
        assert!(lossy.len() < original.len());
        image::load_from_memory(&lossy).expect("the result decodes");
    }
    assert_eq!(emu.url_fetches(), 2);
    assert_eq!(emu.credits_used(KEY), 2);
    assert_eq!((site.hits("a.jpg"), site.hits("b.png")), (1, 1));
    let log = emu.requests();
    assert_eq!(log[0].endpoint, Endpoint::ByUrl);
    assert_eq!(log[0].urls, vec![ua, ub], "urls are logged as sent");
    assert_eq!(log[0].codes, vec![2, 2]);
    assert_eq!(emu.polls(), 0, "by-URL requests are not counted as polls");
}

#[tokio::test]
async fn asking_again_without_refresh_answers_from_the_cache_and_refresh_fetches_and_charges_again()
{
    let emu = Emulator::start_with_key(KEY, 10);
    emu.add_key("OTHER", 10);
    emu.pending_polls(1);
    let (_dir, site, _, _) = site_with_images();
    let url = format!("{}/a.jpg", site.url());

    let first = by_url(&emu, KEY, 0, &[&url]).await;
    assert_eq!(code(&first[0]), 1, "pending first: {first}");
    assert_eq!(first[0]["OriginalURL"], url.as_str());
    let again = by_url(&emu, KEY, 0, &[&url]).await;
    assert_eq!(
        code(&again[0]),
        2,
        "the cached job, one poll later: {again}"
    );
    assert_eq!((emu.url_fetches(), emu.credits_used(KEY)), (1, 1));
    assert_eq!(site.hits("a.jpg"), 1);

    let refreshed = by_url(&emu, KEY, 1, &[&url]).await;
    assert_eq!(code(&refreshed[0]), 1, "a new job: {refreshed}");
    assert_ne!(refreshed[0]["LossyURL"], again[0]["LossyURL"]);
    assert_eq!((emu.url_fetches(), emu.credits_used(KEY)), (2, 2));

    // The cache is per key: another account pays for its own fetch.
    by_url(&emu, "OTHER", 0, &[&url]).await;
    assert_eq!((emu.url_fetches(), emu.credits_used("OTHER")), (3, 1));
    assert_eq!(site.hits("a.jpg"), 3);
    let keys: Vec<String> = emu.fetches().into_iter().map(|f| f.key).collect();
    assert_eq!(keys, [KEY, KEY, "OTHER"]);
}

#[tokio::test]
async fn urls_that_cannot_be_fetched_get_per_item_codes_and_cost_nothing() {
    let emu = Emulator::start_with_key(KEY, 10);
    let (dir, site, _, _) = site_with_images();
    std::fs::write(dir.path().join("notes.jpg"), b"not an image at all").unwrap();
    site.set("gone.jpg", Serve::NotFound);
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let good = format!("{}/a.jpg", site.url());
    let urls = [
        "https://example.com/a.jpg".to_owned(),
        "not a url".to_owned(),
        format!("{}/missing.jpg", site.url()),
        format!("{}/gone.jpg", site.url()),
        format!("http://127.0.0.1:{closed}/a.jpg"),
        format!("{}/notes.jpg", site.url()),
        format!("{}/../a.jpg", site.url()),
        good.clone(),
    ];
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let items = by_url(&emu, KEY, 0, &refs).await;
    let codes: Vec<i64> = items.as_array().unwrap().iter().map(code).collect();
    assert_eq!(codes, [-106, -102, -102, -102, -106, -202, 2, 2], "{items}");
    for (item, url) in items.as_array().unwrap().iter().zip(&urls) {
        assert_eq!(
            item["OriginalURL"],
            url.as_str(),
            "every item names its URL"
        );
    }
    assert_eq!(
        emu.credits_used(KEY),
        1,
        "only the image that was fetched is charged"
    );
    assert!(site.requests().iter().all(|p| !p.starts_with(b"..")));
    let fetched: Vec<(String, i32)> = emu.fetches().into_iter().map(|f| (f.url, f.code)).collect();
    assert!(
        fetched
            .iter()
            .all(|(u, _)| u.starts_with("http://127.0.0.1:")),
        "nothing but loopback is fetched: {fetched:?}"
    );
    assert!(fetched.contains(&(good, 1)), "{fetched:?}");
}

#[tokio::test]
async fn a_body_that_never_ends_is_cut_at_the_cap() {
    let emu = Emulator::start_with_key(KEY, 10);
    emu.max_file_size(200_000);
    let (_dir, site, _, _) = site_with_images();
    site.set("endless.jpg", Serve::Endless);
    let url = format!("{}/endless.jpg", site.url());
    let items = by_url(&emu, KEY, 0, &[&url]).await;
    assert_eq!(code(&items[0]), -111, "{items}");
    let fetch = &emu.fetches()[0];
    assert!(
        fetch.bytes > 200_000 && fetch.bytes < 200_000 + 4 * 1024 * 1024,
        "read just past the cap: {fetch:?}"
    );
    assert_eq!(emu.credits_used(KEY), 0);
}

#[tokio::test]
async fn redirects_are_followed_only_while_they_stay_on_loopback() {
    let emu = Emulator::start_with_key(KEY, 10);
    let (_dir, site, a, _) = site_with_images();
    site.set(
        "moved.jpg",
        Serve::Redirect(format!("{}/a.jpg", site.url())),
    );
    site.set(
        "away.jpg",
        Serve::Redirect("http://example.com/a.jpg".into()),
    );
    let moved = format!("{}/moved.jpg", site.url());
    let away = format!("{}/away.jpg", site.url());
    let items = by_url(&emu, KEY, 0, &[&moved, &away]).await;
    assert_eq!(code(&items[0]), 2, "{items}");
    assert_eq!(items[0]["OriginalSize"].as_u64(), Some(a.len() as u64));
    assert_eq!(code(&items[1]), -106, "{items}");
}

#[tokio::test]
async fn a_site_serves_names_that_are_not_utf8_and_other_bytes_where_told() {
    let emu = Emulator::start_with_key(KEY, 10);
    let (dir, site, a, _) = site_with_images();
    let name: &[u8] = b"caf\xe9 1.jpg";
    std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(name)), &a).unwrap();
    let url = format!("{}/caf%E9%201.jpg", site.url());
    // As the vendor's PHP example sends it: the whole URL rawurlencoded once more.
    let wrapped = url
        .replace('%', "%25")
        .replace(':', "%3A")
        .replace('/', "%2F");
    let items = by_url(&emu, KEY, 1, &[&url, &wrapped]).await;
    for item in items.as_array().unwrap() {
        assert_eq!(code(item), 2, "{items}");
        assert_eq!(item["OriginalSize"].as_u64(), Some(a.len() as u64));
    }
    assert_eq!(items[1]["OriginalURL"], wrapped.as_str(), "echoed as sent");
    assert_eq!(
        site.hits(name),
        1,
        "both spellings are one URL, fetched once"
    );
    assert_eq!(emu.fetches()[0].url, url);

    let stale = jpeg(100, 80, 9);
    site.set("a.jpg", Serve::Bytes(stale.clone()));
    let stale_item = &by_url(&emu, KEY, 1, &[&format!("{}/a.jpg", site.url())]).await[0];
    assert_eq!(
        stale_item["OriginalSize"].as_u64(),
        Some(stale.len() as u64)
    );
    site.clear("a.jpg");
    let fresh = get(&format!("{}/a.jpg", site.url())).await;
    assert_eq!(fresh.headers()["content-type"], "image/jpeg");
    assert_eq!(fresh.bytes().await.unwrap().as_ref(), a.as_slice());
    assert_eq!(get(&format!("{}/nope.jpg", site.url())).await.status(), 404);
    assert!(Path::new(&dir.path().join("a.jpg")).exists());
}

#[tokio::test]
async fn whole_request_refusals_and_item_error_faults_fetch_nothing() {
    let emu = Emulator::start_with_key(KEY, 10);
    let (_dir, site, _, _) = site_with_images();
    let url = format!("{}/a.jpg", site.url());
    assert_eq!(code(&by_url(&emu, "NOPE", 0, &[&url]).await), -401);
    assert_eq!(code(&by_url(&emu, KEY, 0, &[]).await), -105);
    let many: Vec<&str> = std::iter::repeat_n(url.as_str(), 101).collect();
    assert_eq!(code(&by_url(&emu, KEY, 0, &many).await), -107);
    emu.inject(
        Endpoint::ByUrl,
        Fault::ItemError {
            code: -404,
            message: "queue full".into(),
        },
        1,
    );
    let items = by_url(&emu, KEY, 0, &[&url]).await;
    assert_eq!(code(&items[0]), -404);
    assert_eq!(items[0]["OriginalURL"], url.as_str());
    assert_eq!((emu.url_fetches(), site.hits("a.jpg")), (0, 0));
    assert_eq!(emu.credits_used(KEY), 0);
}
