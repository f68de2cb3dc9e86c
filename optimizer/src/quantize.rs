//! Colour reduction for lossy PNG with exoquant (MIT): a 256-colour palette from the
//! image's histogram (k-means refined), remapped with Floyd–Steinberg dithering, alpha
//! included. The PSNR of the result against the original (on opacity-weighted colours)
//! tells the caller whether it is good enough to use.

use exoquant::{ditherer, generate_palette, optimizer, Color, Remapper, SimpleColorSpace};
use image::RgbaImage;

use crate::pixels::psnr;

/// Above this many pixels the palette is built from a regular sample (the remap still
/// covers every pixel): a histogram of every pixel of a big photo costs seconds and gives
/// the same palette.
const SAMPLE_PIXELS: usize = 250_000;

/// A palette image.
pub struct Quantized {
    pub palette: Vec<[u8; 4]>,
    pub indices: Vec<u8>,
    /// Against the original RGBA, in dB.
    pub psnr: f64,
}

/// Reduces `img` to at most 256 colours; `None` when it already has that few (oxipng's
/// lossless palette reduction then does better, exactly).
pub fn quantize(img: &RgbaImage) -> Option<Quantized> {
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
    let space = SimpleColorSpace::default();
    let kmeans = optimizer::KMeans;
    let palette = generate_palette(&histogram, &space, &kmeans, 256);
    let palette = optimizer::Optimizer::optimize_palette(&kmeans, &space, &palette, &histogram, 4);
    let dither = ditherer::FloydSteinberg::new();
    let indices = Remapper::new(&palette, &space, &dither).remap(&pixels, img.width() as usize);
    let palette: Vec<[u8; 4]> = palette.iter().map(|c| [c.r, c.g, c.b, c.a]).collect();
    let mapped: Vec<u8> = indices
        .iter()
        .flat_map(|&i| premultiplied(palette[usize::from(i)]))
        .collect();
    let original: Vec<u8> = img.pixels().flat_map(|p| premultiplied(p.0)).collect();
    Some(Quantized {
        psnr: psnr(&original, &mapped),
        palette,
        indices,
    })
}

/// Colour weighted by opacity: what is under a transparent pixel cannot be seen, so its
/// error must not count.
fn premultiplied([r, g, b, a]: [u8; 4]) -> [u8; 4] {
    let m = |c: u8| ((u16::from(c) * u16::from(a) + 127) / 255) as u8;
    [m(r), m(g), m(b), a]
}
