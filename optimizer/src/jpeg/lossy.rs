//! Lossy JPEG at the mode's floor: the lowest mozjpeg quality whose decoded result scores
//! at or above [`crate::floor`]'s target against the pixels it replaces, found with a
//! bounded [`Search`]. Chroma is subsampled 4:2:0 first (smallest); only if no quality
//! reaches the floor that way (fine red or blue detail, as in screenshots saved as JPEG)
//! is full-resolution chroma (4:4:4) tried.

use image::DynamicImage;

use super::encode::{encode, Chroma, Tables};
use super::markers::Segment;
use crate::floor::{Outcome, Probe, Search};
use crate::score::Scorer;
use crate::{probe, Error, Format};

/// The qualities searched. Below 25 mozjpeg's blocks show on any photo; above 95 a
/// re-encode only grows the file.
const QUALITY_MIN: i32 = 25;
const QUALITY_MAX: i32 = 95;

/// The quantization tables searched (see [`Tables`]).
const TABLES: Tables = Tables::KleinSilversteinCarney;

/// Where the search starts, per floor. The bench's 31 photos needed qualities (of these
/// tables) of 29–91 to reach 70 and 57–95 to reach 83; replaying the search on their
/// score curves (every quality from 20 to 95), these starts took the fewest probes.
const START_LOSSY: i32 = 48;
const START_GLOSSY: i32 = 84;

/// SSIMULACRA2 points per quality step near both floors (about 0.4–0.8 on those curves);
/// sizes the steps before a bracket exists.
const SLOPE: f64 = 0.5;

/// Stop when a passing and a failing quality are adjacent.
const RESOLUTION: i32 = 1;

/// Or as soon as a pass scores less than this above the floor (about one quality step):
/// pinning it down would cost a full encode-decode-score for under a per cent. (A whole
/// point saved another 10 % of the probes for 0.3 % more bytes on those curves.)
const CLOSE_ENOUGH: f64 = 0.5;

/// At most this many encodings per chroma layout (three usually suffice).
const MAX_PROBES: usize = 5;

/// A lossy JPEG that meets the floor, or the best attempt when none does.
pub(crate) struct Found {
    pub bytes: Vec<u8>,
    pub quality: i32,
    pub score: f64,
    pub met: bool,
}

/// Searches the qualities for `img` at `target`.
pub(crate) fn at_floor(
    img: &DynamicImage,
    target: f64,
    keep: &[Segment<'_>],
    max_pixels: u64,
) -> Result<Found, Error> {
    let scorer = Scorer::new(img);
    let start = if target > crate::floor::LOSSY_FLOOR {
        START_GLOSSY
    } else {
        START_LOSSY
    };
    let search = Search {
        lo: QUALITY_MIN,
        hi: QUALITY_MAX,
        start,
        slope: SLOPE,
        resolution: RESOLUTION,
        close_enough: CLOSE_ENOUGH,
        max_probes: MAX_PROBES,
    };
    let run = |chroma: Chroma, search: Search| {
        search.run(target, |q| {
            let bytes = encode(img, q as f32, TABLES, chroma, keep)
                .map_err(|e| Error::Bad(format!("cannot encode the JPEG: {e}")))?;
            let decoded = probe::decode(&bytes, Format::Jpeg, max_pixels)?;
            let score = scorer.score(&decoded);
            Ok((bytes, score))
        })
    };
    let missed = match run(Chroma::Half, search)? {
        Outcome::Met(p) => return Ok(found(p, true)),
        Outcome::Missed(m) => m,
    };
    if matches!(img, DynamicImage::ImageLuma8(_)) {
        return Ok(found(missed, false));
    }
    let full = Search {
        start: QUALITY_MAX,
        ..search
    };
    Ok(match run(Chroma::Full, full)? {
        Outcome::Met(p) => found(p, true),
        Outcome::Missed(m) if m.score > missed.score => found(m, false),
        Outcome::Missed(_) => found(missed, false),
    })
}

fn found(p: Probe, met: bool) -> Found {
    Found {
        bytes: p.bytes,
        quality: p.setting,
        score: p.score,
        met,
    }
}
