//! Recognising a format from its bytes and reading the dimensions from the header alone,
//! so the pixel limit is enforced before anything is decoded.

use std::io::Cursor;

use crate::Error;

/// The formats the optimizer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
    Tiff,
    Bmp,
}

impl Format {
    /// The format, from the first bytes (16 are enough). The agent recognises files by
    /// this same rule, so what it sends here is never refused as "not an image".
    pub fn sniff(b: &[u8]) -> Option<Format> {
        Some(match b {
            [0xFF, 0xD8, 0xFF, ..] => Format::Jpeg,
            [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Format::Png,
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Format::Gif,
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Format::Webp,
            [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => Format::Tiff,
            // A BMP file header alone is 14 bytes.
            [b'B', b'M', _, _, _, _, _, _, _, _, _, _, _, _, ..] => Format::Bmp,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Jpeg => "JPEG",
            Format::Png => "PNG",
            Format::Gif => "GIF",
            Format::Webp => "WebP",
            Format::Tiff => "TIFF",
            Format::Bmp => "BMP",
        }
    }

    pub(crate) fn image_format(self) -> image::ImageFormat {
        match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Gif => image::ImageFormat::Gif,
            Format::Webp => image::ImageFormat::WebP,
            Format::Tiff => image::ImageFormat::Tiff,
            Format::Bmp => image::ImageFormat::Bmp,
        }
    }
}

/// Width and height from the header only.
pub(crate) fn dimensions(bytes: &[u8], format: Format) -> Result<(u32, u32), Error> {
    if format == Format::Jpeg {
        let info = crate::jpeg::markers::parse(bytes).map_err(Error::Bad)?;
        return Ok((info.width, info.height));
    }
    image::ImageReader::with_format(Cursor::new(bytes), format.image_format())
        .into_dimensions()
        .map_err(|e| Error::Bad(format!("cannot read the {} header: {e}", format.name())))
}

pub(crate) fn check_pixels(w: u32, h: u32, max_pixels: u64) -> Result<(), Error> {
    if w == 0 || h == 0 {
        return Err(Error::Bad(format!("the header says {w}x{h} pixels")));
    }
    if u64::from(w) * u64::from(h) > max_pixels {
        return Err(Error::Skip(format!(
            "too big: {w}x{h} pixels is above the built-in optimizer's limit of {} megapixels",
            max_pixels / 1_000_000
        )));
    }
    Ok(())
}

/// Decodes a whole image, with an allocation limit matching the pixel limit (so a header
/// that lies about its size cannot make the decoder allocate more).
pub(crate) fn decode(
    bytes: &[u8],
    format: Format,
    max_pixels: u64,
) -> Result<image::DynamicImage, Error> {
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format.image_format());
    reader.limits(limits(max_pixels));
    reader
        .decode()
        .map_err(|e| Error::Bad(format!("cannot decode the {}: {e}", format.name())))
}

/// Decoder limits matching the pixel limit.
pub(crate) fn limits(max_pixels: u64) -> image::Limits {
    let mut limits = image::Limits::default();
    // 16-bit RGBA is 8 bytes a pixel; leave room for the decoder's own buffers.
    limits.max_alloc = Some(max_pixels.saturating_mul(8).saturating_add(64 << 20));
    limits
}
