//! How close a lossy result looks to its source: SSIMULACRA2 (the `ssimulacra2` crate,
//! BSD-2-Clause), 100 for identical pixels, about 90 for differences nobody sees at 1:1,
//! 70 for differences only a side-by-side comparison shows, 50 and below for visible damage.
//!
//! What it guarantees:
//! - a transparent image is judged as it is seen: composited over black *and* over white,
//!   and the lower of the two scores counts, so colours hidden under transparency do not
//!   count, and neither side of a soft edge can hide damage;
//! - images smaller than SSIMULACRA2's 8×8 minimum are padded (edge pixels repeated), not
//!   refused;
//! - memory stays bounded: SSIMULACRA2 holds about [`BYTES_PER_SCORED_PIXEL`] per pixel
//!   while it runs, so an image above [`TILE_PIXELS`] is scored tile by tile (each at
//!   most that size, at full resolution) and its score is the *worst* tile's: every part
//!   of the picture must meet a floor, none can hide behind the average;
//! - [`Scorer`] converts the reference once (when it is a single tile) for the repeated
//!   scoring of a quality search.

use image::{DynamicImage, RgbaImage};
use ssimulacra2::{compute_frame_ssimulacra2, LinearRgb};

/// The largest piece scored at once: 512×512 pixels, ~50 MB while it is scored, so that
/// a lossy 9-megapixel photo still fits a 200 MiB budget (its decoded pixels and
/// encoder take ~130 MiB).
pub const TILE_PIXELS: u64 = 1 << 18;

/// Peak bytes per pixel of a scored piece: the `ssimulacra2` crate's linear, XYB and
/// planar copies of both images, five blurred planes and their buffers (~160), plus the
/// reference kept between probes and the decoded candidate.
pub const BYTES_PER_SCORED_PIXEL: u64 = 200;

/// Memory a lossy or glossy search adds to optimizing an image of `pixels` pixels.
pub fn scoring_memory(pixels: u64) -> u64 {
    pixels.min(TILE_PIXELS) * BYTES_PER_SCORED_PIXEL
}

/// The SSIMULACRA2 score of `distorted` against `reference` at full resolution (both must
/// have the same dimensions; otherwise the score is 0).
pub fn score(reference: &DynamicImage, distorted: &DynamicImage) -> f64 {
    Scorer::new(reference).score(distorted)
}

/// A reference image prepared for repeated scoring.
pub struct Scorer {
    reference: RgbaImage,
    /// The backgrounds it is judged on (one when it is opaque).
    backgrounds: &'static [f32],
    /// The pieces scored: (x, y, width, height).
    tiles: Vec<(u32, u32, u32, u32)>,
    /// The linear-light reference per background, when there is a single tile.
    cached: Vec<LinearRgb>,
}

/// The backgrounds a transparent image is judged on (sRGB, 0–1).
const BACKGROUNDS: [f32; 2] = [0.0, 1.0];

impl Scorer {
    /// Prepares `reference`.
    pub fn new(reference: &DynamicImage) -> Scorer {
        let reference = reference.to_rgba8();
        let (w, h) = reference.dimensions();
        let backgrounds: &'static [f32] = if reference.pixels().any(|p| p[3] < 255) {
            &BACKGROUNDS
        } else {
            &BACKGROUNDS[..1]
        };
        let tiles = tiles(w, h);
        let cached = if tiles.len() == 1 {
            backgrounds
                .iter()
                .map(|&bg| linear(&reference, bg))
                .collect()
        } else {
            Vec::new()
        };
        Scorer {
            reference,
            backgrounds,
            tiles,
            cached,
        }
    }

    /// The score of `distorted` (same dimensions as the reference): the lowest over the
    /// backgrounds and tiles; 0 for an image of other dimensions.
    pub fn score(&self, distorted: &DynamicImage) -> f64 {
        if (distorted.width(), distorted.height()) != self.reference.dimensions() {
            return 0.0;
        }
        let distorted = distorted.to_rgba8();
        let mut worst: f64 = 100.0;
        for &(x, y, w, h) in &self.tiles {
            let crop = |img: &RgbaImage| image::imageops::crop_imm(img, x, y, w, h).to_image();
            let (piece, reference) = if self.cached.is_empty() {
                (crop(&distorted), Some(crop(&self.reference)))
            } else {
                (distorted.clone(), None)
            };
            for (i, &bg) in self.backgrounds.iter().enumerate() {
                let reference = match &reference {
                    Some(r) => linear(r, bg),
                    None => self.cached[i].clone(),
                };
                let s = compute_frame_ssimulacra2(reference, linear(&piece, bg)).unwrap_or(0.0);
                worst = worst.min(s);
            }
        }
        worst
    }
}

