//! The built-in optimizer: works offline with no account. This is the adapter between the
//! agent's folder settings and the `shortpixel-optimizer` crate, which does the work
//! (mozjpeg, oxipng, libwebp; see its docs for what each mode does and keeps). The API
//! emulator uses the same crate, so tests download what the agent would have written.
//!
//! Runs on blocking threads, never on the async reactor; every result still goes through
//! the same G6 check as ShortPixel's.

use shortpixel_optimizer as codec;

use crate::config::{Compression, Convert, FolderSettings, ResizeMode};
use crate::content::Format;

/// Images above this many pixels are refused (from the header, before decoding) rather
/// than risking gigabytes of memory.
pub const MAX_PIXELS: u64 = codec::DEFAULT_MAX_PIXELS;

pub struct Produced {
    pub main: Vec<u8>,
    /// The dimensions encoded (after orientation and resize), for verification.
    pub dims: (u32, u32),
    pub extras: Vec<(Convert, Vec<u8>)>,
    /// What a user may want to know (a fallback, a conversion not written).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// Nothing to do for this file with this optimizer (recorded as skipped).
    #[error("{0}")]
    Skip(String),
    /// The file is not a usable image (recorded as failed).
    #[error("{0}")]
    Bad(String),
}

pub fn optimize(bytes: &[u8], format: Format, s: &FolderSettings) -> Result<Produced, LocalError> {
    if format == Format::Avif {
        return Err(LocalError::Skip(
            "the built-in optimizer does not optimize AVIF files".into(),
        ));
    }
    let out = codec::optimize(bytes, &options(s)).map_err(|e| match e {
        codec::Error::Skip(why) => LocalError::Skip(why),
        codec::Error::Bad(why) => LocalError::Bad(why),
    })?;
    let mut extras = Vec::new();
    if let Some(webp) = out.webp {
        extras.push((Convert::Webp, webp));
    }
    if let Some(avif) = out.avif {
        extras.push((Convert::Avif, avif));
    }
    Ok(Produced {
        main: out.main,
        dims: out.dims,
        extras,
        notes: out.notes,
    })
}

fn options(s: &FolderSettings) -> codec::Options {
    codec::Options {
        compression: match s.compression {
            Compression::Lossy => codec::Compression::Lossy,
            Compression::Glossy => codec::Compression::Glossy,
            Compression::Lossless => codec::Compression::Lossless,
        },
        keep_exif: s.keep_exif,
        resize: s.resize.map(|r| codec::Resize {
            fit: match r.mode {
                ResizeMode::Inner => codec::Fit::Inner,
                ResizeMode::Outer => codec::Fit::Outer,
            },
            width: r.width,
            height: r.height,
        }),
        webp: s.convert.contains(&Convert::Webp),
        avif: s.convert.contains(&Convert::Avif),
        max_pixels: MAX_PIXELS,
        fixed_settings: false,
    }
}
