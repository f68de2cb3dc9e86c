//! The Gaussian blur (σ = 1.5) SSIMULACRA2 takes its local means and variances with, as the
//! recursive filter of Charalampidis, "Recursive Implementation of the Gaussian Filter Using
//! Truncated Cosine Functions" (2016): three second-order recursions whose kernel is a sum
//! of three cosines truncated to ±[`RADIUS`], with zeros outside the image.
//!
//! Vendored from the `ssimulacra2` crate 0.5.1 (`src/blur/gaussian.rs` and the constants its
//! `build.rs` derives), rewritten to work on one row at a time over [`LANES`] quantities at
//! once, so that the vertical pass can run while rows stream in and the lanes vectorize.
//! The filter and its coefficients are unchanged.
//!
//! Copyright (c) 2022-2022, the rav1e contributors. All rights reserved.
//! Redistribution and use in source and binary forms, with or without modification, are
//! permitted provided that the following conditions are met: Redistributions of source code
//! must retain the above copyright notice, this list of conditions and the following
//! disclaimer. Redistributions in binary form must reproduce the above copyright notice,
//! this list of conditions and the following disclaimer in the documentation and/or other
//! materials provided with the distribution. THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT
//! HOLDERS AND CONTRIBUTORS "AS IS" AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT
//! NOT LIMITED TO, THE IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR
//! PURPOSE ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
//! FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL DAMAGES
//! (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR SERVICES; LOSS OF
//! USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF
//! LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR
//! OTHERWISE) ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
//! POSSIBILITY OF SUCH DAMAGE.

/// Half the kernel's support: round(3.2795 σ + 0.2546) for σ = 1.5.
pub const RADIUS: usize = 5;

/// How many quantities are blurred side by side.
pub const LANES: usize = 16;

/// One pixel's quantities.
pub type Lanes = [f32; LANES];

/// The input weight of each cosine term (n₂ in the paper's (33)).
const MUL_IN: [f32; 3] = [0.055_295_236, -0.058_836_687, 0.012_955_819];
/// The weight of the previous output of each term: 2 cos ωₖ, ωₖ = (2k-1)π / 2·RADIUS.
const MUL_PREV: [f32; 3] = [1.902_113_1, 1.175_570_5, 1.224_646_9e-16];

/// The state of the three recursions for one line of lanes: each term's last two outputs.
#[derive(Clone, Copy, Default)]
pub struct State {
    prev: [Lanes; 3],
    prev2: [Lanes; 3],
}

impl State {
    /// Feeds the sum of the two inputs leaving and entering the window; returns the output.
    #[inline(always)]
    fn step(&mut self, sum: &Lanes) -> Lanes {
        let mut out = [0f32; LANES];
        for k in 0..3 {
            for i in 0..LANES {
                let o = sum[i] * MUL_IN[k] + MUL_PREV[k] * self.prev[k][i] - self.prev2[k][i];
                self.prev2[k][i] = self.prev[k][i];
                self.prev[k][i] = o;
                out[i] += o;
            }
        }
        out
    }
}

fn add(a: &Lanes, b: &Lanes) -> Lanes {
    std::array::from_fn(|i| a[i] + b[i])
}

/// Blurs one row along x (zeros outside it).
pub fn horizontal(input: &[Lanes], output: &mut [Lanes]) {
    let w = input.len();
    let n = RADIUS;
    let zero = [0f32; LANES];
    let mut state = State::default();
    // Output x is produced at step x + n - 1, when input x + n - 1 enters the window and
    // x - n - 1 leaves it.
    for step in 0..w + n - 1 {
        let entering = input.get(step).unwrap_or(&zero);
        let leaving = match step.checked_sub(2 * n) {
            Some(i) => &input[i],
            None => &zero,
        };
        let out = state.step(&add(leaving, entering));
        if let Some(x) = (step + 1).checked_sub(n) {
            output[x] = out;
        }
    }
}

