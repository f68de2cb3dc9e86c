//! JPEG: lossless re-packing or lossy re-encoding, with the metadata handled as asked.
//!
//! - lossless: the DCT coefficients are re-packed ([`repack`]); pixels never change. ICC is
//!   kept; EXIF/XMP/IPTC/comments only with `keep_exif`. Without `keep_exif`, a photo whose
//!   EXIF says "rotate" keeps a minimal EXIF holding only the orientation, because the
//!   pixels are not turned and would otherwise show sideways.
//! - lossy / glossy: decoded, turned upright (unless the EXIF is kept, in which case its
//!   orientation still applies), resized, and re-encoded with mozjpeg at the lowest
//!   quality whose result still meets the mode's floor ([`lossy`]). When no quality does,
//!   the file is re-packed losslessly instead (or, when resizing, skipped with the
//!   reason): nothing below the floor is ever returned. With
//!   [`crate::Options::fixed_settings`] the old fixed q78 / q90 instead, unscored.
//! - CMYK/YCCK files are only re-packed: re-encoding them through RGB would change their
//!   colours. 12-bit files are left alone.

pub(crate) mod encode;
mod lossy;
pub(crate) mod markers;
mod repack;

use crate::{convert, floor, pixels, probe, Compression, Error, Format, Optimized, Options};
use encode::{Chroma, Tables};
use markers::{Info, Segment, APP1};

/// The quality a lossless-mode resize is encoded at: the resize changes pixels anyway, and
/// lossless promises no more than the best a JPEG re-encode keeps.
const RESIZE_QUALITY_LOSSLESS: f32 = 95.0;

pub(crate) fn optimize(bytes: &[u8], opts: &Options) -> Result<Optimized, Error> {
    let info = markers::parse(bytes).map_err(Error::Bad)?;
    if !bytes[info.scan_start..]
        .windows(2)
        .any(|w| w == [0xFF, 0xD9])
    {
        return Err(Error::Bad(
            "the JPEG is truncated (no end-of-image marker); it is left as it is".into(),
        ));
    }
    if info.precision != 8 {
        return Err(Error::Skip(format!(
            "{}-bit JPEG: only 8-bit JPEGs are optimized",
            info.precision
        )));
    }
    let cmyk = info.components == 4;
    let mut notes = Vec::new();
    let dims = (info.width, info.height);
    let resizing = pixels::target(dims, opts.resize) != dims;
    if cmyk && resizing {
        return Err(Error::Skip(
            "CMYK JPEG: resizing would need a re-encode through RGB, which changes its colours"
                .into(),
        ));
    }
    let repack_only = opts.compression == Compression::Lossless || cmyk;
    if repack_only && !resizing {
        if cmyk && opts.compression != Compression::Lossless {
            notes.push(
                "CMYK JPEG re-packed losslessly: re-encoding through RGB would change its colours"
                    .into(),
            );
        }
        let main = repacked(bytes, &info, opts.keep_exif, &mut notes)?;
        let mut out = Optimized::new(main, dims, notes);
        if opts.webp || opts.avif {
            if cmyk {
                out.notes
                    .push("no WebP/AVIF for a CMYK JPEG: they have no CMYK".into());
            } else {
                let mut img = probe::decode(bytes, Format::Jpeg, opts.max_pixels)?;
                pixels::orient(&mut img, info.orientation());
                convert::extras(&img, opts, &mut out)?;
            }
        }
        return Ok(out);
    }
    reencode(bytes, &info, opts, notes)
}

