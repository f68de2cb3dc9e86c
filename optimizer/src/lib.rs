//! The image codecs behind the built-in optimizer. One call, [`optimize`], takes the bytes
//! of an image and returns a smaller file of the same format (or says why it will not),
//! plus the WebP/AVIF conversions asked for. Both the agent's `local` backend and the API
//! emulator use it, so the bytes the tests download are the bytes the agent would write.
//!
//! What it guarantees:
//! - the image dimensions are read from the header and checked against
//!   [`Options::max_pixels`] *before* any pixel is decoded, so a huge image is refused with a
//!   reason instead of taking gigabytes;
//! - lossless modes never change a decoded pixel (JPEG is re-packed from its DCT
//!   coefficients, PNG goes through oxipng);
//! - libjpeg errors are caught and become [`Error::Bad`]; nothing here aborts the process;
//! - everything is synchronous and CPU-bound: callers run it on a bounded blocking pool.
//!
//! It does *not* decide whether a result is good enough to replace a file: the caller still
//! checks that it decodes and is smaller (the agent's G6).

mod convert;
mod floor;
mod jpeg;
mod other;
mod pixels;
mod png;
mod probe;
mod quantize;
mod score;

pub use floor::{floor, GLOSSY_FLOOR, LOSSY_FLOOR};
pub use pixels::psnr;
pub use probe::Format;
pub use score::{score, scoring_memory, Scorer};

/// Images above this many pixels are refused by default (a 100 MP RGBA image already
/// needs 400 MB decoded, and resizing needs a float copy of it).
pub const DEFAULT_MAX_PIXELS: u64 = 100_000_000;

/// How hard to compress, as in the ShortPixel API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// The smallest file that still looks the same at a glance: every image meets
    /// [`LOSSY_FLOOR`] (SSIMULACRA2).
    Lossy,
    /// The smallest file that looks the same on close inspection: [`GLOSSY_FLOOR`].
    Glossy,
    /// No decoded pixel changes.
    Lossless,
}

impl Compression {
    /// The mode as the configuration spells it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Lossy => "lossy",
            Compression::Glossy => "glossy",
            Compression::Lossless => "lossless",
        }
    }
}

/// How a resize box applies; dimensions are never enlarged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fit inside the box.
    Inner,
    /// Cover the box.
    Outer,
}

/// A resize box; a zero side leaves that side unconstrained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resize {
    pub fit: Fit,
    pub width: u32,
    pub height: u32,
}

/// What to produce.
#[derive(Debug, Clone)]
pub struct Options {
    pub compression: Compression,
    /// Keep EXIF (and XMP, IPTC, comments). ICC profiles are always kept.
    pub keep_exif: bool,
    pub resize: Option<Resize>,
    /// Also produce a WebP.
    pub webp: bool,
    /// Also produce an AVIF (needs the `avif` feature; without it a note says so).
    pub avif: bool,
    pub max_pixels: u64,
    /// Skip the quality search and encode lossy/glossy at the fixed settings the floors
    /// replaced (JPEG q78 / q90, WebP q75 / q90, PNG a 256-colour dithered palette when it
    /// is smaller). Nothing is scored, so nothing is promised about the result's quality
    /// beyond decoding: for callers that need real, smaller files fast (the API emulator),
    /// never for a user's files.
    pub fixed_settings: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compression: Compression::Lossy,
            keep_exif: false,
            resize: None,
            webp: false,
            avif: false,
            max_pixels: DEFAULT_MAX_PIXELS,
            fixed_settings: false,
        }
    }
}

/// The result for one image.
#[derive(Debug, Clone)]
pub struct Optimized {
    /// The re-encoded file, same format as the input. Not necessarily smaller: the caller
    /// compares.
    pub main: Vec<u8>,
    /// Its dimensions (after orientation and resize).
    pub dims: (u32, u32),
    pub webp: Option<Vec<u8>>,
    pub avif: Option<Vec<u8>>,
    /// Things a user may want to know, e.g. "lossy PNG fell back to lossless".
    pub notes: Vec<String>,
}

impl Optimized {
    /// The main result; the extra formats are added by `convert::extras` when asked for.
    pub(crate) fn new(main: Vec<u8>, dims: (u32, u32), notes: Vec<String>) -> Optimized {
        Optimized {
            main,
            dims,
            webp: None,
            avif: None,
            notes,
        }
    }
}

/// Why there is no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Nothing safe to do with this file (the file is fine; it is left as it is).
    #[error("{0}")]
    Skip(String),
    /// The file is not a usable image.
    #[error("{0}")]
    Bad(String),
}

/// Optimizes one image. See the crate docs for what is guaranteed.
pub fn optimize(bytes: &[u8], opts: &Options) -> Result<Optimized, Error> {
    let format = Format::sniff(bytes)
        .ok_or_else(|| Error::Bad("not a JPEG, PNG, GIF, WebP, TIFF or BMP image".into()))?;
    let (w, h) = probe::dimensions(bytes, format)?;
    probe::check_pixels(w, h, opts.max_pixels)?;
    let mut out = match format {
        Format::Jpeg => jpeg::optimize(bytes, opts)?,
        Format::Png => png::optimize(bytes, (w, h), opts)?,
        Format::Gif | Format::Webp | Format::Tiff | Format::Bmp => {
            other::optimize(bytes, format, (w, h), opts)?
        }
    };
    if opts.avif && out.avif.is_none() && !cfg!(feature = "avif") {
        out.notes.push(
            "AVIF not written: this build has no AVIF encoder (build with `--features avif`)"
                .into(),
        );
    }
    Ok(out)
}

/// Only the WebP that `convert = ["webp"]` would write (upright, resized), without
/// optimizing the file itself; [`Error::Skip`] when no WebP meets the mode's floor.
pub fn to_webp(bytes: &[u8], opts: &Options) -> Result<Vec<u8>, Error> {
    let format = Format::sniff(bytes).ok_or_else(|| Error::Bad("not an image".into()))?;
    let (w, h) = probe::dimensions(bytes, format)?;
    probe::check_pixels(w, h, opts.max_pixels)?;
    let mut img = probe::decode(bytes, format, opts.max_pixels)?;
    if format == Format::Jpeg {
        let orientation = jpeg::markers::parse(bytes)
            .ok()
            .and_then(|i| i.orientation());
        pixels::orient(&mut img, orientation);
    }
    let img = pixels::resize(&img, opts.resize).unwrap_or(img);
    match convert::webp(&img, opts.compression, opts)? {
        convert::Webp::Written(bytes) => Ok(bytes),
        convert::Webp::Missed { score, quality } => Err(Error::Skip(format!(
            "WebP not written: {}",
            convert::Webp::missed(score, quality, opts.compression)
        ))),
    }
}

/// The dimensions a resize box gives an image of `dims` (never enlarging).
pub fn resized_dimensions(dims: (u32, u32), resize: Option<Resize>) -> (u32, u32) {
    pixels::target(dims, resize)
}
