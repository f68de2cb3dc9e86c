//! The built-in optimizer: works offline with no account. It re-encodes JPEG (lossy ≈ q78,
//! glossy ≈ q90) and recompresses PNG losslessly, applies `resize` with Lanczos3, keeps ICC
//! profiles, and keeps or strips EXIF as configured (applying the EXIF orientation to the
//! pixels before stripping it, so photos do not turn sideways). Formats it cannot improve
//! safely are skipped with the reason. Runs on blocking threads, never on the async reactor.
//!
//! Every result still goes through the same G6 check as ShortPixel's.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageReader};

use crate::config::{Compression, Convert, FolderSettings, ResizeMode};
use crate::content::Format;

/// Images above this many pixels are refused rather than risking gigabytes of memory.
pub const MAX_PIXELS: u64 = 100_000_000;

pub struct Produced {
    pub main: Vec<u8>,
    /// The dimensions encoded (after orientation and resize), for verification.
    pub dims: (u32, u32),
    pub extras: Vec<(Convert, Vec<u8>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Nothing to do for this file with this optimizer (recorded as skipped).
    #[error("{0}")]
    Skip(String),
    /// The file is not a usable image (recorded as failed).
    #[error("{0}")]
    Bad(String),
}

pub fn optimize(bytes: &[u8], format: Format, s: &FolderSettings) -> Result<Produced, LocalError> {
    match format {
        Format::Jpeg | Format::Png => {}
        Format::Gif | Format::Webp | Format::Tiff | Format::Bmp | Format::Avif => {
            return Err(LocalError::Skip(format!(
                "the built-in optimizer does not optimize {} files",
                format.as_str().to_uppercase()
            )))
        }
    }
    if format == Format::Jpeg && s.compression == Compression::Lossless && s.resize.is_none() {
        return Err(LocalError::Skip(
            "lossless JPEG re-packing is not available in the built-in optimizer; use lossy or glossy".into(),
        ));
    }
    let bad = |e: image::ImageError| LocalError::Bad(format!("cannot decode the image: {e}"));
    let f = format
        .image_format()
        .expect("jpeg and png have image formats");
    let reader = ImageReader::with_format(Cursor::new(bytes), f);
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(LocalError::Skip(format!(
            "too big: {w}x{h} pixels is above the built-in optimizer's limit of {} megapixels",
            MAX_PIXELS / 1_000_000
        )));
    }
    let icc = decoder.icc_profile().ok().flatten();
    let exif = decoder.exif_metadata().ok().flatten();
    let orientation = decoder.orientation().ok();
    let mut img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    let keep_exif = s.keep_exif && exif.is_some();
    if !keep_exif {
        if let Some(o) = orientation {
            img.apply_orientation(o);
        }
    }
    if let Some(r) = s.resize {
        let (tw, th) = crate::verify::expected_dimensions((img.width(), img.height()), Some(r));
        if (tw, th) != (img.width(), img.height()) {
            img = match r.mode {
                ResizeMode::Inner | ResizeMode::Outer => {
                    img.resize_exact(tw, th, image::imageops::FilterType::Lanczos3)
                }
            };
        }
    }
    let meta = Meta {
        icc,
        exif: if keep_exif { exif } else { None },
    };
    let main = match format {
        Format::Jpeg => encode_jpeg(&img, quality(s.compression), &meta)?,
        _ => encode_png(&img, &meta)?,
    };
    let mut extras = Vec::new();
    for c in &s.convert {
        if *c == Convert::Webp {
            extras.push((Convert::Webp, encode_webp(&img)?));
        }
    }
    Ok(Produced {
        main,
        dims: (img.width(), img.height()),
        extras,
    })
}

struct Meta {
    icc: Option<Vec<u8>>,
    exif: Option<Vec<u8>>,
}

fn quality(c: Compression) -> u8 {
    match c {
        Compression::Lossy => 78,
        Compression::Glossy | Compression::Lossless => 90,
    }
}

fn encode_err(e: image::ImageError) -> LocalError {
    LocalError::Bad(format!("cannot encode the result: {e}"))
}

fn encode_jpeg(img: &DynamicImage, q: u8, meta: &Meta) -> Result<Vec<u8>, LocalError> {
    let mut out = Vec::new();
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q);
    if let Some(icc) = &meta.icc {
        let _ = enc.set_icc_profile(icc.clone());
    }
    if let Some(exif) = &meta.exif {
        let _ = enc.set_exif_metadata(exif.clone());
    }
    // JPEG has no alpha and at most 8 bits: flatten what does not fit.
    let rgb = match img {
        DynamicImage::ImageLuma8(_) => img.clone(),
        _ => DynamicImage::ImageRgb8(img.to_rgb8()),
    };
    enc.write_image(
        rgb.as_bytes(),
        rgb.width(),
        rgb.height(),
        rgb.color().into(),
    )
    .map_err(encode_err)?;
    Ok(out)
}

fn encode_png(img: &DynamicImage, meta: &Meta) -> Result<Vec<u8>, LocalError> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let mut out = Vec::new();
    let mut enc =
        PngEncoder::new_with_quality(&mut out, CompressionType::Best, FilterType::Adaptive);
    if let Some(icc) = &meta.icc {
        let _ = enc.set_icc_profile(icc.clone());
    }
    if let Some(exif) = &meta.exif {
        let _ = enc.set_exif_metadata(exif.clone());
    }
    enc.write_image(
        img.as_bytes(),
        img.width(),
        img.height(),
        img.color().into(),
    )
    .map_err(encode_err)?;
    Ok(out)
}

fn encode_webp(img: &DynamicImage) -> Result<Vec<u8>, LocalError> {
    let mut out = Vec::new();
    let rgba = DynamicImage::ImageRgba8(img.to_rgba8());
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .write_image(
            rgba.as_bytes(),
            rgba.width(),
            rgba.height(),
            rgba.color().into(),
        )
        .map_err(encode_err)?;
    Ok(out)
}
