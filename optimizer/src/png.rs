//! PNG: lossless optimization with oxipng (library API), and for lossy/glossy a palette
//! reduction ([`crate::quantize`]): the fewest colours (undithered before dithered) whose
//! result still meets the mode's floor ([`crate::floor`], SSIMULACRA2 judged over black
//! and over white). When no palette meets it, the file is optimized losslessly and a
//! note says so; a palette that meets it is never passed over for a lossless result
//! unless that is smaller.
//!
//! Kept: every chunk that affects display (ICC, sRGB, gamma, chromaticities, physical
//! size, animation). EXIF and text chunks only with `keep_exif`. 16-bit images stay 16-bit
//! (lossless only: reducing them to an 8-bit palette could destroy what they are for).
//! Animated PNGs are only optimized losslessly and never resized.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder};
use oxipng::{BitDepth, ColorType, IndexSet, RawImage, StripChunks, RGBA8};

use crate::floor::{Outcome, Search};
use crate::quantize::{Quantized, Reducer, VARIANTS};
use crate::score::Scorer;
use crate::{convert, floor, pixels, Compression, Error, Format, Optimized, Options};

/// The palette search over [`VARIANTS`]: starts at 64 undithered colours (in a
/// calibration run 12 of 15 of the bench's graphics that reached the lossy floor did so
/// with 32 to 128 undithered colours), steps one variant per ~4 score points, and stops
/// after 4 palettes.
const PALETTE_SEARCH: Search = Search {
    lo: 0,
    hi: VARIANTS.len() as i32 - 1,
    start: 2,
    slope: 4.0,
    resolution: 1,
    // Each variant is a different palette, not a finer step: search them out.
    close_enough: 0.0,
    max_probes: 4,
};

/// Ancillary chunks that change how an image looks: never stripped.
const DISPLAY: [&[u8; 4]; 12] = [
    b"cICP", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"sBIT", b"pHYs", b"acTL", b"fcTL", b"fdAT",
    b"mDCV", b"cLLI",
];

fn oxipng_options(opts: &Options) -> oxipng::Options {
    let mut o = oxipng::Options::from_preset(2);
    o.strip = if opts.keep_exif {
        StripChunks::None
    } else {
        StripChunks::Keep(DISPLAY.iter().map(|c| **c).collect::<IndexSet<_>>())
    };
    // Colours under fully transparent pixels are invisible: free to change when lossy.
    o.optimize_alpha = opts.compression != Compression::Lossless;
    o
}

pub(crate) fn optimize(bytes: &[u8], dims: (u32, u32), opts: &Options) -> Result<Optimized, Error> {
    let mut notes = Vec::new();
    let resizing = pixels::target(dims, opts.resize) != dims;
    if has_chunk(bytes, b"acTL") {
        if resizing {
            return Err(Error::Skip(
                "animated PNG: resizing animations is not supported".into(),
            ));
        }
        if opts.compression != Compression::Lossless {
            notes.push("animated PNG optimized losslessly".into());
        }
        if opts.webp || opts.avif {
            notes.push("no WebP/AVIF for an animated PNG".into());
        }
        let main = lossless(bytes, opts)?;
        return Ok(Optimized::new(main, dims, notes));
    }
    let needs_pixels =
        resizing || opts.compression != Compression::Lossless || opts.webp || opts.avif;
    if !needs_pixels {
        let main = lossless(bytes, opts)?;
        return Ok(Optimized::new(main, dims, notes));
    }
    let (img, icc, exif) = decode(bytes, opts.max_pixels)?;
    let img = pixels::resize(&img, opts.resize).unwrap_or(img);
    let sixteen = matches!(
        img,
        DynamicImage::ImageLuma16(_)
            | DynamicImage::ImageLumaA16(_)
            | DynamicImage::ImageRgb16(_)
            | DynamicImage::ImageRgba16(_)
    );
    let exif = exif.filter(|_| opts.keep_exif);
    let mut raw = None;
    if let Some(target) = floor::floor(opts.compression) {
        if sixteen {
            notes.push("16-bit PNG optimized losslessly: it keeps its 16 bits".into());
        } else if let Some(q) = reduce(&img, target, opts, &mut notes) {
            let palette = q.palette.iter().map(|c| RGBA8::new(c[0], c[1], c[2], c[3]));
            let color = ColorType::Indexed {
                palette: palette.collect(),
            };
            raw = Some(
                RawImage::new(img.width(), img.height(), color, BitDepth::Eight, q.indices)
                    .map_err(|e| Error::Bad(format!("cannot build the palette PNG: {e}")))?,
            );
        }
    }
    let full_colour = if resizing {
        encode_raw(&mut raw_image(&img)?, icc.as_deref(), exif.clone(), opts)?
    } else {
        lossless(bytes, opts)?
    };
    let main = match raw {
        // A dithered palette can still lose to filters + deflate on smooth images.
        Some(mut raw) => {
            let reduced = encode_raw(&mut raw, icc.as_deref(), exif, opts)?;
            if reduced.len() < full_colour.len() {
                reduced
            } else {
                notes.push("lossy PNG: the palette version was larger, kept full colour".into());
                full_colour
            }
        }
        None => full_colour,
    };
    let mut out = Optimized::new(main, (img.width(), img.height()), notes);
    convert::extras(&img, opts, &mut out)?;
    Ok(out)
}

