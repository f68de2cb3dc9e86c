//! JPEG: lossless re-packing never changes a pixel, lossy stays close, EXIF and ICC are
//! handled as configured, CMYK keeps its colours, and bad or huge files are refused
//! cleanly.

mod common;

use common::*;
use image::{DynamicImage, ImageDecoder};
use shortpixel_optimizer::{optimize, Compression, Error, Options};

fn opts(compression: Compression) -> Options {
    Options {
        compression,
        ..Options::default()
    }
}

fn icc_of(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(bytes)).unwrap();
    d.icc_profile().unwrap()
}

#[test]
fn lossless_repack_is_smaller_and_pixel_identical() {
    let original = jpeg(&photo(320, 240, 1), 92);
    let out = optimize(&original, &opts(Compression::Lossless)).unwrap();
    assert!(
        out.main.len() < original.len(),
        "{} >= {}",
        out.main.len(),
        original.len()
    );
    assert_eq!(out.dims, (320, 240));
    assert_eq!(decode(&out.main).to_rgb8(), decode(&original).to_rgb8());
}

#[test]
fn lossy_and_glossy_are_smaller_and_close_to_the_original() {
    let original = jpeg(&photo(320, 240, 2), 95);
    let before = decode(&original);
    let lossy = optimize(&original, &opts(Compression::Lossy)).unwrap();
    let glossy = optimize(&original, &opts(Compression::Glossy)).unwrap();
    let (pl, pg) = (
        psnr(&before, &decode(&lossy.main)),
        psnr(&before, &decode(&glossy.main)),
    );
    assert!(lossy.main.len() < glossy.main.len());
    assert!(glossy.main.len() < original.len());
    assert!(pl > 30.0, "lossy PSNR {pl:.1} dB");
    assert!(
        pg > pl,
        "glossy {pg:.1} dB is not better than lossy {pl:.1} dB"
    );
    // Progressive: mozjpeg writes SOF2.
    assert!(contains(&lossy.main, &[0xFF, 0xC2]));
}

#[test]
fn exif_orientation_is_applied_before_stripping() {
    let original = with_segments(&jpeg(&photo(64, 32, 3), 95), &[(0xE1, exif(6))]);
    let out = optimize(&original, &opts(Compression::Lossy)).unwrap();
    assert_eq!(out.dims, (32, 64), "the photo was not turned upright");
    assert_eq!(decode(&out.main).width(), 32);
    assert!(!contains(&out.main, b"Exif"), "EXIF was kept");
    assert!(!contains(&out.main, b"TestCam"));
}

#[test]
fn keep_exif_keeps_it_and_its_orientation() {
    let original = with_segments(&jpeg(&photo(64, 32, 3), 95), &[(0xE1, exif(6))]);
    let keep = Options {
        keep_exif: true,
        ..opts(Compression::Lossy)
    };
    let out = optimize(&original, &keep).unwrap();
    // Pixels unturned: the kept orientation tag still turns them in a viewer.
    assert_eq!(out.dims, (64, 32));
    assert!(contains(&out.main, b"TestCam"));
    let lossless = Options {
        keep_exif: true,
        ..opts(Compression::Lossless)
    };
    assert!(contains(
        &optimize(&original, &lossless).unwrap().main,
        b"TestCam"
    ));
}

#[test]
fn lossless_without_exif_keeps_only_the_orientation() {
    let original = with_segments(&jpeg(&photo(64, 32, 4), 95), &[(0xE1, exif(6))]);
    let out = optimize(&original, &opts(Compression::Lossless)).unwrap();
    assert!(!contains(&out.main, b"TestCam"), "camera data was kept");
    let mut d = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(&out.main)).unwrap();
    assert_eq!(
        d.orientation().unwrap(),
        image::metadata::Orientation::Rotate90,
        "the photo would turn sideways"
    );
    assert!(
        out.notes.iter().any(|n| n.contains("orientation")),
        "{:?}",
        out.notes
    );
    assert_eq!(decode(&out.main).to_rgb8(), decode(&original).to_rgb8());
}

#[test]
fn icc_profiles_are_kept_in_every_mode() {
    let profile = icc_profile();
    let original = with_segments(
        &jpeg(&photo(96, 64, 5), 95),
        &[(0xE2, icc_segment(&profile))],
    );
    for c in [
        Compression::Lossy,
        Compression::Glossy,
        Compression::Lossless,
    ] {
        let out = optimize(&original, &opts(c)).unwrap();
        assert_eq!(icc_of(&out.main).as_deref(), Some(&profile[..]), "{c:?}");
    }
}

