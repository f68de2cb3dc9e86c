//! Real (if modest) image optimisation with the `image` crate, so that the agent under test
//! downloads bytes that decode, have the advertised length and are usually smaller.
//!
//! - JPEG: lossy re-encodes at quality 75, glossy at 90. Lossless returns the original bytes
//!   (the `image` crate cannot re-pack a JPEG without decoding it), or a quality-95 re-encode
//!   when a resize was asked for.
//! - PNG: re-encoded with the best zlib level and adaptive filtering, whatever the mode
//!   (pixels are kept exactly).
//! - WebP/BMP/TIFF: re-encoded in the same format; GIF is kept as is unless resized (the
//!   crate would flatten an animation to one frame).
//! - A result that is not smaller than the original is replaced by the original bytes, with
//!   `PercentImprovement` "0" — the real service never hands back a larger file by itself
//!   (`Fault::Bigger` exists to test that case).
//! - `+webp` is lossless WebP (the only WebP the crate can write); both WebP variants share it.
//! - `+avif` is **structural only**: the crate here cannot encode AVIF, so the variant is a
//!   minimal ISO-BMFF file — an `ftyp` box with major brand `avif`, then an `mdat` box with
//!   filler. It sniffs as AVIF but does not decode.
//! - EXIF is never kept: re-encoding drops it. CMYK JPEGs decode to RGB anyway.

use std::io::Cursor;

use axum::body::Bytes;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::codecs::webp::WebPEncoder;
use image::{ColorType, DynamicImage, ImageFormat};

/// The options of a reducer call that matter for the bytes produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ShrinkOptions {
    /// 1 lossy, 2 glossy, 0 lossless.
    pub lossy: u8,
    /// 0 none, 1 outer (cover the box), 3 inner (fit in the box).
    pub resize: u8,
    pub width: u32,
    pub height: u32,
    pub webp: bool,
    pub avif: bool,
}

/// The downloadable results of one job.
#[derive(Debug, Clone)]
pub(crate) struct Shrunk {
    /// Served as `lossy`: the requested lossy/glossy result (the lossless one in mode 0).
    pub lossy: Bytes,
    pub lossless: Bytes,
    /// Shared by `webp-lossy` and `webp-lossless`, when `+webp` was asked for.
    pub webp: Option<Bytes>,
    /// Shared by `avif-lossy` and `avif-lossless`, when `+avif` was asked for.
    pub avif: Option<Bytes>,
}

impl Shrunk {
    /// The bytes behind a `/dl/{job}/{variant}` name.
    pub fn variant(&self, name: &str) -> Option<Bytes> {
        match name {
            "lossy" => Some(self.lossy.clone()),
            "lossless" => Some(self.lossless.clone()),
            "webp-lossy" | "webp-lossless" => self.webp.clone(),
            "avif-lossy" | "avif-lossless" => self.avif.clone(),
            _ => None,
        }
    }

    /// The variant `PercentImprovement` (and the credit) is about.
    pub fn primary(&self, lossy_mode: u8) -> &Bytes {
        if lossy_mode == 0 {
            &self.lossless
        } else {
            &self.lossy
        }
    }

    /// `Fault::Bigger`: the main results become the original plus trailing zeros. Decoders
    /// ignore data after the end marker, so the file still opens; only its size is wrong.
    pub fn make_bigger(&mut self, original: &[u8]) {
        let mut padded = original.to_vec();
        padded.resize(original.len() + (original.len() / 4).max(1024), 0);
        let padded = Bytes::from(padded);
        self.lossy = padded.clone();
        self.lossless = padded;
    }
}

/// `PercentImprovement` as the service writes it: "0" when nothing changed, otherwise two
/// decimals (negative when the result grew).
pub(crate) fn percent(original: usize, result: usize) -> String {
    if original == 0 || original == result {
        return "0".to_owned();
    }
    format!("{:.2}", (1.0 - result as f64 / original as f64) * 100.0)
}