/// The smallest palette variant meeting `target` (the largest, unscored, with
/// `fixed_settings`); `None` (with a note when it is a miss) when the image has few
/// colours already or no palette meets the floor.
fn reduce(
    img: &DynamicImage,
    target: f64,
    opts: &Options,
    notes: &mut Vec<String>,
) -> Option<Quantized> {
    let compression = opts.compression;
    let rgba = img.to_rgba8();
    let reducer = Reducer::new(&rgba)?;
    if opts.fixed_settings {
        let (colours, dither) = VARIANTS[VARIANTS.len() - 1];
        return Some(reducer.reduce(colours, dither));
    }
    let scorer = Scorer::new(img);
    let (w, h) = (img.width(), img.height());
    let mut tried: Vec<Option<Quantized>> = VARIANTS.iter().map(|_| None).collect();
    let outcome = PALETTE_SEARCH.run(target, |i| {
        let (colours, dither) = VARIANTS[i as usize];
        let q = reducer.reduce(colours, dither);
        let score = scorer.score(&q.image(w, h));
        tried[i as usize] = Some(q);
        Ok::<_, std::convert::Infallible>((Vec::new(), score))
    });
    match outcome {
        Ok(Outcome::Met(p)) => tried[p.setting as usize].take(),
        Ok(Outcome::Missed(m)) => {
            notes.push(format!(
                "lossy PNG fell back to lossless: no palette meets the {} floor (SSIMULACRA2 {target}; best {:.1} with {} colours)",
                compression.name(),
                m.score,
                VARIANTS[m.setting as usize].0
            ));
            None
        }
        Err(never) => match never {},
    }
}

/// oxipng on the file as it is: pixels untouched.
fn lossless(bytes: &[u8], opts: &Options) -> Result<Vec<u8>, Error> {
    oxipng::optimize_from_memory(bytes, &oxipng_options(opts))
        .map_err(|e| Error::Bad(format!("oxipng cannot read the PNG: {e}")))
}

fn encode_raw(
    raw: &mut RawImage,
    icc: Option<&[u8]>,
    exif: Option<Vec<u8>>,
    opts: &Options,
) -> Result<Vec<u8>, Error> {
    if let Some(icc) = icc {
        raw.add_icc_profile(icc);
    }
    if let Some(exif) = exif {
        raw.add_png_chunk(*b"eXIf", exif);
    }
    raw.create_optimized_png(&oxipng_options(opts))
        .map_err(|e| Error::Bad(format!("oxipng cannot write the PNG: {e}")))
}

/// The decoded pixels as oxipng input (16-bit samples big-endian, as PNG stores them).
fn raw_image(img: &DynamicImage) -> Result<RawImage, Error> {
    let (color, depth) = match img {
        DynamicImage::ImageLuma8(_) => (
            ColorType::Grayscale {
                transparent_shade: None,
            },
            BitDepth::Eight,
        ),
        DynamicImage::ImageLumaA8(_) => (ColorType::GrayscaleAlpha, BitDepth::Eight),
        DynamicImage::ImageRgb8(_) => (
            ColorType::RGB {
                transparent_color: None,
            },
            BitDepth::Eight,
        ),
        DynamicImage::ImageLuma16(_) => (
            ColorType::Grayscale {
                transparent_shade: None,
            },
            BitDepth::Sixteen,
        ),
        DynamicImage::ImageLumaA16(_) => (ColorType::GrayscaleAlpha, BitDepth::Sixteen),
        DynamicImage::ImageRgb16(_) => (
            ColorType::RGB {
                transparent_color: None,
            },
            BitDepth::Sixteen,
        ),
        DynamicImage::ImageRgba16(_) => (ColorType::RGBA, BitDepth::Sixteen),
        _ => (ColorType::RGBA, BitDepth::Eight),
    };
    let data = match depth {
        BitDepth::Sixteen => img
            .as_bytes()
            .chunks_exact(2)
            .flat_map(|s| u16::from_ne_bytes([s[0], s[1]]).to_be_bytes())
            .collect(),
        _ if matches!(color, ColorType::RGBA) => img.to_rgba8().into_raw(),
        _ => img.as_bytes().to_vec(),
    };
    RawImage::new(img.width(), img.height(), color, depth, data)
        .map_err(|e| Error::Bad(format!("cannot build the PNG: {e}")))
}

type Decoded = (DynamicImage, Option<Vec<u8>>, Option<Vec<u8>>);

/// Pixels, ICC profile and EXIF, with the decoder's allocations bounded.
fn decode(bytes: &[u8], max_pixels: u64) -> Result<Decoded, Error> {
    let bad = |e: image::ImageError| Error::Bad(format!("cannot decode the PNG: {e}"));
    let mut reader =
        image::ImageReader::with_format(Cursor::new(bytes), Format::Png.image_format());
    reader.limits(crate::probe::limits(max_pixels));
    let mut decoder = reader.into_decoder().map_err(bad)?;
    let icc = decoder.icc_profile().ok().flatten();
    let exif = decoder.exif_metadata().ok().flatten();
    let img = DynamicImage::from_decoder(decoder).map_err(bad)?;
    Ok((img, icc, exif))
}

/// Whether a chunk of this type appears before the image data ends.
fn has_chunk(bytes: &[u8], name: &[u8; 4]) -> bool {
    let mut pos = 8;
    while let Some(head) = bytes.get(pos..pos + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if &head[4..8] == name {
            return true;
        }
        if &head[4..8] == b"IEND" {
            return false;
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    false
}
