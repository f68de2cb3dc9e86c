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
//! - [`Scorer`] converts the reference once and can score on a copy shrunk by an integer
//!   factor (box filter in linear light), which is what makes a per-image quality search
//!   affordable; [`score`] always scores at full resolution.

use image::{DynamicImage, RgbaImage};
use ssimulacra2::{compute_frame_ssimulacra2, LinearRgb};

/// The SSIMULACRA2 score of `distorted` against `reference` at full resolution (both must
/// have the same dimensions; otherwise the score is 0).
pub fn score(reference: &DynamicImage, distorted: &DynamicImage) -> f64 {
    Scorer::new(reference, 1).score(distorted)
}

/// A reference image prepared for repeated scoring.
pub struct Scorer {
    /// One linear-light copy per background (one when the reference is opaque).
    references: Vec<LinearRgb>,
    /// Shrink factor applied to both images before scoring.
    factor: u32,
    /// Tiles sampled from both images before scoring: (cells a side, tile side in cells).
    mosaic: Option<(u32, f32)>,
    dims: (u32, u32),
}

/// The backgrounds a transparent image is judged on (sRGB, 0–1).
const BACKGROUNDS: [f32; 2] = [0.0, 1.0];

impl Scorer {
    /// Prepares `reference`, scored `factor` times smaller (1 = full resolution; reduced
    /// when the shrunk copy would be under 8 pixels a side).
    pub fn new(reference: &DynamicImage, factor: u32) -> Scorer {
        Scorer::with_mosaic(reference, factor, None)
    }

    pub fn with_mosaic(
        reference: &DynamicImage,
        factor: u32,
        mosaic: Option<(u32, f32)>,
    ) -> Scorer {
        let dims = (reference.width(), reference.height());
        let rgba = match mosaic {
            Some(m) => tiles(&reference.to_rgba8(), m),
            None => reference.to_rgba8(),
        };
        let (w, h) = rgba.dimensions();
        let mut factor = factor.max(1);
        while factor > 1 && (w / factor < 8 || h / factor < 8) {
            factor -= 1;
        }
        let backgrounds: &[f32] = if rgba.pixels().any(|p| p[3] < 255) {
            &BACKGROUNDS
        } else {
            &BACKGROUNDS[..1]
        };
        let references = backgrounds
            .iter()
            .map(|&bg| linear(&rgba, bg, factor))
            .collect();
        Scorer {
            references,
            factor,
            mosaic,
            dims,
        }
    }

    /// The score of `distorted` (same dimensions as the reference), the lowest over the
    /// backgrounds; 0 for an image of other dimensions.
    pub fn score(&self, distorted: &DynamicImage) -> f64 {
        if (distorted.width(), distorted.height()) != self.dims {
            return 0.0;
        }
        let rgba = match self.mosaic {
            Some(m) => tiles(&distorted.to_rgba8(), m),
            None => distorted.to_rgba8(),
        };
        let backgrounds: &[f32] = &BACKGROUNDS[..self.references.len()];
        backgrounds
            .iter()
            .zip(&self.references)
            .map(|(&bg, reference)| {
                let candidate = linear(&rgba, bg, self.factor);
                compute_frame_ssimulacra2(reference.clone(), candidate).unwrap_or(0.0)
            })
            .fold(100.0, f64::min)
    }
}

fn tiles(img: &RgbaImage, (n, k): (u32, f32)) -> RgbaImage {
    let (w, h) = img.dimensions();
    let (cw, ch) = (w / n, h / n);
    let (tw, th) = (
        ((cw as f32 * k) as u32).max(1),
        ((ch as f32 * k) as u32).max(1),
    );
    RgbaImage::from_fn(tw * n, th * n, |x, y| {
        let (cx, cy) = (x / tw, y / th);
        let ox = cx * cw + (cw - tw) / 2 + x % tw;
        let oy = cy * ch + (ch - th) / 2 + y % th;
        *img.get_pixel(ox, oy)
    })
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
/// shrunk `factor` times with a box filter and padded to at least 8×8.
fn linear(img: &RgbaImage, bg: f32, factor: u32) -> LinearRgb {
    let lut: Vec<f32> = (0..=255u8)
        .map(|c| to_linear(f32::from(c) / 255.0))
        .collect();
    let (w, h) = img.dimensions();
    let (w, h) = (w as usize, h as usize);
    let f = factor as usize;
    let (sw, sh) = (w / f, h / f);
    let mut out = vec![[0.0f32; 3]; sw * sh];
    let raw = img.as_raw();
    let norm = 1.0 / (f * f) as f32;
    for y in 0..sh * f {
        let row = &raw[y * w * 4..(y + 1) * w * 4];
        let dst = &mut out[(y / f) * sw..(y / f + 1) * sw];
        for (x, px) in row.chunks_exact(4).take(sw * f).enumerate() {
            let o = &mut dst[x / f];
            if px[3] == 255 {
                for c in 0..3 {
                    o[c] += lut[usize::from(px[c])] * norm;
                }
            } else {
                let a = f32::from(px[3]) / 255.0;
                for c in 0..3 {
                    let s = f32::from(px[c]) / 255.0 * a + bg * (1.0 - a);
                    o[c] += to_linear(s) * norm;
                }
            }
        }
    }
    let (pw, ph) = (sw.max(8), sh.max(8));
    if (pw, ph) != (sw, sh) {
        out = (0..pw * ph)
            .map(|i| out[(i / pw).min(sh - 1) * sw + (i % pw).min(sw - 1)])
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
    fn tiny_images_are_scored_not_refused() {
        let a = gradient(3, 5, 255);
        assert!(score(&a, &a) > 99.9);
        assert!(score(&a, &gradient(3, 5, 100)) < 99.0);
    }
}
