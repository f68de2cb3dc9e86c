//! Each injected fault does what it says, is consumed once per request, and is logged.

mod common;

use std::time::{Duration, Instant};

use common::*;
use shortpixel_emulator::{Emulator, Endpoint, Fault};

const KEY: &str = "K";

fn emu() -> Emulator {
    Emulator::start_with_key(KEY, 100)
}

/// Uploads one small JPEG and returns its (single) reply item.
async fn one(emu: &Emulator) -> serde_json::Value {
    upload(&emu.url(), KEY, &[], &[jpeg(160, 120, 1)]).await[0].clone()
}

#[tokio::test]
async fn refuse_is_a_top_level_object_then_service_recovers() {
    let emu = emu();
    emu.inject(
        Endpoint::Upload,
        Fault::Refuse {
            code: -404,
            message: "queue full".into(),
        },
        1,
    );
    let reply = upload(&emu.url(), KEY, &[], &[jpeg(64, 64, 1)]).await;
    assert_eq!(reply["Status"]["Code"], -404);
    assert_eq!(reply["Status"]["Message"], "queue full");
    assert_eq!(code(&one(&emu).await), 2);
    let log = emu.requests();
    assert_eq!(log[0].codes, vec![-404]);
    assert!(matches!(
        log[0].fault,
        Some(Fault::Refuse { code: -404, .. })
    ));
    assert_eq!(log[1].fault, None);
    assert_eq!(emu.uploads(), 2, "refused uploads are still counted");
}

#[tokio::test]
async fn item_error_marks_every_item() {
    let emu = emu();
    let url = one(&emu).await["OriginalURL"].as_str().unwrap().to_owned();
    emu.inject(
        Endpoint::Poll,
        Fault::ItemError {
            code: -106,
            message: "gone".into(),
        },
        1,
    );
    let items = poll_json(&emu.url(), KEY, &[&url, &url]).await;
    assert_eq!(code(&items[0]), -106);
    assert_eq!(code(&items[1]), -106);
    emu.inject(
        Endpoint::Upload,
        Fault::ItemError {
            code: -500,
            message: "m".into(),
        },
        1,
    );
    let items = upload(&emu.url(), KEY, &[], &[jpeg(64, 64, 2)]).await;
    assert_eq!(code(&items[0]), -500);
    assert_eq!(items[0]["Key"], "file1");
    assert_eq!(
        emu.credits_used(KEY),
        1,
        "no credit for an item refused by a fault"
    );
}

