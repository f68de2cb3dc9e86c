//! Colour reduction for lossy PNG with exoquant (MIT; not libimagequant, which is GPL):
//! palettes of 16 to 256 colours from the image's histogram (split by variance, refined
//! by k-means), remapped with or without Floyd–Steinberg dithering. The caller picks the
//! smallest variant whose score meets the floor ([`crate::png`]).
//!
//! Alpha-aware: exoquant's own colour space weighs colour by opacity but lets soft edges
//! drift (white anti-aliased text over transparency came out grey over white: scores of
//! 50–65 at 256 colours where pngquant reached 89). So the palette is refined again, and
//! undithered pixels are mapped, by the error a viewer sees: the colour difference
//! composited over black *plus* over white, in premultiplied sRGB ([`Premul`]).

use exoquant::optimizer::{KMeans, Optimizer};
use exoquant::{ditherer, Color, Histogram, Remapper, SimpleColorSpace};
use image::{DynamicImage, RgbaImage};

/// Above this many pixels the palette is built from a regular sample (the remap still
/// covers every pixel): a histogram of every pixel of a big photo costs seconds and gives
/// the same palette.
const SAMPLE_PIXELS: usize = 250_000;

/// exoquant's k-means passes over the histogram per palette (as before the floor).
const KMEANS_ITERATIONS: usize = 4;

/// Passes of the composite-error k-means over the histogram's distinct colours: enough
/// for the bench's soft-alpha graphics (a boot-screen logo and swirl, two Oxygen icons)
/// to reach the floor, which none did without it.
const REFINE_ITERATIONS: usize = 6;

/// The variants tried, from smallest file to largest (as measured on the benchmark's
/// graphics: an undithered palette compresses far better than a dithered one, which
/// only pays off for smooth gradients that even 256 flat colours band).
pub const VARIANTS: [(usize, bool); 7] = [
    (16, false),
    (32, false),
    (64, false),
    (128, false),
    (256, false),
    (128, true),
    (256, true),
];

/// A palette image.
pub struct Quantized {
    pub palette: Vec<[u8; 4]>,
    pub indices: Vec<u8>,
}

impl Quantized {
    /// The pixels it shows.
    pub fn image(&self, width: u32, height: u32) -> DynamicImage {
        let mut img = RgbaImage::new(width, height);
        for (px, &i) in img.pixels_mut().zip(&self.indices) {
            px.0 = self.palette[usize::from(i)];
        }
        DynamicImage::ImageRgba8(img)
    }
}

/// An image prepared for reduction to any of [`VARIANTS`].
pub struct Reducer {
    pixels: Vec<Color>,
    histogram: Histogram,
    /// The sample's distinct colours and how often each occurs.
    counts: Vec<([u8; 4], u32)>,
    width: usize,
}

impl Reducer {
    /// `None` when the image already has at most 256 colours (oxipng's lossless palette
    /// reduction then does better, exactly).
    pub fn new(img: &RgbaImage) -> Option<Reducer> {
        let mut seen = std::collections::HashSet::new();
        for p in img.pixels() {
            seen.insert(p.0);
            if seen.len() > 256 {
                break;
            }
        }
        if seen.len() <= 256 {
            return None;
        }
        let pixels: Vec<Color> = img
            .pixels()
            .map(|p| Color::new(p[0], p[1], p[2], p[3]))
            .collect();
        let step = pixels.len().div_ceil(SAMPLE_PIXELS).max(1);
        let histogram = pixels.iter().step_by(step).copied().collect();
        let mut counts = std::collections::HashMap::new();
        for c in pixels.iter().step_by(step) {
            *counts.entry([c.r, c.g, c.b, c.a]).or_insert(0u32) += 1;
        }
        Some(Reducer {
            pixels,
            histogram,
            counts: counts.into_iter().collect(),
            width: img.width() as usize,
        })
    }

