//! The extra formats: WebP with libwebp (lossy q75 / glossy q90 / lossless), and AVIF with
//! ravif when built with the `avif` feature. Both get upright, resized pixels and no
//! metadata.

use image::DynamicImage;

use crate::{Compression, Error, Optimized, Options};

/// libwebp cannot encode larger sides.
const WEBP_MAX_SIDE: u32 = 16383;

/// Fills `out.webp` / `out.avif` as `opts` asks.
pub(crate) fn extras(img: &DynamicImage, opts: &Options, out: &mut Optimized) -> Result<(), Error> {
    if opts.webp {
        if img.width() > WEBP_MAX_SIDE || img.height() > WEBP_MAX_SIDE {
            out.notes.push(format!(
                "WebP not written: {}x{} is larger than WebP allows ({WEBP_MAX_SIDE} a side)",
                img.width(),
                img.height()
            ));
        } else {
            out.webp = Some(webp(img, opts.compression)?);
        }
    }
    #[cfg(feature = "avif")]
    if opts.avif {
        out.avif = Some(avif(img, opts.compression)?);
    }
    Ok(())
}

/// A WebP of `img`.
pub(crate) fn webp(img: &DynamicImage, compression: Compression) -> Result<Vec<u8>, Error> {
    let (w, h) = (img.width(), img.height());
    let alpha = img.color().has_alpha();
    let raw = if alpha {
        img.to_rgba8().into_raw()
    } else {
        img.to_rgb8().into_raw()
    };
    let encoder = if alpha {
        webp::Encoder::from_rgba(&raw, w, h)
    } else {
        webp::Encoder::from_rgb(&raw, w, h)
    };
    let (lossless, quality) = match compression {
        Compression::Lossy => (false, 75.0),
        Compression::Glossy => (false, 90.0),
        Compression::Lossless => (true, 75.0),
    };
    encoder
        .encode_simple(lossless, quality)
        .map(|m| m.to_vec())
        .map_err(|e| Error::Bad(format!("cannot encode the WebP: {e:?}")))
}

#[cfg(feature = "avif")]
fn avif(img: &DynamicImage, compression: Compression) -> Result<Vec<u8>, Error> {
    use rgb::FromSlice;
    let rgba = img.to_rgba8();
    let quality = match compression {
        Compression::Lossy => 60.0,
        Compression::Glossy => 80.0,
        // AVIF here is never mathematically lossless; the highest quality stands in.
        Compression::Lossless => 95.0,
    };
    let encoded = ravif::Encoder::new()
        .with_quality(quality)
        .with_speed(6)
        // One thread: the caller's pool is the bound on parallel work.
        .with_num_threads(Some(1))
        .encode_rgba(ravif::Img::new(
            rgba.as_raw().as_rgba(),
            rgba.width() as usize,
            rgba.height() as usize,
        ))
        .map_err(|e| Error::Bad(format!("cannot encode the AVIF: {e}")))?;
    Ok(encoded.avif_file)
}
