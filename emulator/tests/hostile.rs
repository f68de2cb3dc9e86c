//! The hostile-server faults do what they say: redirects, an error page quoting the key,
//! bodies longer than announced or without end, a wrong-size WebP, silence mid-request;
//! and with a processing time, uploads are answered at once and paid for only when the
//! result is worth it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use shortpixel_emulator::{Emulator, Endpoint, Fault, Recorder, ERROR_PAGE_KEY_AT};

const KEY: &str = "HOSTILEKEY-0123456789";

async fn one(emu: &Emulator, fields: &[(&str, &str)]) -> serde_json::Value {
    upload(&emu.url(), KEY, fields, &[jpeg(160, 120, 1)]).await[0].clone()
}

#[tokio::test]
async fn redirect_points_elsewhere_and_makes_no_job() {
    let emu = Emulator::start_with_key(KEY, 10);
    let rec = Recorder::start();
    emu.inject(
        Endpoint::Upload,
        Fault::Redirect {
            status: 307,
            to: rec.url(),
        },
        1,
    );
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_follow
        .post(format!("{}/v2/post-reducer.php", emu.url()))
        .multipart(upload_form(KEY, &[], &[jpeg(64, 48, 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 307);
    assert_eq!(
        resp.headers()["location"],
        format!("{}/v2/post-reducer.php", rec.url()).as_str()
    );
    assert_eq!(emu.credits_used(KEY), 0);
    assert!(rec.requests().is_empty());
}

#[tokio::test]
async fn error_page_quotes_the_key_past_character_100() {
    let emu = Emulator::start_with_key(KEY, 10);
    emu.inject(Endpoint::Upload, Fault::ErrorPage, 1);
    let resp = client()
        .post(format!("{}/v2/post-reducer.php", emu.url()))
        .multipart(upload_form(KEY, &[], &[jpeg(64, 48, 1)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let page = resp.text().await.unwrap();
    assert_eq!(page.find(KEY), Some(ERROR_PAGE_KEY_AT), "{page}");
}

#[tokio::test]
async fn oversize_and_endless_bodies_go_on_past_the_announced_size() {
    let emu = Emulator::start_with_key(KEY, 10);
    let item = one(&emu, &[]).await;
    let announced = num(&item["LossySize"]) as u64;
    let url = item["LossyURL"].as_str().unwrap().to_owned();

    emu.inject(Endpoint::Download, Fault::Oversize(100_000), 1);
    let body = get(&url).await.bytes().await.unwrap();
    assert_eq!(body.len() as u64, announced + 100_000);

    emu.inject(Endpoint::Download, Fault::Endless, 1);
    let mut resp = get(&url).await;
    assert!(resp.content_length().is_none());
    let mut read = 0u64;
    while read < 4 * 1024 * 1024 {
        read += resp.chunk().await.unwrap().expect("it never ends").len() as u64;
    }
    drop(resp);
    assert!(emu.bytes_streamed() >= announced + 100_000 + read);
}

#[tokio::test]
async fn small_extra_is_a_valid_16_by_16_webp_with_its_size_announced() {
    let emu = Emulator::start_with_key(KEY, 10);
    emu.inject(Endpoint::Upload, Fault::SmallExtra, 1);
    let item = one(&emu, &[("convertto", "+webp")]).await;
    let webp = get(item["WebPLossyURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(webp.len() as f64, num(&item["WebPLossySize"]));
    let img = image::load_from_memory(&webp).unwrap();
    assert_eq!((img.width(), img.height()), (16, 16));
}

#[tokio::test]
async fn stall_sends_half_a_download_then_falls_silent() {
    let emu = Emulator::start_with_key(KEY, 10);
    let item = one(&emu, &[]).await;
    let announced = num(&item["LossySize"]) as u64;
    emu.inject(Endpoint::Download, Fault::Stall(Duration::from_secs(30)), 1);
    let mut resp = get(item["LossyURL"].as_str().unwrap()).await;
    assert_eq!(resp.content_length(), Some(announced));
    let first = resp.chunk().await.unwrap().unwrap();
    assert_eq!(first.len() as u64, announced / 2);
    let silent = tokio::time::timeout(Duration::from_millis(500), resp.chunk()).await;
    assert!(silent.is_err(), "the rest of the body arrived");
}

#[tokio::test]
async fn with_processing_time_uploads_answer_at_once_and_free_results_are_refunded() {
    let emu = Emulator::start_with_key(KEY, 10);
    emu.processing_time(Duration::from_millis(300));
    // A BMP is served back as it is (0 %): free once its result is known.
    let flat = encode(
        &image::DynamicImage::ImageRgb8(noisy_rgb(16, 16, 3)),
        image::ImageFormat::Bmp,
    );
    let t0 = Instant::now();
    let reply = upload(
        &emu.url(),
        KEY,
        &[("wait", "0")],
        &[jpeg(320, 240, 7), flat],
    )
    .await;
    assert!(
        t0.elapsed() < Duration::from_millis(300),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(code(&reply[0]), 1);
    assert_eq!(code(&reply[1]), 1);
    let urls: Vec<&str> = reply
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["OriginalURL"].as_str().unwrap())
        .collect();
    let done = poll_json(&emu.url(), KEY, &urls).await;
    assert_eq!(code(&done[0]), 1, "not ready before the processing time");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let done = poll_json(&emu.url(), KEY, &urls).await;
    assert_eq!((code(&done[0]), code(&done[1])), (2, 2), "{done}");
    assert_eq!(num(&done[1]["PercentImprovement"]), 0.0);
    assert_eq!(emu.credits_used(KEY), 1, "the free result was refunded");
}
