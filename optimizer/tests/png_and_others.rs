//! PNG, GIF, WebP, TIFF, BMP and the WebP conversion: lossless modes keep every pixel,
//! lossy PNG reduces colours only when it stays close, and what cannot be done safely is
//! skipped with a reason.

mod common;

use common::*;
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb, Rgba, RgbaImage};
use shortpixel_optimizer::{optimize, Compression, Error, Fit, Options, Resize};

fn opts(compression: Compression) -> Options {
    Options {
        compression,
        ..Options::default()
    }
}

/// A PNG as a quick encoder writes it (fast deflate, no filter search).
fn quick_png(img: &DynamicImage) -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::new();
    img.write_with_encoder(PngEncoder::new_with_quality(
        &mut out,
        CompressionType::Fast,
        FilterType::NoFilter,
    ))
    .unwrap();
    out
}

#[test]
fn lossless_png_is_smaller_and_pixel_identical() {
    for img in [
        DynamicImage::ImageRgb8(photo(200, 150, 1)),
        DynamicImage::ImageRgba8(graphic(200, 150)),
    ] {
        let original = quick_png(&img);
        let out = optimize(&original, &opts(Compression::Lossless)).unwrap();
        assert!(out.main.len() < original.len());
        assert_eq!(decode(&out.main).to_rgba8(), img.to_rgba8());
    }
}

#[test]
fn sixteen_bit_png_keeps_its_sixteen_bits() {
    let img = ImageBuffer::<Rgb<u16>, _>::from_fn(120, 80, |x, y| {
        Rgb([(x * 500) as u16, (y * 700) as u16, ((x + y) * 131) as u16])
    });
    let img = DynamicImage::ImageRgb16(img);
    let original = quick_png(&img);
    for c in [Compression::Lossless, Compression::Lossy] {
        let out = optimize(&original, &opts(c)).unwrap();
        let back = decode(&out.main);
        assert!(
            matches!(back, DynamicImage::ImageRgb16(_)),
            "{c:?}: {:?}",
            back.color()
        );
        assert_eq!(back.to_rgb16(), img.to_rgb16(), "{c:?}");
    }
    let lossy = optimize(&original, &opts(Compression::Lossy)).unwrap();
    assert!(
        lossy.notes.iter().any(|n| n.contains("16-bit")),
        "{:?}",
        lossy.notes
    );
}

#[test]
fn lossy_png_reduces_a_photo_to_a_palette() {
    let img = DynamicImage::ImageRgb8(photo(240, 160, 1));
    let original = quick_png(&img);
    let lossless = optimize(&original, &opts(Compression::Lossless)).unwrap();
    let lossy = optimize(&original, &opts(Compression::Lossy)).unwrap();
    assert!(lossy.notes.is_empty(), "{:?}", lossy.notes);
    assert!(
        lossy.main.len() * 2 < lossless.main.len(),
        "lossy {} vs lossless {}",
        lossy.main.len(),
        lossless.main.len()
    );
    let back = decode(&lossy.main).to_rgba8();
    let p = shortpixel_optimizer::psnr(back.as_raw(), img.to_rgba8().as_raw());
    assert!(p >= 32.0, "{p:.1} dB");
}

#[test]
fn lossy_png_with_few_colours_stays_exact() {
    let img = DynamicImage::ImageRgba8(graphic(240, 160));
    let out = optimize(&quick_png(&img), &opts(Compression::Lossy)).unwrap();
    assert_eq!(decode(&out.main).to_rgba8(), img.to_rgba8());
}

#[test]
fn lossy_png_of_noise_falls_back_to_lossless_and_says_so() {
    let mut n = Noise::new(5);
    let img = DynamicImage::ImageRgb8(ImageBuffer::from_fn(160, 120, |_, _| {
        Rgb([n.next(), n.next(), n.next()])
    }));
    let original = quick_png(&img);
    let out = optimize(&original, &opts(Compression::Glossy)).unwrap();
    assert!(
        out.notes
            .iter()
            .any(|n| n.contains("fell back to lossless")),
        "{:?}",
        out.notes
    );
    assert_eq!(decode(&out.main).to_rgb8(), img.to_rgb8());
}

