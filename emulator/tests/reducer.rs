//! The emulator's normal behaviour: uploads, polls, credits, api-status, conversions and the
//! request log — as the real service's wire shows them.

mod common;

use common::*;
use serde_json::{json, Value};
use shortpixel_emulator::{Emulator, Endpoint};

const KEY: &str = "TESTKEY";

#[tokio::test]
async fn jpeg_upload_shrinks_and_download_matches_size() {
    let emu = Emulator::start_with_key(KEY, 10);
    let original = jpeg(320, 240, 1);
    let reply = upload(
        &emu.url(),
        KEY,
        &[("lossy", "1"), ("wait", "30")],
        std::slice::from_ref(&original),
    )
    .await;
    let item = &reply.as_array().expect("array reply")[0];
    assert_eq!(item["Status"]["Code"], "2", "code sent as a string: {item}");
    assert_eq!(item["Key"], "file1");
    assert_eq!(item["OriginalSize"].as_u64(), Some(original.len() as u64));
    let lossy = num(&item["LossySize"]) as usize;
    assert!(item["LossySize"].is_string());
    assert!(lossy < original.len(), "{lossy} >= {}", original.len());
    assert!(num(&item["PercentImprovement"]) > 5.0);
    assert_eq!(item["LoselessSize"], item["LosslessSize"]);
    assert_eq!(item["WebPLossyURL"], "NA");
    assert_eq!(item["AVIFLosslessURL"], "NA");
    assert!(item["TimeStamp"].is_string());

    let resp = get(item["LossyURL"].as_str().unwrap()).await;
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(bytes.len(), lossy);
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (320, 240));
    let lossless = get(item["LosslessURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(lossless.len() as f64, num(&item["LoselessSize"]));
    assert_eq!(emu.credits_used(KEY), 1);
}

#[tokio::test]
async fn pending_job_turns_ready_on_nth_json_poll() {
    let emu = Emulator::start_with_key(KEY, 10);
    emu.pending_polls(2);
    let reply = upload(&emu.url(), KEY, &[], &[jpeg(200, 150, 2)]).await;
    let item = &reply[0];
    assert_eq!(item["Status"]["Code"], "1");
    assert!(item.get("LossyURL").is_none());
    let url = item["OriginalURL"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&emu.url()));
    assert!(item["OriginalSize"].is_u64());

    let first = poll_json(&emu.url(), KEY, &[&url]).await;
    assert_eq!(code(&first[0]), 1);
    assert!(first[0].get("Key").is_none());
    let second = poll_json(&emu.url(), KEY, &[&url]).await;
    assert_eq!(second[0]["Status"]["Code"], "2");
    assert_eq!(second[0]["OriginalURL"], url.as_str());
    assert!(num(&second[0]["LossySize"]) > 0.0);
    assert_eq!(emu.polls(), 2);
    let polls: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::Poll)
        .collect();
    assert_eq!(polls[0].urls, vec![url.clone()]);
    assert!(polls[0].content_type.starts_with("application/json"));
    assert!(polls[0].fields["file_urls"].starts_with('{'));
}