fn reencode(
    bytes: &[u8],
    info: &Info<'_>,
    opts: &Options,
    notes: Vec<String>,
) -> Result<Optimized, Error> {
    let mut img = probe::decode(bytes, Format::Jpeg, opts.max_pixels)?;
    let mut keep: Vec<Segment<'_>> = if opts.keep_exif {
        // The EXIF stays, and with it the orientation a viewer applies: do not turn the
        // pixels as well.
        info.metadata_segments().collect()
    } else {
        pixels::orient(&mut img, info.orientation());
        Vec::new()
    };
    let resized = pixels::resize(&img, opts.resize);
    let was_resized = resized.is_some();
    if let Some(small) = resized {
        img = small;
    }
    // The source's ICC chunks as they are (mozjpeg's own ICC writer numbers them from 0,
    // which readers reject).
    keep.extend(info.icc_segments());
    let mut notes = notes;
    let upright = (img.width(), img.height());
    let (mut main, mut dims, repackable) = match floor::floor(opts.compression) {
        None => (
            encode::encode(
                &img,
                RESIZE_QUALITY_LOSSLESS,
                Tables::Robidoux,
                Chroma::Half,
                &keep,
            )
            .map_err(|e| Error::Bad(format!("cannot encode the JPEG: {e}")))?,
            upright,
            false,
        ),
        Some(_) if opts.fixed_settings => {
            let quality = floor::fixed_jpeg_quality(opts.compression).unwrap_or(90.0);
            let bytes = encode::encode(&img, quality, Tables::Robidoux, Chroma::Half, &keep)
                .map_err(|e| Error::Bad(format!("cannot encode the JPEG: {e}")))?;
            (bytes, upright, !was_resized)
        }
        Some(target) => {
            let found = lossy::at_floor(&img, target, &keep, opts.max_pixels)?;
            let missed = format!(
                "no JPEG quality meets the {} floor (SSIMULACRA2 {target}; best {:.1} at quality {})",
                opts.compression.name(),
                found.score,
                found.quality
            );
            if found.met {
                (found.bytes, upright, !was_resized)
            } else if was_resized {
                return Err(Error::Skip(format!("resized JPEG not written: {missed}")));
            } else {
                notes.push(format!("re-packed losslessly: {missed}"));
                let packed = repacked(bytes, info, opts.keep_exif, &mut notes)?;
                (packed, (info.width, info.height), false)
            }
        }
    };
    if repackable && main.len() * 4 > bytes.len() * 3 {
        // Re-encoding at the floor saved under a quarter: the file is already compressed
        // about as hard as this mode would. The lossless re-pack may then be smaller
        // still, and it changes no pixel.
        let mut repack_notes = Vec::new();
        let packed = repacked(bytes, info, opts.keep_exif, &mut repack_notes)?;
        if packed.len() < main.len() {
            main = packed;
            // Unturned: a rotated photo keeps its orientation tag instead.
            dims = (info.width, info.height);
            notes.push("re-packed losslessly: smaller than re-encoding at the floor".into());
            notes.extend(repack_notes);
        }
    }
    let mut out = Optimized::new(main, dims, notes);
    if opts.keep_exif {
        // WebP/AVIF carry no EXIF here, so their pixels must be upright.
        pixels::orient(&mut img, info.orientation());
    }
    convert::extras(&img, opts, &mut out)?;
    Ok(out)
}

/// The lossless re-pack, with the metadata `keep_exif` asks for. Without `keep_exif`, a
/// rotated photo keeps a minimal EXIF with just its orientation (pixels are not turned).
fn repacked(
    bytes: &[u8],
    info: &Info<'_>,
    keep_exif: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<u8>, Error> {
    let orientation = info.orientation().filter(|&o| o != 1);
    let orientation_exif = orientation
        .filter(|_| !keep_exif)
        .map(markers::orientation_only_exif);
    let mut keep: Vec<Segment<'_>> = Vec::new();
    if keep_exif {
        keep.extend(info.metadata_segments());
    } else if let (Some(o), Some(exif)) = (orientation, &orientation_exif) {
        keep.push(Segment {
            marker: APP1,
            data: exif,
        });
        notes.push(format!(
            "EXIF stripped except its orientation ({o}): lossless mode does not turn the pixels"
        ));
    }
    keep.extend(info.icc_segments());
    repack::repack(bytes, &keep).map_err(Error::Bad)
}
