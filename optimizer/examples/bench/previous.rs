//! The built-in optimizer's previous fixed settings, reproduced for comparison where the
//! crate's `fixed_settings` differ from them (JPEG uses the crate's own): libwebp at a
//! fixed quality, and lossy PNG as 256 dithered exoquant colours used when their PSNR
//! cleared a bar (otherwise oxipng alone).

use exoquant::{ditherer, generate_palette, optimizer, Color, Remapper, SimpleColorSpace};
use oxipng::{BitDepth, ColorType, RawImage, RGBA8};
use shortpixel_optimizer::psnr;

use crate::Input;

/// libwebp at a fixed quality.
pub fn webp(input: &Input, quality: f32) -> Option<Vec<u8>> {
    let img = &input.pixels;
    let (w, h) = (img.width(), img.height());
    let out = if img.color().has_alpha() {
        let raw = img.to_rgba8();
        webp::Encoder::from_rgba(raw.as_raw(), w, h).encode(quality)
    } else {
        let raw = img.to_rgb8();
        webp::Encoder::from_rgb(raw.as_raw(), w, h).encode(quality)
    };
    Some(out.to_vec())
}

/// 256 colours, Floyd–Steinberg, kept when the opacity-weighted PSNR reaches `bar` dB and
/// the file gets smaller; otherwise oxipng preset 2.
pub fn png(bytes: &[u8], bar: f64) -> Option<Vec<u8>> {
    let mut o = oxipng::Options::from_preset(2);
    o.optimize_alpha = true;
    let lossless = oxipng::optimize_from_memory(bytes, &o).ok()?;
    let img = image::load_from_memory(bytes).ok()?.to_rgba8();
    let pixels: Vec<Color> = img
        .pixels()
        .map(|p| Color::new(p[0], p[1], p[2], p[3]))
        .collect();
    if pixels
        .iter()
        .collect::<std::collections::HashSet<_>>()
        .len()
        <= 256
    {
        return Some(lossless);
    }
    let step = pixels.len().div_ceil(250_000).max(1);
    let histogram = pixels.iter().step_by(step).copied().collect();
    let space = SimpleColorSpace::default();
    let palette = generate_palette(&histogram, &space, &optimizer::KMeans, 256);
    let palette =
        optimizer::Optimizer::optimize_palette(&optimizer::KMeans, &space, &palette, &histogram, 4);
    let indices = Remapper::new(&palette, &space, &ditherer::FloydSteinberg::new())
        .remap(&pixels, img.width() as usize);
    let premultiplied = |c: [u8; 4]| {
        let m = |v: u8| ((u16::from(v) * u16::from(c[3]) + 127) / 255) as u8;
        [m(c[0]), m(c[1]), m(c[2]), c[3]]
    };
    let mapped: Vec<u8> = indices
        .iter()
        .flat_map(|&i| {
            let c = palette[usize::from(i)];
            premultiplied([c.r, c.g, c.b, c.a])
        })
        .collect();
    let original: Vec<u8> = img.pixels().flat_map(|p| premultiplied(p.0)).collect();
    if psnr(&original, &mapped) < bar {
        return Some(lossless);
    }
    let palette = palette
        .iter()
        .map(|c| RGBA8::new(c.r, c.g, c.b, c.a))
        .collect();
    let raw = RawImage::new(
        img.width(),
        img.height(),
        ColorType::Indexed { palette },
        BitDepth::Eight,
        indices,
    )
    .ok()?;
    let reduced = raw.create_optimized_png(&o).ok()?;
    Some(if reduced.len() < lossless.len() {
        reduced
    } else {
        lossless
    })
}