/// A grid of pieces of at most [`TILE_PIXELS`] each covering a `w`×`h` image.
fn tiles(w: u32, h: u32) -> Vec<(u32, u32, u32, u32)> {
    let mut n = 1u32;
    while u64::from(w.div_ceil(n)) * u64::from(h.div_ceil(n)) > TILE_PIXELS {
        n += 1;
    }
    let (tw, th) = (w.div_ceil(n), h.div_ceil(n));
    let mut out = Vec::new();
    for ty in 0..h.div_ceil(th) {
        for tx in 0..w.div_ceil(tw) {
            let (x, y) = (tx * tw, ty * th);
            out.push((x, y, tw.min(w - x), th.min(h - y)));
        }
    }
    out
}

/// sRGB (0–1) to linear light.
fn to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// `img` composited over a grey level `bg` (in sRGB, as viewers blend), in linear light,
/// padded to at least 8×8.
fn linear(img: &RgbaImage, bg: f32) -> LinearRgb {
    let lut: Vec<f32> = (0..=255u8)
        .map(|c| to_linear(f32::from(c) / 255.0))
        .collect();
    let (w, h) = img.dimensions();
    let (w, h) = (w as usize, h as usize);
    let mut out: Vec<[f32; 3]> = img
        .pixels()
        .map(|px| {
            if px[3] == 255 {
                [0, 1, 2].map(|c| lut[usize::from(px[c])])
            } else {
                let a = f32::from(px[3]) / 255.0;
                [0, 1, 2].map(|c| to_linear(f32::from(px[c]) / 255.0 * a + bg * (1.0 - a)))
            }
        })
        .collect();
    let (pw, ph) = (w.max(8), h.max(8));
    if (pw, ph) != (w, h) {
        out = (0..pw * ph)
            .map(|i| out[(i / pw).min(h - 1) * w + (i % pw).min(w - 1)])
            .collect();
    }
    LinearRgb::new(out, pw, ph).expect("the buffer matches its dimensions")
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn gradient(w: u32, h: u32, alpha: u8) -> DynamicImage {
        DynamicImage::ImageRgba8(RgbaImage::from_fn(w, h, |x, y| {
            Rgba([(x * 7) as u8, (y * 5) as u8, ((x + y) * 3) as u8, alpha])
        }))
    }

    #[test]
    fn identical_images_score_100_and_damage_scores_lower() {
        let a = gradient(64, 48, 255);
        assert!((score(&a, &a) - 100.0).abs() < 1e-6, "{}", score(&a, &a));
        let mut b = a.to_rgba8();
        for p in b.pixels_mut().step_by(3) {
            p[0] = p[0].wrapping_add(40);
        }
        let s = score(&a, &DynamicImage::ImageRgba8(b));
        assert!(s < 90.0, "{s}");
    }

    #[test]
    fn hidden_colours_do_not_count_but_visible_alpha_does() {
        let clear = gradient(32, 32, 0);
        let other = DynamicImage::ImageRgba8(RgbaImage::from_pixel(32, 32, Rgba([9, 200, 9, 0])));
        assert!(score(&clear, &other) > 99.9);
        let half = gradient(32, 32, 128);
        assert!(score(&half, &gradient(32, 32, 60)) < 80.0);
    }

    #[test]
    fn big_images_are_scored_in_tiles_that_cover_them_and_the_worst_counts() {
        for (w, h) in [(1600, 1200), (4000, 3000), (20000, 50), (3, 90000)] {
            let t = tiles(w, h);
            let area: u64 = t
                .iter()
                .map(|&(_, _, tw, th)| u64::from(tw) * u64::from(th))
                .sum();
            assert_eq!(area, u64::from(w) * u64::from(h), "{w}x{h}");
            assert!(t.iter().all(|&(x, y, tw, th)| x + tw <= w && y + th <= h));
            assert!(t
                .iter()
                .all(|&(_, _, tw, th)| u64::from(tw) * u64::from(th) <= TILE_PIXELS));
        }
        assert_eq!(tiles(512, 512).len(), 1);
        // Damage confined to one corner of a tiled image still fails it.
        let a = gradient(1100, 700, 255);
        let mut b = a.to_rgba8();
        for y in 0..300 {
            for x in 0..300 {
                let p = b.get_pixel_mut(x, y);
                p[1] = p[1].wrapping_add(((x * 31 + y * 17) % 90) as u8);
            }
        }
        let s = score(&a, &DynamicImage::ImageRgba8(b));
        assert!(s < 60.0, "{s}");
    }

    #[test]
    fn tiny_images_are_scored_not_refused() {
        let a = gradient(3, 5, 255);
        assert!(score(&a, &a) > 99.9);
        assert!(score(&a, &gradient(3, 5, 100)) < 99.0);
    }
}