/// Optimises one uploaded file; `None` when it is not an image the crate can decode (the
/// caller answers -202 then).
pub(crate) fn shrink(original: &Bytes, opts: &ShrinkOptions) -> Option<Shrunk> {
    let format = image::guess_format(original).ok()?;
    let img = image::load_from_memory_with_format(original, format).ok()?;
    let resized = resize(&img, opts);
    let work = resized.as_ref().unwrap_or(&img);

    let (lossy, lossless) = match format {
        ImageFormat::Jpeg => {
            let lossless = match &resized {
                Some(r) => not_larger(original, encode_jpeg(r, 95)),
                None => original.clone(),
            };
            let lossy = match opts.lossy {
                1 => not_larger(original, encode_jpeg(work, 75)),
                2 => not_larger(original, encode_jpeg(work, 90)),
                _ => lossless.clone(),
            };
            (lossy, lossless)
        }
        ImageFormat::Png => {
            let b = not_larger(original, encode_png(work));
            (b.clone(), b)
        }
        ImageFormat::Gif if resized.is_none() => (original.clone(), original.clone()),
        other => {
            let b = not_larger(original, encode_as(work, other));
            (b.clone(), b)
        }
    };
    let webp = if opts.webp {
        encode_webp(work).map(Bytes::from)
    } else {
        None
    };
    let avif = opts.avif.then(|| Bytes::from(structural_avif(&lossy)));
    Some(Shrunk {
        lossy,
        lossless,
        webp,
        avif,
    })
}

/// The resized image, or `None` when no resize applies (never enlarges).
fn resize(img: &DynamicImage, opts: &ShrinkOptions) -> Option<DynamicImage> {
    if !matches!(opts.resize, 1 | 3) {
        return None;
    }
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let sx = (opts.width > 0).then(|| f64::from(opts.width) / w);
    let sy = (opts.height > 0).then(|| f64::from(opts.height) / h);
    let scale = match (sx, sy) {
        (Some(x), Some(y)) if opts.resize == 1 => x.max(y),
        (Some(x), Some(y)) => x.min(y),
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return None,
    };
    if scale >= 1.0 {
        return None;
    }
    let nw = ((w * scale).round() as u32).max(1);
    let nh = ((h * scale).round() as u32).max(1);
    Some(img.resize_exact(nw, nh, image::imageops::FilterType::Lanczos3))
}

fn not_larger(original: &Bytes, candidate: Option<Vec<u8>>) -> Bytes {
    match candidate {
        Some(c) if c.len() < original.len() => Bytes::from(c),
        _ => original.clone(),
    }
}

fn encode_jpeg(img: &DynamicImage, quality: u8) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let enc = JpegEncoder::new_with_quality(&mut out, quality);
    // The JPEG encoder takes no alpha and no 16-bit samples.
    let ok = match img.color() {
        ColorType::L8 | ColorType::Rgb8 => img.write_with_encoder(enc),
        _ => DynamicImage::ImageRgb8(img.to_rgb8()).write_with_encoder(enc),
    };
    ok.ok().map(|()| out)
}

fn encode_png(img: &DynamicImage) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let enc = PngEncoder::new_with_quality(&mut out, CompressionType::Best, FilterType::Adaptive);
    img.write_with_encoder(enc).ok().map(|()| out)
}

fn encode_as(img: &DynamicImage, format: ImageFormat) -> Option<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)
        .ok()
        .map(|()| out.into_inner())
}

fn encode_webp(img: &DynamicImage) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let enc = WebPEncoder::new_lossless(&mut out);
    // The WebP encoder takes 8-bit RGB(A) only.
    let img = if img.color().has_alpha() {
        DynamicImage::ImageRgba8(img.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
    };
    img.write_with_encoder(enc).ok().map(|()| out)
}

/// A minimal ISO-BMFF file that sniffs as AVIF: `ftyp` (major brand `avif`, compatible
/// `avif`, `mif1`, `miaf`) then an `mdat` box. The payload is half of the lossy result so
/// sizes look plausible (AVIF usually beats JPEG); it is not a decodable image.
fn structural_avif(lossy: &[u8]) -> Vec<u8> {
    let payload = &lossy[..lossy.len() / 2];
    let mut out = Vec::with_capacity(36 + payload.len());
    out.extend_from_slice(&28u32.to_be_bytes());
    out.extend_from_slice(b"ftypavif");
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(b"avifmif1miaf");
    out.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(payload);
    out
}
