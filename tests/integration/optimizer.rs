//! The built-in optimizer through the real binary: lossless JPEG keeps every pixel, EXIF
//! is stripped with the orientation applied first, WebP extras are written, and what it
//! cannot do safely (huge images, animations, AVIF without the feature) is recorded with
//! a reason instead of failing the run (G6, G7).

use std::path::Path;

use image::{GenericImageView, ImageFormat};
use shortpixel_emulator::Emulator;

use crate::support::*;

fn local_env(emu: &Emulator) -> TestEnv {
    let env = TestEnv::new();
    env.configure(&Config::without_key(emu));
    env
}

/// `jpeg` with an EXIF block (camera make "TestCam" and `orientation`) after SOI.
fn with_exif(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2A\0\0\0\x08".to_vec();
    exif.extend_from_slice(&2u16.to_be_bytes());
    exif.extend_from_slice(&[0x01, 0x0F, 0, 2, 0, 0, 0, 8, 0, 0, 0, 38]);
    exif.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    exif.extend_from_slice(b"TestCam\0");
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&(exif.len() as u16 + 2).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn pixels(path: &Path) -> image::RgbImage {
    image::open(path).expect("decodes").to_rgb8()
}

fn skip_reason(status: &Status, path: &Path) -> Option<String> {
    let want = canonical(path);
    status.0["skipped_files"]
        .as_array()?
        .iter()
        .find(|f| f["path"].as_str() == Some(want.as_str()))
        .and_then(|f| f["reason"].as_str().map(str::to_owned))
}

#[test]
fn lossless_jpeg_keeps_every_pixel_and_drops_the_exif() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = local_env(&emu);
    env.configure(&Config::without_key(&emu).folder_option("compression", r#""lossless""#));
    let photo = env.add_file("photo.jpg", &with_exif(&images::photo_jpeg(240, 180, 1), 1));
    let before = pixels(&photo);
    let original = read(&photo);

    env.run_once().expect_code(0);

    assert_optimized_in_place(&env, &photo, &original);
    assert_eq!(pixels(&photo), before, "lossless mode changed pixels");
    assert!(
        !contains(&read(&photo), b"TestCam"),
        "EXIF kept with keep_exif = false"
    );
}

#[test]
fn lossy_jpeg_turns_a_rotated_photo_upright_before_dropping_the_exif() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = local_env(&emu);
    let photo = env.add_file("photo.jpg", &with_exif(&images::photo_jpeg(160, 80, 2), 6));

    env.run_once().expect_code(0);

    let now = read(&photo);
    assert!(!contains(&now, b"Exif"), "EXIF kept with keep_exif = false");
    let img = image::load_from_memory(&now).unwrap();
    assert_eq!(img.dimensions(), (80, 160), "the photo would show sideways");
}

#[test]
fn keep_exif_keeps_the_camera_data() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = local_env(&emu);
    env.configure(&Config::without_key(&emu).folder_option("keep_exif", "true"));
    let photo = env.add_file("photo.jpg", &with_exif(&images::photo_jpeg(160, 80, 3), 6));

    env.run_once().expect_code(0);

    assert!(contains(&read(&photo), b"TestCam"));
}

#[test]
fn convert_webp_writes_a_decodable_extra_of_the_resized_image() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = local_env(&emu);
    env.configure(
        &Config::without_key(&emu)
            .folder_option("convert", r#"["webp"]"#)
            .folder_option("resize", r#"{ mode = "inner", width = 100, height = 100 }"#),
    );
    let photo = env.add_jpeg("photo.jpg", 200, 150, 4);

    env.run_once().expect_code(0);

    assert_eq!(images::decode(&photo), (ImageFormat::Jpeg, 100, 75));
    let webp = env.photos().join("photo.jpg.webp");
    assert_eq!(images::decode(&webp), (ImageFormat::WebP, 100, 75));
}

#[test]
fn huge_and_animated_images_are_skipped_with_a_reason() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = local_env(&emu);
    let mut gif = Vec::new();
    {
        let frame = |c: u8| {
            image::Frame::new(image::RgbaImage::from_pixel(
                40,
                30,
                image::Rgba([c, 9, 9, 255]),
            ))
        };
        image::codecs::gif::GifEncoder::new(&mut gif)
            .encode_frames([frame(10), frame(200)])
            .unwrap();
    }
    let animated = env.add_file("anim.gif", &gif);
    let huge = env.add_file("huge.png", &huge_png());
    let animated_before = read(&animated);

    env.run_once().expect_code(0);

    let status = env.status();
    assert_eq!(status.total("skipped"), 2, "{status}");
    let why = skip_reason(&status, &animated).unwrap_or_default();
    assert!(why.contains("animated GIF"), "{why:?}\n{status}");
    let why = skip_reason(&status, &huge).unwrap_or_default();
    assert!(why.contains("too big"), "{why:?}\n{status}");
    assert_eq!(read(&animated), animated_before);
}

/// A PNG whose header (with a valid CRC) claims 60000 x 60000 pixels.
fn huge_png() -> Vec<u8> {
    let mut png = images::graphic_png(8, 8, 1);
    png[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
    let mut crc = !0u32;
    for &b in &png[12..29] {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    png[29..33].copy_from_slice(&(!crc).to_be_bytes());
    png
}

#[cfg(not(feature = "avif"))]
#[test]
fn convert_avif_without_the_feature_still_optimizes_and_writes_no_avif() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = local_env(&emu);
    env.configure(&Config::without_key(&emu).folder_option("convert", r#"["avif"]"#));
    let photo = env.add_jpeg("photo.jpg", 160, 120, 5);
    let original = read(&photo);

    let out = env.run_once();

    out.expect_code(0).expect_mentions(&["AVIF not written"]);
    assert_optimized_in_place(&env, &photo, &original);
    assert!(!env.photos().join("photo.jpg.avif").exists());
}

#[cfg(feature = "avif")]
#[test]
fn convert_avif_with_the_feature_writes_an_avif_beside_the_file() {
    let emu = Emulator::start_with_key(KEY, 1000);
    let env = local_env(&emu);
    env.configure(&Config::without_key(&emu).folder_option("convert", r#"["avif"]"#));
    env.add_jpeg("photo.jpg", 160, 120, 6);

    env.run_once().expect_code(0);

    let avif = read(&env.photos().join("photo.jpg.avif"));
    assert_eq!(&avif[4..12], b"ftypavif");
}
