//! What a file holds: its blake3 hash and its image format, detected from the bytes
//! (magic numbers), never from the extension alone.

use std::io::Read;
use std::path::Path;

/// Image formats the agent recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Gif,
    Webp,
    Tiff,
    Bmp,
    Avif,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Gif => "gif",
            Format::Webp => "webp",
            Format::Tiff => "tiff",
            Format::Bmp => "bmp",
            Format::Avif => "avif",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        [
            Format::Jpeg,
            Format::Png,
            Format::Gif,
            Format::Webp,
            Format::Tiff,
            Format::Bmp,
            Format::Avif,
        ]
        .into_iter()
        .find(|f| f.as_str() == s)
    }

    /// The image crate's name for it (AVIF is only checked structurally, not decoded).
    pub fn image_format(self) -> Option<image::ImageFormat> {
        Some(match self {
            Format::Jpeg => image::ImageFormat::Jpeg,
            Format::Png => image::ImageFormat::Png,
            Format::Gif => image::ImageFormat::Gif,
            Format::Webp => image::ImageFormat::WebP,
            Format::Tiff => image::ImageFormat::Tiff,
            Format::Bmp => image::ImageFormat::Bmp,
            Format::Avif => return None,
        })
    }

    /// The MIME type used for uploads.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Gif => "image/gif",
            Format::Webp => "image/webp",
            Format::Tiff => "image/tiff",
            Format::Bmp => "image/bmp",
            Format::Avif => "image/avif",
        }
    }
}

/// Detects the format from the first bytes of a file: the optimizer's rule, plus AVIF
/// (recognised so that it can be skipped with a reason).
pub fn sniff(head: &[u8]) -> Option<Format> {
    use shortpixel_optimizer::Format as Known;
    match Known::sniff(head) {
        Some(Known::Jpeg) => Some(Format::Jpeg),
        Some(Known::Png) => Some(Format::Png),
        Some(Known::Gif) => Some(Format::Gif),
        Some(Known::Webp) => Some(Format::Webp),
        Some(Known::Tiff) => Some(Format::Tiff),
        Some(Known::Bmp) => Some(Format::Bmp),
        None if head.len() >= 12
            && &head[4..8] == b"ftyp"
            && (&head[8..12] == b"avif" || &head[8..12] == b"avis") =>
        {
            Some(Format::Avif)
        }
        None => None,
    }
}

/// Reads the first bytes of a regular file and sniffs its format (see `open`: never
/// through a link, never blocking on a FIFO).
pub fn sniff_file(path: &Path) -> std::io::Result<Option<Format>> {
    let (mut f, _) = crate::open::open_regular(path)?;
    Ok(sniff(&read_head(&mut f)?))
}

fn read_head(f: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(16);
    f.by_ref().take(16).read_to_end(&mut head)?;
    Ok(head)
}

/// The hash and format of a regular file, both read through one descriptor, with the
/// metadata of that descriptor.
pub fn inspect(path: &Path) -> std::io::Result<(String, Option<Format>, std::fs::Metadata)> {
    use std::io::Seek;
    let (mut f, meta) = crate::open::open_regular(path)?;
    let format = sniff(&read_head(&mut f)?);
    f.rewind()?;
    let hash = crate::open::hash_reader(&mut f, meta.len())?;
    Ok((hash, format, meta))
}

/// blake3 of a regular file (never through a link, never blocking on a FIFO).
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    let (mut f, meta) = crate::open::open_regular(path)?;
    crate::open::hash_reader(&mut f, meta.len())
}

pub fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content_not_name() {
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(Format::Png));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(sniff(b"\0\0\0\x1cftypavif"), Some(Format::Avif));
        assert_eq!(sniff(b"hello world, not an image"), None);
        assert_eq!(sniff(b""), None);
    }
}