    /// The image reduced to `colours`, dithered or not.
    pub fn reduce(&self, colours: usize, dither: bool) -> Quantized {
        let space = SimpleColorSpace::default();
        let palette = exoquant::generate_palette(&self.histogram, &space, &KMeans, colours);
        let palette = KMeans.optimize_palette(&space, &palette, &self.histogram, KMEANS_ITERATIONS);
        let mut centres: Vec<Premul> = palette
            .iter()
            .map(|c| Premul::from([c.r, c.g, c.b, c.a]))
            .collect();
        refine(&mut centres, &self.counts);
        let palette: Vec<[u8; 4]> = centres.iter().map(|c| snap(c.straight())).collect();
        let indices = if dither {
            let colours: Vec<Color> = palette
                .iter()
                .map(|c| Color::new(c[0], c[1], c[2], c[3]))
                .collect();
            Remapper::new(&colours, &space, &ditherer::FloydSteinberg::new())
                .remap(&self.pixels, self.width)
        } else {
            let centres: Vec<Premul> = palette.iter().map(|&c| Premul::from(c)).collect();
            let mut cache = std::collections::HashMap::new();
            self.pixels
                .iter()
                .map(|c| {
                    let key = [c.r, c.g, c.b, c.a];
                    *cache
                        .entry(key)
                        .or_insert_with(|| nearest(&centres, Premul::from(key)) as u8)
                })
                .collect()
        };
        Quantized { palette, indices }
    }
}

/// A colour as it composites: premultiplied sRGB and opacity, 0–255.
#[derive(Debug, Clone, Copy, Default)]
struct Premul([f32; 4]);

impl From<[u8; 4]> for Premul {
    fn from([r, g, b, a]: [u8; 4]) -> Premul {
        let af = f32::from(a) / 255.0;
        Premul([
            f32::from(r) * af,
            f32::from(g) * af,
            f32::from(b) * af,
            f32::from(a),
        ])
    }
}

impl Premul {
    /// The squared error seen over black (the premultiplied colours) plus over white
    /// (premultiplied colour minus opacity, per channel).
    fn distance(&self, o: &Premul) -> f32 {
        let da = self.0[3] - o.0[3];
        (0..3)
            .map(|c| {
                let d = self.0[c] - o.0[c];
                d * d + (d - da) * (d - da)
            })
            .sum()
    }

    /// Back to straight (unpremultiplied) 8-bit RGBA.
    fn straight(&self) -> [u8; 4] {
        let a = self.0[3].clamp(0.0, 255.0);
        if a < 0.5 {
            return [0, 0, 0, 0];
        }
        let c = |v: f32| (v * 255.0 / a).round().clamp(0.0, 255.0) as u8;
        [c(self.0[0]), c(self.0[1]), c(self.0[2]), a.round() as u8]
    }
}

fn nearest(centres: &[Premul], p: Premul) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, c) in centres.iter().enumerate() {
        let d = c.distance(&p);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// k-means over the distinct colours, in the composite-error distance (whose centroid is
/// the weighted mean, as for any fixed quadratic form).
fn refine(centres: &mut [Premul], counts: &[([u8; 4], u32)]) {
    let colours: Vec<(Premul, f32)> = counts
        .iter()
        .map(|&(c, n)| (Premul::from(c), n as f32))
        .collect();
    for _ in 0..REFINE_ITERATIONS {
        let mut sums = vec![([0.0f32; 4], 0.0f32); centres.len()];
        for (p, n) in &colours {
            let i = nearest(centres, *p);
            for c in 0..4 {
                sums[i].0[c] += p.0[c] * n;
            }
            sums[i].1 += n;
        }
        for (centre, (sum, n)) in centres.iter_mut().zip(sums) {
            if n > 0.0 {
                *centre = Premul(sum.map(|v| v / n));
            }
        }
    }
}

/// exoquant's float round trip can turn an opaque 255 into 254 or a clear 0 into 1: an
/// almost-opaque palette entry costs a tRNS entry and shows nothing. Snap them back.
fn snap([r, g, b, a]: [u8; 4]) -> [u8; 4] {
    match a {
        0..=1 => [0, 0, 0, 0],
        254.. => [r, g, b, 255],
        _ => [r, g, b, a],
    }
}
