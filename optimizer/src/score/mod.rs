//! How close a lossy result looks to its source: SSIMULACRA2, 100 for identical pixels,
//! about 90 for differences nobody sees at 1:1, 70 for differences only a side-by-side
//! comparison shows, 50 and below for visible damage.
//!
//! What it guarantees:
//! - the score is the whole image's SSIMULACRA2, as the `ssimulacra2` crate computes it
//!   (to within float rounding, see the tests), from a vendored implementation that
//!   streams rows ([`metric`]): memory grows with the image's width, not its area;
//! - a transparent image is judged as it is seen: composited over black *and* over white,
//!   and the lower of the two scores counts, so colours hidden under transparency do not
//!   count, and neither side of a soft edge can hide damage;
//! - images smaller than SSIMULACRA2's 8×8 minimum are padded (edge pixels repeated), not
//!   refused.

mod blur;
mod metric;
mod weights;
mod xyb;

use image::DynamicImage;

/// Memory a lossy or glossy search adds to optimizing a `width`×`height` image: the
/// reference kept for scoring and a decoded candidate (4 bytes a pixel each), and the
/// streaming metric's rows.
pub fn scoring_memory(width: u32, height: u32) -> u64 {
    let pixels = u64::from(width) * u64::from(height);
    pixels * 8 + metric::bytes_per_column() * u64::from(width.max(8))
}

/// The SSIMULACRA2 score of `distorted` against `reference` (both must have the same
/// dimensions; otherwise the score is 0).
pub fn score(reference: &DynamicImage, distorted: &DynamicImage) -> f64 {
    Scorer::new(reference).score(distorted)
}

/// A reference image prepared for repeated scoring.
pub struct Scorer<'a> {
    reference: Pixels<'a>,
    /// The backgrounds it is judged on (one when it is opaque).
    backgrounds: &'static [f32],
}

/// The backgrounds a transparent image is judged on (sRGB, 0–1).
const BACKGROUNDS: [f32; 2] = [0.0, 1.0];

impl<'a> Scorer<'a> {
    /// Prepares `reference`.
    pub fn new(reference: &'a DynamicImage) -> Scorer<'a> {
        let reference = Pixels::of(reference);
        let backgrounds: &'static [f32] = if reference.transparent() {
            &BACKGROUNDS
        } else {
            &BACKGROUNDS[..1]
        };
        Scorer {
            reference,
            backgrounds,
        }
    }

    /// The score of `distorted` (same dimensions as the reference): the lower over the
    /// backgrounds; 0 for an image of other dimensions.
    pub fn score(&self, distorted: &DynamicImage) -> f64 {
        let (w, h) = self.reference.dimensions();
        if (distorted.width(), distorted.height()) != (w, h) {
            return 0.0;
        }
        let distorted = Pixels::of(distorted);
        let lut = Lut::new();
        let (pw, ph) = (w.max(8) as usize, h.max(8) as usize);
        let mut worst: f64 = 100.0;
        for &bg in self.backgrounds {
            let s = metric::ssimulacra2(pw, ph, |y, a, b| {
                let y = (y as u32).min(h - 1);
                self.reference.linear_row(y, bg, &lut, a);
                distorted.linear_row(y, bg, &lut, b);
            });
            worst = worst.min(s);
        }
        worst
    }
}

/// sRGB (0–1) to linear light.
fn to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Linear light of each 8-bit sRGB level.
struct Lut([f32; 256]);

impl Lut {
    fn new() -> Lut {
        Lut(std::array::from_fn(|c| to_linear(c as f32 / 255.0)))
    }
}

/// Pixels read row by row, borrowed when their layout allows.
enum Pixels<'a> {
    Rgb(&'a image::RgbImage),
    Rgba(&'a image::RgbaImage),
    Luma(&'a image::GrayImage),
    Owned(image::RgbaImage),
}

impl<'a> Pixels<'a> {
    fn of(img: &'a DynamicImage) -> Pixels<'a> {
        match img {
            DynamicImage::ImageRgb8(i) => Pixels::Rgb(i),
            DynamicImage::ImageRgba8(i) => Pixels::Rgba(i),
            DynamicImage::ImageLuma8(i) => Pixels::Luma(i),
            other => Pixels::Owned(other.to_rgba8()),
        }
    }

    fn dimensions(&self) -> (u32, u32) {
        match self {
            Pixels::Rgb(i) => i.dimensions(),
            Pixels::Rgba(i) => i.dimensions(),
            Pixels::Luma(i) => i.dimensions(),
            Pixels::Owned(i) => i.dimensions(),
        }
    }

    fn transparent(&self) -> bool {
        match self {
            Pixels::Rgba(i) => i.pixels().any(|p| p[3] < 255),
            Pixels::Owned(i) => i.pixels().any(|p| p[3] < 255),
            Pixels::Rgb(_) | Pixels::Luma(_) => false,
        }
    }

    /// Row `y` composited over the grey level `bg` (as viewers blend, in sRGB), in linear
    /// light, its last pixel repeated to fill `out`.
    fn linear_row(&self, y: u32, bg: f32, lut: &Lut, out: &mut [[f32; 3]]) {
        let w = self.dimensions().0 as usize;
        let rgba = |i: &image::RgbaImage, out: &mut [[f32; 3]]| {
            let row = &i.as_raw()[y as usize * w * 4..][..w * 4];
            for (o, p) in out.iter_mut().zip(row.chunks_exact(4)) {
                *o = if p[3] == 255 {
                    [0, 1, 2].map(|c| lut.0[usize::from(p[c])])
                } else {
                    let a = f32::from(p[3]) / 255.0;
                    [0, 1, 2].map(|c| to_linear(f32::from(p[c]) / 255.0 * a + bg * (1.0 - a)))
                };
            }
        };
        match self {
            Pixels::Rgb(i) => {
                let row = &i.as_raw()[y as usize * w * 3..][..w * 3];
                for (o, p) in out.iter_mut().zip(row.chunks_exact(3)) {
                    *o = [0, 1, 2].map(|c| lut.0[usize::from(p[c])]);
                }
            }
            Pixels::Luma(i) => {
                let row = &i.as_raw()[y as usize * w..][..w];
                for (o, &p) in out.iter_mut().zip(row) {
                    *o = [lut.0[usize::from(p)]; 3];
                }
            }
            Pixels::Rgba(i) => rgba(i, out),
            Pixels::Owned(i) => rgba(i, out),
        }
        let last = out[w - 1];
        for o in &mut out[w..] {
            *o = last;
        }
    }
}

#[cfg(test)]
mod tests;
