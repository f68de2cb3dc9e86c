//! Generated test images: photo-like (gradients plus noise), flat graphics, and the
//! hand-written JPEG segments (EXIF, ICC) the tests need.
#![allow(dead_code)]

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

/// A small deterministic generator, so images are the same on every run.
pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(
            seed.wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407),
        )
    }
    pub fn next(&mut self) -> u8 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 56) as u8
    }
}

/// Smooth gradients with a little sensor-like noise.
pub fn photo(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut n = Noise::new(seed);
    RgbImage::from_fn(w, h, |x, y| {
        let fx = x as f32 / w as f32;
        let fy = y as f32 / h as f32;
        let wave = ((fx * 9.0).sin() * (fy * 7.0).cos() * 40.0) as i32;
        let mut px = [
            (fx * 200.0) as i32 + wave,
            (fy * 180.0) as i32 + 30,
            ((1.0 - fx) * 150.0 + fy * 60.0) as i32 - wave,
        ];
        for c in &mut px {
            *c += i32::from(n.next() % 13) - 6;
        }
        Rgb(px.map(|c| c.clamp(0, 255) as u8))
    })
}

/// A few flat shapes on a transparent background, like a logo or a chart.
pub fn graphic(w: u32, h: u32) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let (cx, cy) = (x as i32 - w as i32 / 2, y as i32 - h as i32 / 2);
        if cx * cx + cy * cy < (h as i32 / 3).pow(2) {
            Rgba([220, 40, 40, 255])
        } else if (x / 16 + y / 16) % 2 == 0 {
            Rgba([30, 90, 200, 255])
        } else if y > h * 3 / 4 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([250, 250, 250, 255])
        }
    })
}

pub fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A baseline JPEG from the image crate's encoder (no Huffman optimization).
pub fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

/// `segments` inserted right after the start-of-image marker.
pub fn with_segments(jpeg: &[u8], segments: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = jpeg[..2].to_vec();
    for (marker, data) in segments {
        out.extend_from_slice(&[0xFF, *marker]);
        out.extend_from_slice(&(data.len() as u16 + 2).to_be_bytes());
        out.extend_from_slice(data);
    }
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// An APP1 EXIF payload with a camera make ("TestCam") and an orientation.
pub fn exif(orientation: u16) -> Vec<u8> {
    let mut v = b"Exif\0\0MM\0\x2A\0\0\0\x08".to_vec();
    v.extend_from_slice(&2u16.to_be_bytes());
    // Make, ASCII, 8 bytes, stored after the IFD (8 + 2 + 2*12 + 4 = 38).
    v.extend_from_slice(&[0x01, 0x0F, 0, 2, 0, 0, 0, 8, 0, 0, 0, 38]);
    v.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1]);
    v.extend_from_slice(&orientation.to_be_bytes());
    v.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    v.extend_from_slice(b"TestCam\0");
    v
}

/// A stand-in ICC profile (decoders carry it, they do not interpret it).
pub fn icc_profile() -> Vec<u8> {
    let mut p = vec![0u8; 700];
    p[..4].copy_from_slice(&700u32.to_be_bytes());
    p[36..40].copy_from_slice(b"acsp");
    for (i, b) in p.iter_mut().enumerate().skip(128) {
        *b = (i * 7) as u8;
    }
    p
}

/// The APP2 payload carrying `profile` in one chunk.
pub fn icc_segment(profile: &[u8]) -> Vec<u8> {
    let mut v = b"ICC_PROFILE\0\x01\x01".to_vec();
    v.extend_from_slice(profile);
    v
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub fn decode(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("the result decodes")
}

pub fn psnr(a: &DynamicImage, b: &DynamicImage) -> f64 {
    shortpixel_optimizer::psnr(a.to_rgb8().as_raw(), b.to_rgb8().as_raw())
}