#[test]
fn huge_png_header_is_refused_before_decoding() {
    let mut png = quick_png(&DynamicImage::ImageRgb8(photo(8, 8, 2)));
    // IHDR width and height at offsets 16 and 20: 60000 x 60000, with a valid CRC.
    png[16..24].copy_from_slice(&[0, 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60]);
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    match optimize(&png, &opts(Compression::Lossless)) {
        Err(Error::Skip(why)) => assert!(why.contains("too big"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn animated_gif_is_skipped_and_a_still_gif_keeps_its_pixels() {
    use image::codecs::gif::GifEncoder;
    let frame = |c: u8| image::Frame::new(RgbaImage::from_pixel(32, 32, Rgba([c, 0, 0, 255])));
    let mut animated = Vec::new();
    GifEncoder::new(&mut animated)
        .encode_frames([frame(10), frame(200)])
        .unwrap();
    match optimize(&animated, &opts(Compression::Lossy)) {
        Err(Error::Skip(why)) => assert!(why.contains("animated GIF"), "{why}"),
        other => panic!("{other:?}"),
    }
    let still = DynamicImage::ImageRgba8(graphic(64, 64));
    let gif = encode(&still, ImageFormat::Gif);
    match optimize(&gif, &opts(Compression::Lossless)) {
        Ok(out) => assert_eq!(decode(&out.main).to_rgba8(), decode(&gif).to_rgba8()),
        Err(Error::Skip(_)) => {}
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn bmp_and_tiff_are_skipped_unless_resized() {
    let img = DynamicImage::ImageRgb8(photo(200, 100, 3));
    let half = Options {
        resize: Some(Resize {
            fit: Fit::Inner,
            width: 100,
            height: 100,
        }),
        ..opts(Compression::Lossy)
    };
    for format in [ImageFormat::Bmp, ImageFormat::Tiff] {
        let original = encode(&img, format);
        match optimize(&original, &opts(Compression::Lossy)) {
            Err(Error::Skip(why)) => assert!(why.contains("kept as they are"), "{why}"),
            other => panic!("{format:?}: {other:?}"),
        }
        let out = optimize(&original, &half).unwrap();
        assert_eq!(out.dims, (100, 50));
        assert_eq!(image::guess_format(&out.main).unwrap(), format);
        assert!(out.main.len() < original.len());
    }
}

#[test]
fn lossless_webp_is_reencoded_without_changing_pixels() {
    let img = DynamicImage::ImageRgba8(graphic(120, 90));
    let original = encode(&img, ImageFormat::WebP); // the image crate's simple lossless encoder
    match optimize(&original, &opts(Compression::Lossless)) {
        Ok(out) => assert_eq!(decode(&out.main).to_rgba8(), img.to_rgba8()),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn png_converts_to_webp_with_the_resized_dimensions() {
    let img = DynamicImage::ImageRgba8(graphic(300, 200));
    let o = Options {
        webp: true,
        avif: true,
        resize: Some(Resize {
            fit: Fit::Outer,
            width: 150,
            height: 150,
        }),
        ..opts(Compression::Lossless)
    };
    let out = optimize(&quick_png(&img), &o).unwrap();
    assert_eq!(out.dims, (225, 150));
    let webp = decode(out.webp.as_deref().unwrap());
    assert_eq!((webp.width(), webp.height()), (225, 150));
    if cfg!(feature = "avif") {
        let avif = out.avif.expect("an AVIF");
        assert_eq!(&avif[4..12], b"ftypavif");
        assert!(avif.len() > 100 && avif.len() < out.main.len() * 4);
    } else {
        assert!(
            out.notes.iter().any(|n| n.contains("AVIF")),
            "{:?}",
            out.notes
        );
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn colours_under_transparent_pixels_do_not_count_against_lossy_png() {
    // Regression: an icon whose fully transparent pixels hold random colours fell back to
    // lossless because those invisible colours counted in the PSNR.
    let mut n = Noise::new(9);
    let img = RgbaImage::from_fn(160, 120, |x, y| {
        if x < 80 {
            Rgba([(x * 3) as u8, (y * 2) as u8, ((x + y) % 256) as u8, 255])
        } else {
            Rgba([n.next(), n.next(), n.next(), 0])
        }
    });
    let out = optimize(
        &quick_png(&DynamicImage::ImageRgba8(img)),
        &opts(Compression::Lossy),
    )
    .unwrap();
    assert!(
        !out.notes.iter().any(|n| n.contains("fell back")),
        "{:?}",
        out.notes
    );
}
