//! GIF, WebP, TIFF and BMP: only what is safe.
//!
//! - GIF: animations are kept as they are (skipped). A still GIF is re-encoded and used
//!   only if every decoded pixel is the same (or when resizing, which changes pixels by
//!   definition).
//! - WebP: animations and files with an ICC profile or EXIF/XMP are skipped (re-encoding
//!   would drop them). Lossy WebP is re-encoded in lossy/glossy mode only, at the mode's
//!   floor, and kept as it is when no quality meets it; lossless WebP is re-encoded
//!   losslessly (also in lossy/glossy mode when no lossy quality meets the floor).
//! - TIFF and BMP: only resized (the formats' own compression is not worth a rewrite that
//!   could lose tags, pages or colour spaces); otherwise skipped with the reason.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat};

use crate::convert::Webp;
use crate::{convert, pixels, probe, Compression, Error, Format, Optimized, Options};

pub(crate) fn optimize(
    bytes: &[u8],
    format: Format,
    dims: (u32, u32),
    opts: &Options,
) -> Result<Optimized, Error> {
    let resizing = pixels::target(dims, opts.resize) != dims;
    match format {
        Format::Gif => gif(bytes, resizing, opts),
        Format::Webp => webp(bytes, resizing, opts),
        _ if !resizing => Err(Error::Skip(format!(
            "{} files are kept as they are: the built-in optimizer cannot make them smaller without changing the format",
            format.name()
        ))),
        _ => {
            let img = probe::decode(bytes, format, opts.max_pixels)?;
            let img = pixels::resize(&img, opts.resize).unwrap_or(img);
            let main = encode(&img, format.image_format())?;
            finish(main, &img, opts, Vec::new())
        }
    }
}

fn gif(bytes: &[u8], resizing: bool, opts: &Options) -> Result<Optimized, Error> {
    if is_animated_gif(bytes)? {
        return Err(Error::Skip(
            "animated GIF: kept as it is (its frames are not re-encoded)".into(),
        ));
    }
    let original = probe::decode(bytes, Format::Gif, opts.max_pixels)?;
    let img = pixels::resize(&original, opts.resize).unwrap_or_else(|| original.clone());
    let main = encode(&img, ImageFormat::Gif)?;
    if !resizing {
        let again = probe::decode(&main, Format::Gif, opts.max_pixels)?;
        if again.to_rgba8() != original.to_rgba8() {
            return Err(Error::Skip(
                "GIF: re-encoding would change its colours, so it is kept as it is".into(),
            ));
        }
    }
    finish(main, &img, opts, Vec::new())
}

fn webp(bytes: &[u8], resizing: bool, opts: &Options) -> Result<Optimized, Error> {
    // VP8X header flags: ICC 0x20, EXIF 0x08, XMP 0x04, animation 0x02.
    let flags = (bytes.get(12..16) == Some(b"VP8X".as_slice()))
        .then(|| bytes.get(20).copied())
        .flatten();
    let flags = flags.unwrap_or(0);
    if flags & 0x02 != 0 {
        return Err(Error::Skip("animated WebP: kept as it is".into()));
    }
    if flags & 0x2C != 0 {
        return Err(Error::Skip(
            "WebP with an ICC profile or EXIF/XMP: re-encoding would drop them, so it is kept as it is"
                .into(),
        ));
    }
    let lossless_source = bytes.windows(4).take(64).any(|w| w == b"VP8L");
    if !lossless_source && opts.compression == Compression::Lossless && !resizing {
        return Err(Error::Skip(
            "lossy WebP in lossless mode: any re-encode would lose quality, so it is kept as it is"
                .into(),
        ));
    }
    let original = probe::decode(bytes, Format::Webp, opts.max_pixels)?;
    let img = pixels::resize(&original, opts.resize).unwrap_or_else(|| original.clone());
    let mode = if lossless_source && opts.compression == Compression::Lossless {
        Compression::Lossless
    } else {
        opts.compression
    };
    let mut notes = Vec::new();
    let main = match convert::webp(&img, mode, opts)? {
        Webp::Written(bytes) => bytes,
        // A lossless source loses nothing by staying lossless.
        Webp::Missed { score, quality } if lossless_source && !resizing => {
            notes.push(format!(
                "re-encoded losslessly: {}",
                Webp::missed(score, quality, mode)
            ));
            match convert::webp(&img, Compression::Lossless, opts)? {
                Webp::Written(bytes) => bytes,
                Webp::Missed { .. } => unreachable!("lossless WebP has no floor"),
            }
        }
        Webp::Missed { score, quality } => {
            return Err(Error::Skip(format!(
                "WebP kept as it is: {}",
                Webp::missed(score, quality, mode)
            )))
        }
    };
    if (mode == Compression::Lossless || !notes.is_empty()) && !resizing {
        let again = probe::decode(&main, Format::Webp, opts.max_pixels)?;
        if again.to_rgba8() != original.to_rgba8() {
            return Err(Error::Skip(
                "WebP: the lossless re-encode changed pixels, so it is kept as it is".into(),
            ));
        }
    }
    let opts = Options {
        webp: false,
        ..opts.clone()
    };
    finish(main, &img, &opts, notes)
}

fn finish(
    main: Vec<u8>,
    img: &DynamicImage,
    opts: &Options,
    notes: Vec<String>,
) -> Result<Optimized, Error> {
    let mut out = Optimized::new(main, (img.width(), img.height()), notes);
    convert::extras(img, opts, &mut out)?;
    Ok(out)
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Result<Vec<u8>, Error> {
    let mut out = Cursor::new(Vec::new());
    let img = match (format, img) {
        // These encoders take 8-bit samples only.
        (ImageFormat::Gif | ImageFormat::Bmp, i) if i.color().has_alpha() => {
            DynamicImage::ImageRgba8(i.to_rgba8())
        }
        (ImageFormat::Gif | ImageFormat::Bmp, i) => DynamicImage::ImageRgb8(i.to_rgb8()),
        (_, i) => i.clone(),
    };
    img.write_to(&mut out, format)
        .map_err(|e| Error::Bad(format!("cannot encode the {format:?}: {e}")))?;
    Ok(out.into_inner())
}

/// More than one frame. Reads frame headers only as far as the second frame.
fn is_animated_gif(bytes: &[u8]) -> Result<bool, Error> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options
        .read_info(Cursor::new(bytes))
        .map_err(|e| Error::Bad(format!("cannot read the GIF: {e}")))?;
    let mut frames = 0;
    while decoder
        .next_frame_info()
        .map_err(|e| Error::Bad(format!("cannot read the GIF: {e}")))?
        .is_some()
    {
        frames += 1;
        if frames > 1 {
            return Ok(true);
        }
    }
    Ok(false)
}
