//! Real images for the tests: photo-like JPEGs and flat-area PNG graphics that an optimizer
//! can genuinely shrink, so "smaller and still decodes" is a meaningful assertion.
//!
//! - JPEGs are smooth gradients with a seeded wave and per-pixel noise, saved at quality 95:
//!   a re-encode at quality 75 (the emulator's lossy setting) is several times smaller.
//! - PNGs are gradients with flat rectangles, saved with `CompressionType::Fast` and no
//!   filtering, which is close to raw size: any `Best`/adaptive re-encode shrinks them a lot.
//!
//! Different seeds give different bytes, so each file is its own content for G4's dedupe.

use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, ImageFormat, Rgb, RgbImage};

/// A tiny xorshift generator: deterministic noise without a `rand` dependency.
struct Noise(u64);

impl Noise {
    fn new(seed: u64) -> Noise {
        Noise(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }
}

/// A photo-like JPEG (quality 95) of `w`×`h` pixels.
pub fn photo_jpeg(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut noise = Noise::new(seed);
    let phase = (seed % 97) as f32 / 97.0 * std::f32::consts::TAU;
    let img = RgbImage::from_fn(w, h, |x, y| {
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        let wave = (fx * 7.0 + phase).sin() * (fy * 5.0 + phase).cos() * 40.0;
        let mut grain = || noise.below(17) as f32 - 8.0;
        let r = 60.0 + 150.0 * fx + wave + grain();
        let g = 40.0 + 170.0 * fy - wave * 0.5 + grain();
        let b = 200.0 - 60.0 * (fx + fy) + wave * 0.3 + grain();
        Rgb([channel(r), channel(g), channel(b)])
    });
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 95)
        .write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8)
        .expect("encode test JPEG");
    out
}

/// A graphic-like PNG of `w`×`h` pixels, stored nearly uncompressed.
pub fn graphic_png(w: u32, h: u32, seed: u64) -> Vec<u8> {
    let mut noise = Noise::new(seed);
    let tint = (seed % 200) as u8;
    let mut img = RgbImage::from_fn(w, h, |x, y| {
        Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, tint])
    });
    for _ in 0..6 {
        let (x0, y0) = (noise.below(w), noise.below(h));
        let (rw, rh) = (1 + noise.below(w / 2), 1 + noise.below(h / 2));
        let colour = Rgb([
            noise.below(256) as u8,
            noise.below(256) as u8,
            noise.below(256) as u8,
        ]);
        for y in y0..(y0 + rh).min(h) {
            for x in x0..(x0 + rw).min(w) {
                img.put_pixel(x, y, colour);
            }
        }
    }
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::NoFilter)
        .write_image(img.as_raw(), w, h, ExtendedColorType::Rgb8)
        .expect("encode test PNG");
    out
}

fn channel(v: f32) -> u8 {
    v.clamp(0.0, 255.0) as u8
}

/// Format and dimensions of an image file; panics with the path if it does not decode.
#[track_caller]
pub fn decode(path: &Path) -> (ImageFormat, u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    decode_bytes(&bytes).unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()))
}

/// Format and dimensions of encoded image bytes.
pub fn decode_bytes(bytes: &[u8]) -> Result<(ImageFormat, u32, u32), String> {
    let format = image::guess_format(bytes).map_err(|e| e.to_string())?;
    let img = image::load_from_memory_with_format(bytes, format).map_err(|e| e.to_string())?;
    Ok((format, img.width(), img.height()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixtures are only useful if an optimizer can really shrink them; this guards the
    /// generator itself, so a later tweak cannot silently make every "got smaller" test moot.
    #[test]
    fn support_fixtures_decode_and_are_shrinkable() {
        let jpeg = photo_jpeg(160, 120, 7);
        assert_eq!(decode_bytes(&jpeg), Ok((ImageFormat::Jpeg, 160, 120)));
        let pixels = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        let mut q75 = Vec::new();
        JpegEncoder::new_with_quality(&mut q75, 75)
            .write_image(pixels.as_raw(), 160, 120, ExtendedColorType::Rgb8)
            .unwrap();
        assert!(
            q75.len() * 2 < jpeg.len(),
            "q75 {} vs q95 {}",
            q75.len(),
            jpeg.len()
        );

        let png = graphic_png(160, 120, 7);
        assert_eq!(decode_bytes(&png), Ok((ImageFormat::Png, 160, 120)));
        let pixels = image::load_from_memory(&png).unwrap().to_rgb8();
        let mut best = Vec::new();
        PngEncoder::new_with_quality(&mut best, CompressionType::Best, FilterType::Adaptive)
            .write_image(pixels.as_raw(), 160, 120, ExtendedColorType::Rgb8)
            .unwrap();
        assert!(
            best.len() * 2 < png.len(),
            "best {} vs fast {}",
            best.len(),
            png.len()
        );

        assert_ne!(
            photo_jpeg(64, 64, 1),
            photo_jpeg(64, 64, 2),
            "seeds must differ"
        );
    }
}
