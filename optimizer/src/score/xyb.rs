//! Linear sRGB to the XYB colour space SSIMULACRA2 compares in (JPEG XL's opsin absorbance
//! model: an LMS-like mix, a cube root, then opponent channels), shifted into 0–1 as
//! SSIMULACRA2 does before its SSIM formula.
//!
//! The matrix, biases and mixing are vendored from the `yuvxyb` crate 0.4.2
//! (`src/rgb_xyb.rs`), MIT licence, Copyright (c) 2022 Josh Holmer: "Permission is hereby
//! granted, free of charge, to any person obtaining a copy of this software and associated
//! documentation files (the "Software"), to deal in the Software without restriction,
//! including without limitation the rights to use, copy, modify, merge, publish,
//! distribute, sublicense, and/or sell copies of the Software, and to permit persons to
//! whom the Software is furnished to do so, subject to the following conditions: The above
//! copyright notice and this permission notice shall be included in all copies or
//! substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT
//! WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
//! MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL
//! THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
//! WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN
//! CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."
//! The shift into 0–1 is `make_positive_xyb` of the `ssimulacra2` crate (see `blur.rs`
//! for its licence). The cube root is our own.

const M02: f32 = 0.078;
const M00: f32 = 0.30;
const M01: f32 = 1.0 - M02 - M00;
const M12: f32 = 0.078;
const M10: f32 = 0.23;
const M11: f32 = 1.0 - M12 - M10;
const M20: f32 = 0.243_422_69;
const M21: f32 = 0.204_767_45;
const M22: f32 = 1.0 - M20 - M21;
const BIAS: f32 = 0.003_793_073_4;

/// The cube root of a positive normal `x`: an exponent-thirding first guess (within ~10 %)
/// and two Halley steps, which triple the correct digits each, to full `f32` precision.
#[inline(always)]
pub fn cbrt(x: f32) -> f32 {
    const MAGIC: u32 = ((127.0 - 127.0 / 3.0) * 8_388_608.0) as u32;
    let mut y = f32::from_bits(x.to_bits() / 3 + MAGIC);
    for _ in 0..2 {
        let y3 = y * y * y;
        y *= (y3 + 2.0 * x) / (2.0 * y3 + x);
    }
    y
}

/// XYB of one linear RGB pixel, shifted positive: X·14 + 0.42, Y + 0.01, (B − Y) + 0.55.
#[inline(always)]
pub fn positive_xyb(rgb: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = rgb;
    // BIAS > 0 and the colour is not negative, so every mix is positive and normal.
    let m0 = M00 * r + M01 * g + M02 * b + BIAS;
    let m1 = M10 * r + M11 * g + M12 * b + BIAS;
    let m2 = M20 * r + M21 * g + M22 * b + BIAS;
    let cb = cbrt(BIAS);
    let (l, m, s) = (cbrt(m0) - cb, cbrt(m1) - cb, cbrt(m2) - cb);
    let x = 0.5 * (l - m);
    let y = 0.5 * (l + m);
    [x * 14.0 + 0.42, y + 0.01, (s - y) + 0.55]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cube_root_is_as_precise_as_the_standard_one() {
        let mut x = 0.003_f32;
        while x < 1.2 {
            let (ours, std) = (cbrt(x), x.cbrt());
            assert!(
                (ours - std).abs() <= 2.0 * f32::EPSILON * std,
                "{x}: {ours} {std}"
            );
            x *= 1.001;
        }
    }

    #[test]
    fn grey_has_no_colour_and_white_is_brighter() {
        let black = positive_xyb([0.0; 3]);
        let white = positive_xyb([1.0; 3]);
        assert!((black[0] - 0.42).abs() < 1e-6 && (white[0] - 0.42).abs() < 1e-5);
        assert!(white[1] > black[1] + 0.5, "{white:?} {black:?}");
    }
}
