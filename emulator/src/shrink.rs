//! Real image optimisation with the same code as the agent's built-in optimizer (the
//! `shortpixel-optimizer` crate: mozjpeg, oxipng, libwebp), so that the agent under test
//! downloads bytes that decode, have the advertised length and are really smaller.
//!
//! - Every job computes the requested variant and the lossless one (LossyURL and
//!   LosslessURL), each with the optimizer's own rules: JPEG lossless is a coefficient
//!   re-pack, PNG lossless goes through oxipng, lossy PNG reduces colours when it can.
//! - A file the optimizer skips (an animated GIF, a BMP…) is served back as it is, with
//!   `PercentImprovement` "0"; one it cannot read is refused with -202 by the caller.
//! - A result that is not smaller than the original is replaced by the original bytes, with
//!   `PercentImprovement` "0" — the real service never hands back a larger file by itself
//!   (`Fault::Bigger` exists to test that case).
//! - Lossy and glossy use the optimizer's fixed settings (`fixed_settings`: q78 / q90, no
//!   quality search), which keeps an upload cheap; the agent's own built-in optimizer is
//!   what holds results to a floor.
//! - `+webp` is the optimizer's WebP; both WebP variants share it.
//! - `+avif` is **structural only** (the emulator builds no AVIF encoder): a minimal
//!   ISO-BMFF file — an `ftyp` box with major brand `avif`, then an `mdat` box with filler.
//!   It sniffs as AVIF but does not decode.
//! - EXIF is never kept (the service's default).

use axum::body::Bytes;
use shortpixel_optimizer::{optimize, Compression, Error, Fit, Options, Resize};

/// The options of a reducer call that matter for the bytes produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ShrinkOptions {
    /// 1 lossy, 2 glossy, 0 lossless.
    pub lossy: u8,
    /// 0 none, 1 outer (cover the box), 3 inner (fit in the box).
    pub resize: u8,
    pub width: u32,
    pub height: u32,
    pub webp: bool,
    pub avif: bool,
}

/// The downloadable results of one job.
#[derive(Debug, Clone)]
pub(crate) struct Shrunk {
    /// Served as `lossy`: the requested lossy/glossy result (the lossless one in mode 0).
    pub lossy: Bytes,
    pub lossless: Bytes,
    /// Shared by `webp-lossy` and `webp-lossless`, when `+webp` was asked for.
    pub webp: Option<Bytes>,
    /// Shared by `avif-lossy` and `avif-lossless`, when `+avif` was asked for.
    pub avif: Option<Bytes>,
}

impl Shrunk {
    /// The bytes behind a `/dl/{job}/{variant}` name.
    pub fn variant(&self, name: &str) -> Option<Bytes> {
        match name {
            "lossy" => Some(self.lossy.clone()),
            "lossless" => Some(self.lossless.clone()),
            "webp-lossy" | "webp-lossless" => self.webp.clone(),
            "avif-lossy" | "avif-lossless" => self.avif.clone(),
            _ => None,
        }
    }

    /// The variant `PercentImprovement` (and the credit) is about.
    pub fn primary(&self, lossy_mode: u8) -> &Bytes {
        if lossy_mode == 0 {
            &self.lossless
        } else {
            &self.lossy
        }
    }

    /// A job whose result is still being computed.
    pub fn empty() -> Shrunk {
        Shrunk {
            lossy: Bytes::new(),
            lossless: Bytes::new(),
            webp: None,
            avif: None,
        }
    }

    /// `Fault::SmallExtra`: the WebP (when one was asked for) becomes a valid 16×16 image,
    /// whatever the size of the main result.
    pub fn shrink_webp(&mut self) {
        if self.webp.is_some() {
            self.webp = Some(Bytes::from(crate::hostile::small_webp()));
        }
    }

    /// `Fault::Bigger`: the main results become the original plus trailing zeros. Decoders
    /// ignore data after the end marker, so the file still opens; only its size is wrong.
    pub fn make_bigger(&mut self, original: &[u8]) {
        let mut padded = original.to_vec();
        padded.resize(original.len() + (original.len() / 4).max(1024), 0);
        let padded = Bytes::from(padded);
        self.lossy = padded.clone();
        self.lossless = padded;
    }
}

/// `PercentImprovement` as the service writes it: "0" when nothing changed, otherwise two
/// decimals (negative when the result grew).
pub(crate) fn percent(original: usize, result: usize) -> String {
    if original == 0 || original == result {
        return "0".to_owned();
    }
    format!("{:.2}", (1.0 - result as f64 / original as f64) * 100.0)
}

/// Optimises one uploaded file; `None` when it is not an image the optimizer can read (the
/// caller answers -202 then).
pub(crate) fn shrink(original: &Bytes, opts: &ShrinkOptions) -> Option<Shrunk> {
    let compression = match opts.lossy {
        1 => Compression::Lossy,
        2 => Compression::Glossy,
        _ => Compression::Lossless,
    };
    let fit = match opts.resize {
        1 => Some(Fit::Outer),
        3 => Some(Fit::Inner),
        _ => None,
    };
    let requested = Options {
        compression,
        resize: fit.map(|fit| Resize {
            fit,
            width: opts.width,
            height: opts.height,
        }),
        webp: opts.webp,
        // Real, smaller, decodable files are all the tests need: no quality search.
        fixed_settings: true,
        ..Options::default()
    };
    let (lossy, webp) = match optimize(original, &requested) {
        Ok(out) => (not_larger(original, out.main), out.webp.map(Bytes::from)),
        Err(Error::Skip(_)) => (original.clone(), None),
        Err(Error::Bad(_)) => return None,
    };
    let lossless = if compression == Compression::Lossless {
        lossy.clone()
    } else {
        let options = Options {
            compression: Compression::Lossless,
            webp: false,
            ..requested
        };
        match optimize(original, &options) {
            Ok(out) => not_larger(original, out.main),
            Err(_) => original.clone(),
        }
    };
    let avif = opts.avif.then(|| Bytes::from(structural_avif(&lossy)));
    Some(Shrunk {
        lossy,
        lossless,
        webp,
        avif,
    })
}

fn not_larger(original: &Bytes, candidate: Vec<u8>) -> Bytes {
    if candidate.len() < original.len() {
        Bytes::from(candidate)
    } else {
        original.clone()
    }
}

/// A minimal ISO-BMFF file that sniffs as AVIF: `ftyp` (major brand `avif`, compatible
/// `avif`, `mif1`, `miaf`) then an `mdat` box. The payload is half of the lossy result so
/// sizes look plausible (AVIF usually beats JPEG); it is not a decodable image.
fn structural_avif(lossy: &[u8]) -> Vec<u8> {
    let payload = &lossy[..lossy.len() / 2];
    let mut out = Vec::with_capacity(36 + payload.len());
    out.extend_from_slice(&28u32.to_be_bytes());
    out.extend_from_slice(b"ftypavif");
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(b"avifmif1miaf");
    out.extend_from_slice(&(8 + payload.len() as u32).to_be_bytes());
    out.extend_from_slice(b"mdat");
    out.extend_from_slice(payload);
    out
}
