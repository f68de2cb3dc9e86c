//! Colour reduction for lossy PNG with exoquant (MIT; not libimagequant, which is GPL):
//! palettes of 16 to 256 colours from the image's histogram (split by variance, refined
//! by k-means, alpha included), remapped with or without Floyd–Steinberg dithering. The
//! caller picks the smallest variant whose score meets the floor ([`crate::png`]).

use exoquant::optimizer::{KMeans, Optimizer};
use exoquant::{ditherer, Color, Histogram, Remapper, SimpleColorSpace};
use image::{DynamicImage, RgbaImage};

/// Above this many pixels the palette is built from a regular sample (the remap still
/// covers every pixel): a histogram of every pixel of a big photo costs seconds and gives
/// the same palette.
const SAMPLE_PIXELS: usize = 250_000;

/// k-means passes over the histogram per palette: past 4 the palettes of the benchmark's
/// graphics stopped changing their scores by more than 0.2.
const KMEANS_ITERATIONS: usize = 4;

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
        Some(Reducer {
            pixels,
            histogram,
            width: img.width() as usize,
        })
    }

    /// The image reduced to `colours`, dithered or not.
    pub fn reduce(&self, colours: usize, dither: bool) -> Quantized {
        let space = SimpleColorSpace::default();
        let palette = exoquant::generate_palette(&self.histogram, &space, &KMeans, colours);
        let palette = KMeans.optimize_palette(&space, &palette, &self.histogram, KMEANS_ITERATIONS);
        let indices = if dither {
            Remapper::new(&palette, &space, &ditherer::FloydSteinberg::new())
                .remap(&self.pixels, self.width)
        } else {
            Remapper::new(&palette, &space, &ditherer::None).remap(&self.pixels, self.width)
        };
        Quantized {
            palette: palette.iter().map(|c| snap([c.r, c.g, c.b, c.a])).collect(),
            indices,
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
