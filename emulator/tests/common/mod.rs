//! Helpers shared by the emulator's tests: generated images and thin request wrappers.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, RgbImage};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

/// A noisy gradient: realistic enough that re-encoding at quality 75 clearly saves bytes.
pub fn noisy_rgb(w: u32, h: u32, seed: u32) -> RgbImage {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    RgbImage::from_fn(w, h, |x, y| {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let n = ((state >> 16) % 48) as i32 - 24;
        let c = |v: u32| (v as i32 + n).clamp(0, 255) as u8;
        image::Rgb([c(x * 255 / w), c(y * 255 / h), c((x + y) * 127 / (w + h))])
    })
}

pub fn jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
    DynamicImage::ImageRgb8(noisy_rgb(w, h, seed))
        .write_with_encoder(enc)
        .unwrap();
    out
}

/// A smooth PNG written with the fastest compression, so a best-level re-encode shrinks it.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = Vec::new();
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut out,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::NoFilter,
    );
    DynamicImage::ImageRgb8(img)
        .write_with_encoder(enc)
        .unwrap();
    out
}

pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

pub fn hash(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Multipart upload like the SDK: fields, `file_paths`, then `file1..N`.
pub fn upload_form(key: &str, fields: &[(&str, &str)], files: &[Vec<u8>]) -> Form {
    let mut form = Form::new()
        .text("key", key.to_owned())
        .text("plugin_version", "TST01");
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let paths: serde_json::Map<String, Value> = (1..=files.len())
        .map(|i| (format!("file{i}"), Value::from(format!("id-{i}"))))
        .collect();
    form = form.text("file_paths", Value::Object(paths).to_string());
    for (i, bytes) in files.iter().enumerate() {
        let part = Part::bytes(bytes.clone()).file_name(format!("img{}.jpg", i + 1));
        form = form.part(format!("file{}", i + 1), part);
    }
    form
}

pub async fn upload(base: &str, key: &str, fields: &[(&str, &str)], files: &[Vec<u8>]) -> Value {
    let resp = client()
        .post(format!("{base}/v2/post-reducer.php"))
        .multipart(upload_form(key, fields, files))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/html; charset=UTF-8");
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

/// Poll like the SDK: a JSON body with `file_urls` as an object.
/// The object is written by hand: serde_json's map would sort `url10` before `url2`, while a
/// PHP client sends its keys in insertion order.
pub async fn poll_json(base: &str, key: &str, urls: &[&str]) -> Value {
    let file_urls: Vec<String> = urls
        .iter()
        .enumerate()
        .map(|(i, u)| format!("\"url{}\":{}", i + 1, Value::from(*u)))
        .collect();
    let body = format!(
        r#"{{"key":{},"lossy":1,"wait":0,"file_urls":{{{}}}}}"#,
        Value::from(key),
        file_urls.join(",")
    );
    let resp = client()
        .post(format!("{base}/v2/post-reducer.php"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

pub async fn post_json(url: &str, body: &Value) -> Value {
    let resp = client().post(url).json(body).send().await.unwrap();
    serde_json::from_str(&resp.text().await.unwrap()).unwrap()
}

pub async fn get(url: &str) -> reqwest::Response {
    client().get(url).send().await.unwrap()
}

/// A string-or-number field as a number.
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap(),
        other => other.as_f64().unwrap(),
    }
}

pub fn code(item: &Value) -> i64 {
    num(&item["Status"]["Code"]) as i64
}