#[tokio::test]
async fn form_file_urls_poll_keeps_request_order_and_flags_unknown_urls() {
    let emu = Emulator::start_with_key(KEY, 10);
    let reply = upload(&emu.url(), KEY, &[], &[jpeg(120, 90, 3)]).await;
    let known = reply[0]["OriginalURL"].as_str().unwrap().to_owned();
    let unknown = format!("{}/orig/nope", emu.url());
    let form = [
        ("key", KEY),
        ("file_urls[]", unknown.as_str()),
        ("file_urls[]", known.as_str()),
    ];
    let resp = client()
        .post(format!("{}/v2/post-reducer.php", emu.url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    let items: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(code(&items[0]), -102);
    assert_eq!(items[0]["OriginalURL"], unknown.as_str());
    assert_eq!(code(&items[1]), 2);
    assert_eq!(items[1]["OriginalURL"], known.as_str());

    // The same fields in a multipart body (no files) are a poll too.
    let form = reqwest::multipart::Form::new()
        .text("key", KEY)
        .text("file_urls[]", known.clone());
    let resp = client()
        .post(format!("{}/v2/post-reducer.php", emu.url()))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let items: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(code(&items[0]), 2);
    assert_eq!(emu.requests().last().unwrap().endpoint, Endpoint::Poll);

    // JSON objects keep document order past url9 (serde_json would sort url10 first).
    let mut urls: Vec<String> = (0..11)
        .map(|i| format!("{}/orig/x{i}", emu.url()))
        .collect();
    urls[10] = known.clone();
    let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let items = poll_json(&emu.url(), KEY, &refs).await;
    assert_eq!(items.as_array().unwrap().len(), 11);
    assert_eq!(items[10]["OriginalURL"], known.as_str());
    assert_eq!(code(&items[10]), 2);
}

#[tokio::test]
async fn reducer_urllist_polls_known_jobs_only() {
    let emu = Emulator::start_with_key(KEY, 10);
    let reply = upload(&emu.url(), KEY, &[], &[jpeg(120, 90, 4)]).await;
    let known = reply[0]["OriginalURL"].as_str().unwrap().to_owned();
    // The PHP example rawurlencodes the list.
    let encoded = known.replace(':', "%3A").replace('/', "%2F");
    let body = json!({"key": KEY, "lossy": 1, "urllist": [encoded, "https://example.com/a.jpg"]});
    let items = post_json(&format!("{}/v2/reducer.php", emu.url()), &body).await;
    assert_eq!(code(&items[0]), 2);
    // The emulator fetches nothing but loopback: another host is "inaccessible".
    assert_eq!(code(&items[1]), -106);
    assert_eq!(emu.url_fetches(), 0, "polling a known job fetches nothing");
    assert_eq!(
        emu.credits_used(KEY),
        1,
        "polling a known job charges nothing"
    );
}

#[tokio::test]
async fn unknown_key_is_refused_with_a_top_level_object() {
    let emu = Emulator::start_with_key(KEY, 10);
    let reply = upload(&emu.url(), "WRONG", &[], &[jpeg(64, 64, 5)]).await;
    assert_eq!(reply["Status"]["Code"], -401);
    let reply = poll_json(&emu.url(), "WRONG", &["x"]).await;
    assert_eq!(reply["Status"]["Code"], -401);
    let status = post_json(
        &format!("{}/v2/api-status.php", emu.url()),
        &json!({"key": "WRONG"}),
    )
    .await;
    assert_eq!(status["Status"]["Code"], "-401");
    assert_eq!(emu.requests()[0].codes, vec![-401]);
}

#[tokio::test]
async fn quota_runs_out_then_top_up_lets_uploads_through() {
    let emu = Emulator::start_with_key(KEY, 1);
    assert_eq!(
        code(&upload(&emu.url(), KEY, &[], &[jpeg(200, 150, 6)]).await[0]),
        2
    );
    let refused = upload(&emu.url(), KEY, &[], &[jpeg(200, 150, 7)]).await;
    assert!(refused.is_object());
    assert_eq!(refused["Status"]["Code"], -403);
    emu.set_quota(KEY, 2);
    assert_eq!(
        code(&upload(&emu.url(), KEY, &[], &[jpeg(200, 150, 7)]).await[0]),
        2
    );
    assert_eq!(emu.credits_used(KEY), 2);
}

#[tokio::test]
async fn api_status_reports_numbers_as_strings_in_every_request_shape() {
    let emu = Emulator::start_with_key(KEY, 50);
    upload(&emu.url(), KEY, &[], &[jpeg(200, 150, 8)]).await;
    let url = format!("{}/v2/api-status.php", emu.url());
    let multipart = reqwest::multipart::Form::new().text("key", KEY);
    let replies = [
        client()
            .post(&url)
            .multipart(multipart)
            .send()
            .await
            .unwrap(),
        client()
            .post(&url)
            .form(&[("key", KEY)])
            .send()
            .await
            .unwrap(),
        client()
            .get(format!("{url}?key={KEY}"))
            .send()
            .await
            .unwrap(),
    ];
    for resp in replies {
        let v: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
        assert_eq!(v["Status"]["Code"], "2");
        assert_eq!(v["APICallsMade"], "1");
        assert_eq!(v["APICallsQuota"], 50);
        assert_eq!(v["APICallsMadeOneTime"], "0");
        assert_eq!(v["Unlimited"], "false");
    }
}

#[tokio::test]
async fn identical_bytes_make_new_jobs_and_the_log_counts_them() {
    let emu = Emulator::start_with_key(KEY, 10);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    emu.on_upload(move |f| sink.lock().unwrap().push(f.path_id.clone()));
    let bytes = jpeg(160, 120, 9);
    let a = upload(&emu.url(), KEY, &[], &[bytes.clone(), bytes.clone()]).await;
    assert_ne!(a[0]["OriginalURL"], a[1]["OriginalURL"]);
    assert_eq!(a[1]["Key"], "file2");
    assert_eq!(emu.uploads_of(&hash(&bytes)), 2);
    assert_eq!(emu.uploads(), 2);
    assert_eq!(emu.credits_used(KEY), 2);
    assert_eq!(*seen.lock().unwrap(), vec!["id-1", "id-2"]);
    let req = &emu.requests()[0];
    assert_eq!(req.endpoint, Endpoint::Upload);
    assert_eq!(req.key.as_deref(), Some(KEY));
    assert_eq!(
        req.fields["file_paths"],
        r#"{"file1":"id-1","file2":"id-2"}"#
    );
    assert_eq!(req.files[1].filename, "img2.jpg");
    assert!(req.content_type.starts_with("multipart/form-data"));
    assert_eq!(req.codes, vec![2, 2]);
    assert_eq!(req.http_status, 200);
}

#[tokio::test]
async fn per_item_refusals_too_many_files_bad_images_and_size_limit() {
    let emu = Emulator::start_with_key(KEY, 20);
    let eleven: Vec<Vec<u8>> = (0..11).map(|i| vec![i as u8; 10]).collect();
    let reply = upload(&emu.url(), KEY, &[], &eleven).await;
    assert_eq!(reply["Status"]["Code"], -107);

    let good = jpeg(64, 64, 10);
    let big = jpeg(300, 300, 11);
    let failing = jpeg(64, 64, 12);
    emu.max_file_size(big.len() as u64 - 1);
    emu.fail_content(&hash(&failing), -201, "Invalid image format");
    let reply = upload(
        &emu.url(),
        KEY,
        &[],
        &[b"not an image".to_vec(), big, failing, good],
    )
    .await;
    let codes: Vec<i64> = reply.as_array().unwrap().iter().map(code).collect();
    assert_eq!(codes, vec![-202, -111, -201, 2]);
    assert_eq!(
        reply[0]["Status"]["Message"],
        "Invalid image or unsupported image format"
    );
    assert_eq!(reply[2]["Key"], "file3");
}

#[tokio::test]
async fn png_is_recompressed_in_every_mode() {
    let emu = Emulator::start_with_key(KEY, 10);
    let original = png(256, 192);
    let reply = upload(
        &emu.url(),
        KEY,
        &[("lossy", "0")],
        std::slice::from_ref(&original),
    )
    .await;
    let size = num(&reply[0]["LoselessSize"]) as usize;
    assert!(size < original.len());
    let bytes = get(reply[0]["LosslessURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.len(), size);
    let (a, b) = (
        image::load_from_memory(&bytes).unwrap(),
        image::load_from_memory(&original).unwrap(),
    );
    assert_eq!(a.to_rgb8(), b.to_rgb8(), "lossless keeps every pixel");
}

#[tokio::test]
async fn convertto_and_resize_produce_matching_variants() {
    let emu = Emulator::start_with_key(KEY, 10);
    let fields = [
        ("convertto", "%2Bwebp|+avif"),
        ("resize", "3"),
        ("resize_width", "100"),
        ("resize_height", "100"),
    ];
    let reply = upload(&emu.url(), KEY, &fields, &[jpeg(400, 300, 13)]).await;
    let item = &reply[0];
    let webp = get(item["WebPLossyURL"].as_str().unwrap()).await;
    assert_eq!(webp.headers()["content-type"], "image/webp");
    let webp = webp.bytes().await.unwrap();
    assert_eq!(webp.len() as f64, num(&item["WebPLossySize"]));
    let img = image::load_from_memory(&webp).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (100, 75),
        "inner resize fits the box"
    );
    let avif = get(item["AVIFLossyURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&avif[4..12], b"ftypavif");
    assert_eq!(avif.len() as f64, num(&item["AVIFLoselessSize"]));
    let lossy = get(item["LossyURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    let img = image::load_from_memory(&lossy).unwrap();
    assert_eq!((img.width(), img.height()), (100, 75));
}

#[tokio::test]
async fn uploads_of_several_megabytes_are_accepted() {
    let emu = Emulator::start_with_key(KEY, 10);
    let files: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 3 * 1024 * 1024]).collect();
    let reply = upload(&emu.url(), KEY, &[], &files).await;
    assert_eq!(reply.as_array().unwrap().len(), 10);
    assert_eq!(code(&reply[9]), -202);
    assert_eq!(reply[9]["OriginalSize"].as_u64(), Some(3 * 1024 * 1024));
    assert_eq!(emu.uploads(), 10);
}

#[test]
fn drop_frees_the_port() {
    let emu = Emulator::start();
    let port = emu.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(emu);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("port free after drop");
}

#[tokio::test]
async fn processing_time_holds_uploads_up_to_wait_and_polls_see_it_finish() {
    let emu = Emulator::start_with_key(KEY, 10);
    emu.processing_time(std::time::Duration::from_millis(1500));
    // wait=0: Code 1 at once; the job is not downloadable yet.
    let t0 = std::time::Instant::now();
    let reply = upload(&emu.url(), KEY, &[("wait", "0")], &[jpeg(120, 90, 3)]).await;
    assert!(t0.elapsed().as_millis() < 1000, "{:?}", t0.elapsed());
    assert_eq!(code(&reply[0]), 1);
    let url = reply[0]["OriginalURL"].as_str().unwrap().to_owned();
    let early = poll_json(&emu.url(), KEY, &[&url]).await;
    assert_eq!(code(&early[0]), 1, "still processing: {early}");
    // wait=5 holds the request until the job is ready (1.5 s), not for the whole wait.
    let t0 = std::time::Instant::now();
    let reply = upload(&emu.url(), KEY, &[("wait", "5")], &[jpeg(120, 90, 4)]).await;
    let held = t0.elapsed().as_millis();
    assert!((1400..4000).contains(&held), "held {held} ms");
    assert_eq!(code(&reply[0]), 2, "{reply}");
    let done = poll_json(&emu.url(), KEY, &[&url]).await;
    assert_eq!(code(&done[0]), 2, "ready by now: {done}");
}

#[tokio::test]
async fn latency_delays_every_request() {
    let emu = Emulator::start_with_key(KEY, 10);
    emu.latency(std::time::Duration::from_millis(300));
    let t0 = std::time::Instant::now();
    let reply = upload(&emu.url(), KEY, &[("wait", "5")], &[jpeg(120, 90, 5)]).await;
    assert!(t0.elapsed().as_millis() >= 300, "{:?}", t0.elapsed());
    let t1 = std::time::Instant::now();
    let resp = get(reply[0]["LossyURL"].as_str().unwrap()).await;
    assert!(resp.status().is_success());
    assert!(t1.elapsed().as_millis() >= 300, "{:?}", t1.elapsed());
}