fn cmyk_jpeg(w: u32, h: u32) -> Vec<u8> {
    let rgb = photo(w, h, 6);
    let cmyk: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 20])
        .collect();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_CMYK);
    // Baseline with standard Huffman tables, as most cameras and editors write.
    c.set_fastest_defaults();
    c.set_size(w as usize, h as usize);
    c.set_quality(95.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(&cmyk).unwrap();
    s.finish().unwrap()
}

#[test]
fn cmyk_is_repacked_never_reencoded() {
    let original = cmyk_jpeg(128, 96);
    let out = optimize(&original, &opts(Compression::Lossy)).unwrap();
    assert!(
        out.notes.iter().any(|n| n.contains("CMYK")),
        "{:?}",
        out.notes
    );
    assert!(out.main.len() < original.len());
    assert_eq!(decode(&out.main).to_rgb8(), decode(&original).to_rgb8());
}

#[test]
fn corrupt_data_is_an_error_not_a_crash() {
    let good = jpeg(&photo(128, 96, 7), 90);
    let truncated = &good[..good.len() / 2];
    for c in [Compression::Lossless, Compression::Lossy] {
        assert!(
            matches!(optimize(truncated, &opts(c)), Err(Error::Bad(_))),
            "{c:?}"
        );
    }
    let mut garbage = good.clone();
    let sos = garbage.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
    for b in &mut garbage[sos + 20..sos + 400] {
        *b = 0xFF;
    }
    assert!(matches!(
        optimize(&garbage, &opts(Compression::Lossless)),
        Err(Error::Bad(_))
    ));
    assert!(matches!(
        optimize(b"\xFF\xD8\xFF\xE0\x00", &opts(Compression::Lossy)),
        Err(Error::Bad(_))
    ));
}

#[test]
fn a_huge_header_is_refused_before_decoding() {
    let mut bytes = jpeg(&photo(16, 16, 8), 90);
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    bytes[sof + 5..sof + 9].copy_from_slice(&[0xEA, 0x60, 0xEA, 0x60]); // 60000 x 60000
    let started = std::time::Instant::now();
    match optimize(&bytes, &opts(Compression::Lossy)) {
        Err(Error::Skip(why)) => assert!(why.contains("too big"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed().as_millis() < 500);
}

#[test]
fn grayscale_stays_grayscale_and_resize_uses_the_box() {
    let grey = DynamicImage::ImageLuma8(DynamicImage::ImageRgb8(photo(400, 200, 9)).to_luma8());
    let original = encode(&grey, image::ImageFormat::Jpeg);
    let resize = Options {
        resize: Some(shortpixel_optimizer::Resize {
            fit: shortpixel_optimizer::Fit::Inner,
            width: 100,
            height: 100,
        }),
        webp: true,
        ..opts(Compression::Lossy)
    };
    let out = optimize(&original, &resize).unwrap();
    assert_eq!(out.dims, (100, 50));
    let img = decode(&out.main);
    assert_eq!((img.width(), img.height()), (100, 50));
    assert!(matches!(img, DynamicImage::ImageLuma8(_)));
    let webp = decode(out.webp.as_deref().expect("a WebP"));
    assert_eq!((webp.width(), webp.height()), (100, 50));
}

#[test]
fn an_already_small_jpeg_is_repacked_when_that_beats_reencoding() {
    // A real photo saved small (baseline, standard Huffman tables, quality 40; at 50
    // the glossy search's tables now beat the re-pack): re-encoding it at the glossy
    // floor needs a higher quality and saves little, the re-pack saves more.
    let path = format!("{}/tests/fixtures/chelsea.jpg", env!("CARGO_MANIFEST_DIR"));
    let rgb = decode(&std::fs::read(path).unwrap()).to_rgb8();
    let mut c = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_RGB);
    c.set_fastest_defaults();
    c.set_size(rgb.width() as usize, rgb.height() as usize);
    c.set_quality(40.0);
    let mut s = c.start_compress(Vec::new()).unwrap();
    s.write_scanlines(rgb.as_raw()).unwrap();
    let original = s.finish().unwrap();
    let out = optimize(&original, &opts(Compression::Glossy)).unwrap();
    assert!(
        out.main.len() < original.len(),
        "{} >= {}",
        out.main.len(),
        original.len()
    );
    assert!(
        out.notes.iter().any(|n| n.contains("re-packed")),
        "{:?}",
        out.notes
    );
    assert_eq!(decode(&out.main).to_rgb8(), decode(&original).to_rgb8());
}