#[tokio::test]
async fn http_fault_is_a_bare_status_and_queues_fifo() {
    let emu = emu();
    emu.inject(Endpoint::ApiStatus, Fault::Http(503), 2);
    let url = format!("{}/v2/api-status.php", emu.url());
    for _ in 0..2 {
        let resp = client()
            .post(&url)
            .form(&[("key", KEY)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 503);
        assert!(resp.text().await.unwrap().contains("503"));
    }
    let resp = client()
        .post(&url)
        .form(&[("key", KEY)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let log = emu.requests();
    assert_eq!(
        log.iter().map(|r| r.http_status).collect::<Vec<_>>(),
        vec![503, 503, 200]
    );
    assert!(log[0].codes.is_empty());
}

#[tokio::test]
async fn drop_closes_the_connection_without_a_response() {
    let emu = emu();
    // A pooled client, like the agent's: the dropped connection was already in use.
    let pooled = reqwest::Client::new();
    let send = || {
        pooled
            .post(format!("{}/v2/post-reducer.php", emu.url()))
            .multipart(upload_form(KEY, &[], &[jpeg(64, 64, 3)]))
            .send()
    };
    assert!(send().await.unwrap().status().is_success());
    emu.inject(Endpoint::Upload, Fault::Drop, 1);
    let err = send().await.expect_err("no response expected");
    assert!(err.status().is_none(), "not an HTTP status: {err:?}");
    assert!(
        err.is_request() || err.is_connect() || err.is_body(),
        "{err:?}"
    );
    assert!(
        send().await.unwrap().status().is_success(),
        "the next request is served"
    );
    assert_eq!(emu.requests()[1].http_status, 0);
    assert_eq!(emu.requests()[1].fault, Some(Fault::Drop));
    assert_eq!(emu.uploads(), 3);
}

#[tokio::test]
async fn delay_waits_then_answers_and_in_flight_is_tracked() {
    let emu = emu();
    emu.inject(
        Endpoint::ApiStatus,
        Fault::Delay(Duration::from_millis(400)),
        3,
    );
    let url = format!("{}/v2/api-status.php", emu.url());
    let start = Instant::now();
    let call = || async {
        client()
            .post(&url)
            .form(&[("key", KEY)])
            .send()
            .await
            .unwrap()
            .status()
    };
    let (a, b, c) = tokio::join!(call(), call(), call());
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert!(a.is_success() && b.is_success() && c.is_success());
    assert_eq!(emu.max_in_flight(), 3);
}

#[tokio::test]
async fn truncate_sends_half_with_matching_content_length() {
    let emu = emu();
    let item = one(&emu).await;
    emu.inject(Endpoint::Download, Fault::Truncate, 1);
    let resp = get(item["LossyURL"].as_str().unwrap()).await;
    let len: usize = resp.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), len);
    assert_eq!(len, num(&item["LossySize"]) as usize / 2);
}

#[tokio::test]
async fn corrupt_keeps_length_but_does_not_decode() {
    let emu = emu();
    let item = one(&emu).await;
    emu.inject(Endpoint::Download, Fault::Corrupt, 1);
    let body = get(item["LossyURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len(), num(&item["LossySize"]) as usize);
    assert!(image::load_from_memory(&body).is_err());
}

#[tokio::test]
async fn expired_download_is_a_200_json_body() {
    let emu = emu();
    let item = one(&emu).await;
    emu.inject(Endpoint::Download, Fault::Expired, 1);
    let resp = get(item["LossyURL"].as_str().unwrap()).await;
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/html; charset=UTF-8");
    let v: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    assert_eq!(v["Status"]["Code"], "-302");
    // The next download works again.
    let body = get(item["LossyURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert!(image::load_from_memory(&body).is_ok());
}

#[tokio::test]
async fn bigger_result_is_consistent_and_free() {
    let emu = emu();
    emu.inject(Endpoint::Upload, Fault::Bigger, 1);
    let item = one(&emu).await;
    let (orig, lossy) = (num(&item["OriginalSize"]), num(&item["LossySize"]));
    assert!(lossy > orig);
    assert!(num(&item["PercentImprovement"]) < 0.0);
    let body = get(item["LossyURL"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(body.len() as f64, lossy);
    assert!(image::load_from_memory(&body).is_ok());
    assert_eq!(emu.credits_used(KEY), 0);

    // On a poll, the job's result grows from then on.
    let item = one(&emu).await;
    emu.inject(Endpoint::Poll, Fault::Bigger, 1);
    let polled = poll_json(&emu.url(), KEY, &[item["OriginalURL"].as_str().unwrap()]).await;
    assert!(num(&polled[0]["LossySize"]) > num(&polled[0]["OriginalSize"]));
}

#[tokio::test]
async fn missing_sizes_is_code_2_without_sizes_and_does_not_finish() {
    let emu = emu();
    emu.pending_polls(1);
    emu.inject(Endpoint::Upload, Fault::MissingSizes, 1);
    let item = upload(
        &emu.url(),
        KEY,
        &[("convertto", "+webp")],
        &[jpeg(64, 64, 4)],
    )
    .await[0]
        .clone();
    assert_eq!(item["Status"]["Code"], "2");
    assert!(item["LossyURL"].is_string());
    assert_eq!(item["LossySize"], "0");
    assert!(item.get("WebPLossySize").is_none());
    let url = item["OriginalURL"].as_str().unwrap().to_owned();
    emu.inject(Endpoint::Poll, Fault::MissingSizes, 1);
    assert_eq!(
        poll_json(&emu.url(), KEY, &[&url]).await[0]["LossySize"],
        "0"
    );
    let done = poll_json(&emu.url(), KEY, &[&url]).await;
    assert_eq!(code(&done[0]), 2);
    assert!(num(&done[0]["LossySize"]) > 0.0);
    assert!(num(&done[0]["WebPLossySize"]) > 0.0);
}

#[tokio::test]
async fn job_gone_answers_minus_102_and_forgets_the_job() {
    let emu = emu();
    let url = one(&emu).await["OriginalURL"].as_str().unwrap().to_owned();
    emu.inject(Endpoint::Poll, Fault::JobGone, 1);
    assert_eq!(code(&poll_json(&emu.url(), KEY, &[&url]).await[0]), -102);
    assert_eq!(code(&poll_json(&emu.url(), KEY, &[&url]).await[0]), -102);
    assert_eq!(emu.polls(), 2);
}
