//! Lossy JPEG encoding with mozjpeg: progressive, optimized Huffman tables, scan
//! optimization and trellis quantization (its defaults), at a given quality of a given
//! set of quantization tables. libjpeg errors unwind and are caught here.

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::DynamicImage;
use mozjpeg::{qtable, ColorSpace, Compress, Marker};

use super::markers::Segment;

/// How the colour (chroma) planes are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// 4:2:0, half resolution both ways: the smallest, right for photos.
    Half,
    /// 4:4:4, full resolution: for fine coloured detail 4:2:0 blurs.
    Full,
}

/// The quantization tables a quality scales (mozjpeg ships several).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tables {
    /// mozjpeg's default (N. Robidoux's, as in ImageMagick): what the fixed settings used.
    Robidoux,
    /// Klein, Silverstein and Carney's (1992), for luma and chroma alike: at the same
    /// SSIMULACRA2 floor the smallest of mozjpeg's nine on the bench's photos (at the
    /// lossy floor 5 % below Robidoux's in total over all 31, smaller for 29; picking the
    /// best table per image would save under 1 % more on 17 of them).
    KleinSilversteinCarney,
}

/// Encodes 8-bit grey or RGB pixels (anything else is converted to RGB; alpha is dropped,
/// as JPEG has none). `keep` segments (metadata, ICC chunks) are written as they are.
pub fn encode(
    img: &DynamicImage,
    quality: f32,
    tables: Tables,
    chroma: Chroma,
    keep: &[Segment<'_>],
) -> Result<Vec<u8>, String> {
    let (pixels, space) = match img {
        DynamicImage::ImageLuma8(g) => (g.as_raw().clone(), ColorSpace::JCS_GRAYSCALE),
        other => (other.to_rgb8().into_raw(), ColorSpace::JCS_RGB),
    };
    let (w, h) = (img.width() as usize, img.height() as usize);
    let run = || -> std::io::Result<Vec<u8>> {
        let mut c = Compress::new(space);
        c.set_size(w, h);
        match tables {
            Tables::Robidoux => c.set_quality(quality),
            Tables::KleinSilversteinCarney => {
                // Scaled as libjpeg scales a quality (50 = as listed), clamped to 1–255.
                let table = qtable::KleinSilversteinCarney.scaled(quality, quality);
                c.set_luma_qtable(&table);
                c.set_chroma_qtable(&table);
            }
        }
        if chroma == Chroma::Full && space == ColorSpace::JCS_RGB {
            c.set_chroma_sampling_pixel_sizes((1, 1), (1, 1));
        }
        c.set_progressive_mode();
        c.set_optimize_coding(true);
        c.set_optimize_scans(true);
        let mut started = c.start_compress(Vec::new())?;
        for seg in keep {
            let marker = match seg.marker {
                0xFE => Marker::COM,
                m => Marker::APP(m - 0xE0),
            };
            started.write_marker(marker, seg.data);
        }
        started.write_scanlines(&pixels)?;
        started.finish()
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(format!("mozjpeg: {e}")),
        Err(payload) => Err(payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "mozjpeg failed".into())),
    }
}
