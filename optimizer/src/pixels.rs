//! Pixel operations shared by the codecs: EXIF orientation, Lanczos3 resizing, and the
//! PSNR used to judge lossy results.

use image::{imageops::FilterType, metadata::Orientation, DynamicImage};

use crate::{Fit, Resize};

/// The dimensions `resize` gives an image of `dims`; never enlarges. Rounds like the
/// agent's verifier does.
pub(crate) fn target(dims: (u32, u32), resize: Option<Resize>) -> (u32, u32) {
    let Some(r) = resize else { return dims };
    let (w, h) = (f64::from(dims.0), f64::from(dims.1));
    let sx = (r.width > 0).then(|| f64::from(r.width) / w);
    let sy = (r.height > 0).then(|| f64::from(r.height) / h);
    let scale = match (sx, sy) {
        (Some(x), Some(y)) => match r.fit {
            Fit::Inner => x.min(y),
            Fit::Outer => x.max(y),
        },
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return dims,
    };
    if scale >= 1.0 {
        return dims;
    }
    (
        ((w * scale).round() as u32).max(1),
        ((h * scale).round() as u32).max(1),
    )
}

/// Resizes with Lanczos3 when the box asks for smaller; `None` when nothing changes.
pub(crate) fn resize(img: &DynamicImage, resize: Option<Resize>) -> Option<DynamicImage> {
    let (w, h) = target((img.width(), img.height()), resize);
    ((w, h) != (img.width(), img.height())).then(|| img.resize_exact(w, h, FilterType::Lanczos3))
}

/// Turns the pixels upright for an EXIF orientation value (1–8).
pub(crate) fn orient(img: &mut DynamicImage, exif_orientation: Option<u16>) {
    if let Some(o) = exif_orientation
        .and_then(|o| u8::try_from(o).ok())
        .and_then(Orientation::from_exif)
    {
        img.apply_orientation(o);
    }
}

/// Peak signal-to-noise ratio in dB between two equally long 8-bit buffers (infinite
/// when they are identical).
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "psnr of buffers of different sizes");
    let se: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let d = f64::from(x) - f64::from(y);
            d * d
        })
        .sum();
    if se == 0.0 {
        return f64::INFINITY;
    }
    let mse = se / a.len() as f64;
    10.0 * (255.0 * 255.0 / mse).log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_never_enlarges_and_allows_one_open_side() {
        let inner = Some(Resize {
            fit: Fit::Inner,
            width: 100,
            height: 100,
        });
        assert_eq!(target((400, 200), inner), (100, 50));
        assert_eq!(target((50, 20), inner), (50, 20));
        let outer = Some(Resize {
            fit: Fit::Outer,
            width: 100,
            height: 100,
        });
        assert_eq!(target((400, 200), outer), (200, 100));
        let wide = Some(Resize {
            fit: Fit::Inner,
            width: 200,
            height: 0,
        });
        assert_eq!(target((400, 300), wide), (200, 150));
    }

    #[test]
    fn psnr_is_infinite_for_equal_and_finite_otherwise() {
        assert_eq!(psnr(&[1, 2, 3], &[1, 2, 3]), f64::INFINITY);
        let p = psnr(&[0, 0, 0, 0], &[0, 0, 0, 16]);
        assert!(p > 20.0 && p < 40.0, "{p}");
    }
}
