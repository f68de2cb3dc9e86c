//! The extra formats: WebP with libwebp, and AVIF with ravif when built with the `avif`
//! feature. Both get upright, resized pixels and no metadata.
//!
//! A lossy or glossy WebP is held to the same floor as the main result
//! ([`crate::floor`]): the lowest libwebp quality whose decoded pixels score at or above
//! it. When none does (fine coloured detail, which WebP's half-resolution colour cannot
//! keep), the WebP is written losslessly instead and the note says why. Lossless mode
//! writes lossless WebP.

use image::DynamicImage;

use crate::floor::{Outcome, Search};
use crate::score::Scorer;
use crate::{floor, probe, Compression, Error, Format, Optimized, Options};

/// The libwebp quality search, calibrated on the score curves of the bench's 31 photos
/// (every quality from 40 to 100): near the floors a WebP gains only ~0.3 score points a
/// quality step, so a pass close to the floor is where the bytes stop shrinking — the
/// search stops at the first one within [`WEBP_CLOSE_ENOUGH`] points instead of pinning
/// the last few steps (each another encode, decode and score). It starts at 78 for lossy
/// (92 for glossy), the upper middle of the qualities those photos needed, so that the
/// first probe usually passes and the second lands near the floor.
const WEBP_SEARCH: Search = Search {
    lo: 20,
    hi: 100,
    start: 78,
    slope: 0.3,
    resolution: 3,
    close_enough: WEBP_CLOSE_ENOUGH,
    max_probes: 4,
};
const WEBP_START_GLOSSY: i32 = 92;
/// Score points above the floor that end the WebP search (about 3 quality steps).
const WEBP_CLOSE_ENOUGH: f64 = 1.0;
/// The fixed qualities the floors replaced ([`Options::fixed_settings`]).
const WEBP_FIXED: i32 = 75;
const WEBP_FIXED_GLOSSY: i32 = 90;

/// A WebP, or why there is none.
pub(crate) enum Webp {
    Written(Vec<u8>),
    /// No quality meets the floor: the best score and the quality it took.
    Missed {
        score: f64,
        quality: i32,
    },
}

impl Webp {
    /// The note or skip reason for a miss.
    pub(crate) fn missed(score: f64, quality: i32, compression: Compression) -> String {
        format!(
            "no WebP quality meets the {} floor (SSIMULACRA2 {}; best {score:.1} at quality {quality})",
            compression.name(),
            floor::floor(compression).unwrap_or(100.0)
        )
    }
}

/// libwebp cannot encode larger sides.
const WEBP_MAX_SIDE: u32 = 16383;

/// Fills `out.webp` / `out.avif` as `opts` asks.
pub(crate) fn extras(img: &DynamicImage, opts: &Options, out: &mut Optimized) -> Result<(), Error> {
    if opts.webp {
        if img.width() > WEBP_MAX_SIDE || img.height() > WEBP_MAX_SIDE {
            out.notes.push(format!(
                "WebP not written: {}x{} is larger than WebP allows ({WEBP_MAX_SIDE} a side)",
                img.width(),
                img.height()
            ));
        } else {
            match webp(img, opts.compression, opts)? {
                Webp::Written(bytes) => out.webp = Some(bytes),
                Webp::Missed { score, quality } => {
                    // Exact pixels meet any floor: the WebP asked for, never worse.
                    out.notes.push(format!(
                        "WebP written losslessly: {}",
                        Webp::missed(score, quality, opts.compression)
                    ));
                    out.webp = Some(encode_webp(img, None)?);
                }
            }
        }
    }
    #[cfg(feature = "avif")]
    if opts.avif {
        out.avif = Some(avif(img, opts.compression)?);
    }
    Ok(())
}

/// A WebP of `img` in mode `compression`: lossless in lossless mode, otherwise the
/// smallest meeting the floor (or at the fixed quality when `opts` asks for it).
pub(crate) fn webp(
    img: &DynamicImage,
    compression: Compression,
    opts: &Options,
) -> Result<Webp, Error> {
    let Some(target) = floor::floor(compression) else {
        return encode_webp(img, None).map(Webp::Written);
    };
    if opts.fixed_settings {
        let quality = match compression {
            Compression::Glossy => WEBP_FIXED_GLOSSY,
            _ => WEBP_FIXED,
        };
        return encode_webp(img, Some(quality as f32)).map(Webp::Written);
    }
    let scorer = Scorer::new(img);
    let search = Search {
        start: match compression {
            Compression::Glossy => WEBP_START_GLOSSY,
            _ => WEBP_SEARCH.start,
        },
        ..WEBP_SEARCH
    };
    let outcome = search.run(target, |q| {
        let bytes = encode_webp(img, Some(q as f32))?;
        let decoded = probe::decode(&bytes, Format::Webp, opts.max_pixels)?;
        let score = scorer.score(&decoded);
        Ok::<_, Error>((bytes, score))
    })?;
    Ok(match outcome {
        Outcome::Met(p) => Webp::Written(p.bytes),
        Outcome::Missed(m) => Webp::Missed {
            score: m.score,
            quality: m.setting,
        },
    })
}

/// libwebp at `quality`, or lossless for `None`.
fn encode_webp(img: &DynamicImage, quality: Option<f32>) -> Result<Vec<u8>, Error> {
    let (w, h) = (img.width(), img.height());
    let alpha = img.color().has_alpha();
    let raw = if alpha {
        img.to_rgba8().into_raw()
    } else {
        img.to_rgb8().into_raw()
    };
    let encoder = if alpha {
        webp::Encoder::from_rgba(&raw, w, h)
    } else {
        webp::Encoder::from_rgb(&raw, w, h)
    };
    encoder
        .encode_simple(quality.is_none(), quality.unwrap_or(75.0))
        .map(|m| m.to_vec())
        .map_err(|e| Error::Bad(format!("cannot encode the WebP: {e:?}")))
}

#[cfg(feature = "avif")]
fn avif(img: &DynamicImage, compression: Compression) -> Result<Vec<u8>, Error> {
    use rgb::FromSlice;
    let rgba = img.to_rgba8();
    let quality = match compression {
        Compression::Lossy => 60.0,
        Compression::Glossy => 80.0,
        // AVIF here is never mathematically lossless; the highest quality stands in.
        Compression::Lossless => 95.0,
    };
    let encoded = ravif::Encoder::new()
        .with_quality(quality)
        .with_speed(6)
        // One thread: the caller's pool is the bound on parallel work.
        .with_num_threads(Some(1))
        .encode_rgba(ravif::Img::new(
            rgba.as_raw().as_rgba(),
            rgba.width() as usize,
            rgba.height() as usize,
        ))
        .map_err(|e| Error::Bad(format!("cannot encode the AVIF: {e}")))?;
    Ok(encoded.avif_file)
}