/// One step of the vertical pass over a whole row of columns: `entering` and `leaving`
/// are the horizontally blurred rows entering and leaving the window (`None` outside the
/// image); `out` gets the blurred row the step completes.
pub fn vertical(
    leaving: Option<&[Lanes]>,
    entering: Option<&[Lanes]>,
    state: &mut [State],
    out: &mut [Lanes],
) {
    let zero = [0f32; LANES];
    for (x, (s, o)) in state.iter_mut().zip(out.iter_mut()).enumerate() {
        let l = leaving.map_or(&zero, |r| &r[x]);
        let e = entering.map_or(&zero, |r| &r[x]);
        *o = s.step(&add(l, e));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The coefficients as the crate's build script derives them (paper, eqs. 33–57).
    #[test]
    fn coefficients_follow_from_sigma() {
        use std::f64::consts::PI;
        let sigma = 1.5f64;
        let radius = (3.2795 * sigma + 0.2546f64).round();
        assert_eq!(radius as usize, RADIUS);
        let w = [1.0, 3.0, 5.0].map(|k| k * PI / (2.0 * radius));
        let p = [
            1.0 / (0.5 * w[0]).tan(),
            -1.0 / (0.5 * w[1]).tan(),
            1.0 / (0.5 * w[2]).tan(),
        ];
        let r = [
            p[0] * p[0] / w[0].sin(),
            -p[1] * p[1] / w[1].sin(),
            p[2] * p[2] / w[2].sin(),
        ];
        let rho = w.map(|w| (-0.5 * sigma * sigma * w * w).exp() / radius);
        let d13 = p[0] * r[1] - r[0] * p[1];
        let d35 = p[1] * r[2] - r[1] * p[2];
        let d51 = p[2] * r[0] - r[2] * p[0];
        let (z15, z35) = (d35 / d13, d51 / d13);
        let a = [[p[0], p[1], p[2]], [r[0], r[1], r[2]], [z15, z35, 1.0]];
        let g = [
            1.0,
            radius * radius - sigma * sigma,
            z15 * rho[0] + z35 * rho[1] + rho[2],
        ];
        // Solve a·β = g (Cramer's rule).
        let det = |m: [[f64; 3]; 3]| {
            m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
                - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
                + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
        };
        let d = det(a);
        let beta: [f64; 3] = std::array::from_fn(|i| {
            let mut m = a;
            for (row, gv) in m.iter_mut().zip(g) {
                row[i] = gv;
            }
            det(m) / d
        });
        for k in 0..3 {
            let n2 = -beta[k] * (w[k] * (radius + 1.0)).cos();
            assert!((n2 as f32 - MUL_IN[k]).abs() < 1e-7, "{k}: {n2}");
            let prev = 2.0 * w[k].cos();
            assert!((prev as f32 - MUL_PREV[k]).abs() < 1e-6, "{k}: {prev}");
        }
    }

    /// A constant row blurs to the kernel's weights summed over what lies inside it: the
    /// same value in the middle (the kernel sums to one), less near the zero-padded ends.
    #[test]
    fn the_kernel_is_normalized_and_pads_with_zeros() {
        let input = vec![[1f32; LANES]; 64];
        let mut out = vec![[0f32; LANES]; 64];
        horizontal(&input, &mut out);
        assert!((out[32][0] - 1.0).abs() < 1e-4, "{}", out[32][0]);
        assert!(out[0][0] < 0.8 && out[0][0] > 0.3, "{}", out[0][0]);
        // The vertical pass is the same filter.
        let mut state = vec![State::default(); 1];
        let mut col = Vec::new();
        let rows = vec![[1f32; LANES]; 64];
        for step in 0..64 + RADIUS - 1 {
            let mut o = [[0f32; LANES]; 1];
            let leaving = step
                .checked_sub(2 * RADIUS)
                .map(|i| std::slice::from_ref(&rows[i]));
            let entering = rows.get(step).map(std::slice::from_ref);
            vertical(leaving, entering, &mut state, &mut o);
            if step + 1 >= RADIUS {
                col.push(o[0][0]);
            }
        }
        assert_eq!(col.len(), 64);
        for (a, b) in col.iter().zip(out.iter().map(|l| l[0])) {
            assert!((a - b).abs() < 1e-5, "{a} {b}");
        }
    }
}
