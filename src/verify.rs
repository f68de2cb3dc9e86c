//! G6: a result is used only if it is a whole, decodable image of the expected format and
//! dimensions, and smaller than the original. Anything else is rejected with a reason.

use std::io::Cursor;

use crate::config::{Resize, ResizeMode};
use crate::content::{sniff, Format};

/// Why a result was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not smaller than the original: keep the original and remember it as already optimal.
    #[error("already optimal: the optimized file ({got} bytes) is not smaller than the original ({original} bytes)")]
    NotSmaller { got: u64, original: u64 },
    #[error("download truncated: got {got} of {expected} bytes")]
    Truncated { got: u64, expected: u64 },
    #[error("download has {got} bytes, but the service announced {expected}")]
    WrongLength { got: u64, expected: u64 },
    #[error("result does not decode as {expected}: {why}")]
    Undecodable { expected: &'static str, why: String },
    #[error("result has the wrong size: {got_w}x{got_h}, expected {want_w}x{want_h}")]
    WrongDimensions {
        got_w: u32,
        got_h: u32,
        want_w: u32,
        want_h: u32,
    },
}

impl Rejection {
    /// Worth fetching again (a transfer problem) rather than a verdict on the content.
    pub fn is_transfer_problem(&self) -> bool {
        matches!(
            self,
            Rejection::Truncated { .. }
                | Rejection::WrongLength { .. }
                | Rejection::Undecodable { .. }
        )
    }
}

/// Dimensions of an encoded image, from its header only.
pub fn dimensions(bytes: &[u8], format: Format) -> Option<(u32, u32)> {
    let f = format.image_format()?;
    image::ImageReader::with_format(Cursor::new(bytes), f)
        .into_dimensions()
        .ok()
}

/// The dimensions a resize setting should produce (never enlarging).
pub fn expected_dimensions(orig: (u32, u32), resize: Option<Resize>) -> (u32, u32) {
    let Some(r) = resize else { return orig };
    let (w, h) = (orig.0 as f64, orig.1 as f64);
    let (sx, sy) = (r.width as f64 / w, r.height as f64 / h);
    let scale = match r.mode {
        ResizeMode::Inner => sx.min(sy),
        ResizeMode::Outer => sx.max(sy),
    };
    if scale >= 1.0 {
        return orig;
    }
    (
        ((w * scale).round() as u32).max(1),
        ((h * scale).round() as u32).max(1),
    )
}

/// Checks a result (G6). `expected_len` is the size the service announced, when it did.
pub fn check(
    bytes: &[u8],
    format: Format,
    expected_dims: Option<(u32, u32)>,
    expected_len: Option<u64>,
    original_len: u64,
) -> Result<(), Rejection> {
    let got = bytes.len() as u64;
    if let Some(expected) = expected_len {
        if got < expected {
            return Err(Rejection::Truncated { got, expected });
        }
        if got > expected {
            return Err(Rejection::WrongLength { got, expected });
        }
    }
    check_decodes(bytes, format, expected_dims)?;
    if got >= original_len {
        return Err(Rejection::NotSmaller {
            got,
            original: original_len,
        });
    }
    Ok(())
}

/// The bytes are a complete image of `format` (and of `dims`, when given).
pub fn check_decodes(
    bytes: &[u8],
    format: Format,
    dims: Option<(u32, u32)>,
) -> Result<(), Rejection> {
    let undecodable = |why: String| Rejection::Undecodable {
        expected: format.as_str(),
        why,
    };
    match sniff(bytes) {
        Some(f) if f == format => {}
        Some(f) => return Err(undecodable(format!("it is {}", f.as_str()))),
        None => {
            // Say what it looks like without quoting it: it came from elsewhere (G8).
            let kind = if bytes.first() == Some(&b'{') {
                "a JSON message"
            } else {
                "unknown data"
            };
            return Err(undecodable(format!(
                "it is not an image but {kind} ({} bytes)",
                bytes.len()
            )));
        }
    }
    // Decoders are lenient about missing tails; the end markers are not.
    if !has_end_marker(bytes, format) {
        return Err(undecodable(format!(
            "the {} end marker is missing (truncated)",
            format.as_str().to_uppercase()
        )));
    }
    let Some(f) = format.image_format() else {
        // AVIF: the container signature is all that is checked.
        return Ok(());
    };
    let img =
        image::load_from_memory_with_format(bytes, f).map_err(|e| undecodable(e.to_string()))?;
    if let Some((w, h)) = dims {
        let (gw, gh) = (img.width(), img.height());
        if gw.abs_diff(w) > 1 || gh.abs_diff(h) > 1 {
            return Err(Rejection::WrongDimensions {
                got_w: gw,
                got_h: gh,
                want_w: w,
                want_h: h,
            });
        }
    }
    Ok(())
}

/// JPEG must end with EOI (trailing zero padding aside), PNG with its IEND chunk.
fn has_end_marker(bytes: &[u8], format: Format) -> bool {
    match format {
        Format::Jpeg => trim_trailing_zeros(bytes).ends_with(&[0xFF, 0xD9]),
        Format::Png => bytes
            .windows(8)
            .rev()
            .take(64)
            .any(|w| w == b"IEND\xaeB`\x82"),
        _ => true,
    }
}

fn trim_trailing_zeros(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
    &b[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(w: u32, h: u32, q: u8) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(x * 7) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, q)
            .encode_image(&img)
            .unwrap();
        out
    }

    #[test]
    fn accepts_a_smaller_whole_image() {
        let small = jpeg(64, 48, 50);
        assert_eq!(
            check(
                &small,
                Format::Jpeg,
                Some((64, 48)),
                Some(small.len() as u64),
                1 << 20
            ),
            Ok(())
        );
    }

    #[test]
    fn rejects_truncated_corrupt_bigger_and_wrong_size() {
        let img = jpeg(64, 48, 50);
        let half = &img[..img.len() / 2];
        assert!(matches!(
            check(half, Format::Jpeg, None, Some(img.len() as u64), 1 << 20),
            Err(Rejection::Truncated { .. })
        ));
        assert!(matches!(
            check(half, Format::Jpeg, None, None, 1 << 20),
            Err(Rejection::Undecodable { .. })
        ));
        assert!(matches!(
            check(
                b"{\"Status\":{\"Code\":\"-302\"}}",
                Format::Jpeg,
                None,
                None,
                1 << 20
            ),
            Err(Rejection::Undecodable { .. })
        ));
        assert!(matches!(
            check(&img, Format::Jpeg, None, None, 10),
            Err(Rejection::NotSmaller { .. })
        ));
        assert!(matches!(
            check(&img, Format::Jpeg, Some((32, 24)), None, 1 << 20),
            Err(Rejection::WrongDimensions { .. })
        ));
        assert!(matches!(
            check(&img, Format::Png, None, None, 1 << 20),
            Err(Rejection::Undecodable { .. })
        ));
    }

    #[test]
    fn resize_never_enlarges() {
        let inner = Resize {
            mode: ResizeMode::Inner,
            width: 100,
            height: 100,
        };
        assert_eq!(expected_dimensions((400, 200), Some(inner)), (100, 50));
        assert_eq!(expected_dimensions((50, 20), Some(inner)), (50, 20));
        let outer = Resize {
            mode: ResizeMode::Outer,
            width: 100,
            height: 100,
        };
        assert_eq!(expected_dimensions((400, 200), Some(outer)), (200, 100));
    }
}
