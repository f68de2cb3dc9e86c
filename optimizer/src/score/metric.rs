//! SSIMULACRA2 computed while the rows stream in: each of the (up to) six scales is a
//! stage that takes rows of linear RGB of both images, keeps only the few rows its blur
//! window needs, adds each finished row's errors to its sums, and hands every second row,
//! averaged 2×2, to the next scale. Memory is proportional to the image's *width*
//! ([`bytes_per_column`]), never to its area, and the score is that of the whole image —
//! the same as the `ssimulacra2` crate's `compute_frame_ssimulacra2` up to float rounding.
//!
//! Vendored and restructured from the `ssimulacra2` crate 0.5.1 (`src/lib.rs`: the scale
//! loop, `downscale_by_2`, `ssim_map`, `edge_diff_map`), BSD-2-Clause, Copyright (c)
//! 2022-2022, the rav1e contributors (the full notice is in `blur.rs`).

use super::blur::{self, Lanes, State, LANES, RADIUS};
use super::weights::{self, ScaleErrors};
use super::xyb::positive_xyb;

/// SSIMULACRA2 scores at most six scales, 1:1 to 1:32.
const SCALES: usize = 6;

/// Rows of blurred quantities a stage keeps: the blur window.
const RING: usize = 2 * RADIUS + 1;

/// The lanes blurred per pixel: for each XYB channel c, the reference `a` (lane c), `a²`
/// (3 + c), the distorted `b` (6 + c), `b²` (9 + c) and `a·b` (12 + c).
const A: usize = 0;
const AA: usize = 3;
const B: usize = 6;
const BB: usize = 9;
const AB: usize = 12;

/// The SSIM formula's stabilising constant.
const C2: f32 = 0.0009;

/// What is subtracted from each XYB channel before blurring: about the middle of its
/// range, so that variances (the blurred square minus the squared blur) cancel far less
/// of `f32`'s precision. The formulas below add back what the shift changes near the
/// borders, where the blur's zero padding makes it not cancel out.
const CENTRE: [f32; 3] = [0.42, 0.40, 0.55];

/// Bytes a stream holds per column of the full-resolution image (all scales together):
/// the blur window and state of 16 lanes, the unblurred XYB rows, the row buffers.
pub fn bytes_per_column() -> u64 {
    let lanes = (LANES * 4) as u64;
    let per_scale = lanes * (RING as u64 + 6 + 2) + 24 * RADIUS as u64 + 48;
    // Each scale is half as wide as the one before.
    per_scale * 2
}

/// A row of linear RGB pixels.
type Row = Vec<[f32; 3]>;

/// One scale of the pyramid.
struct Stage {
    width: usize,
    height: usize,
    /// Rows received so far.
    rows: usize,
    /// The last [`RING`] horizontally blurred rows.
    ring: Vec<Lanes>,
    /// The unblurred XYB of the last [`RADIUS`] rows: `a` then `b` per channel.
    xyb: Vec<[f32; 6]>,
    state: Vec<State>,
    /// Scratch rows.
    lanes: Vec<Lanes>,
    blurred: Vec<Lanes>,
    /// An even row waiting for its pair, to be averaged for the next scale.
    pending: Option<(Row, Row)>,
    errors: Sums,
    /// What the blur's kernel sums to in each column and row (1 but near the borders).
    kernel_x: Vec<f32>,
    kernel_y: Vec<f32>,
    next: Option<Box<Stage>>,
    /// This stage's index: 0 is full resolution.
    index: usize,
}

/// Running sums of one scale's error maps, per channel: SSIM error and its 4th power,
/// ringing and its 4th power, blurring and its 4th power.
#[derive(Default, Clone, Copy)]
struct Sums([[f64; 6]; 3]);

impl Stage {
    fn new(width: usize, height: usize, index: usize) -> Stage {
        Stage {
            width,
            height,
            rows: 0,
            ring: vec![[0.0; LANES]; RING * width],
            xyb: vec![[0.0; 6]; RADIUS * width],
            state: vec![State::default(); width],
            lanes: vec![[0.0; LANES]; width],
            blurred: vec![[0.0; LANES]; width],
            pending: None,
            errors: Sums::default(),
            kernel_x: kernel_sums(width),
            kernel_y: kernel_sums(height),
            next: None,
            index,
        }
    }

    /// Takes the next row of both images (linear RGB, `width` pixels each).
    fn push(&mut self, reference: &[[f32; 3]], distorted: &[[f32; 3]]) {
        self.downscale(reference, distorted);
        let r = self.rows;
        let w = self.width;
        let xyb = &mut self.xyb[(r % RADIUS) * w..][..w];
        for (((l, x), a), b) in self.lanes.iter_mut().zip(xyb).zip(reference).zip(distorted) {
            let a = positive_xyb(*a);
            let b = positive_xyb(*b);
            for c in 0..3 {
                let (a, b) = (a[c] - CENTRE[c], b[c] - CENTRE[c]);
                l[A + c] = a;
                l[AA + c] = a * a;
                l[B + c] = b;
                l[BB + c] = b * b;
                l[AB + c] = a * b;
                x[c] = a;
                x[3 + c] = b;
            }
        }
        blur::horizontal(&self.lanes, &mut self.ring[(r % RING) * w..][..w]);
        self.rows += 1;
        self.vertical_step(r);
    }

    /// Advances the vertical blur to input row `r` (beyond the image: zeros) and, once the
    /// window is full, adds the finished row `r + 1 - RADIUS` to the sums.
    fn vertical_step(&mut self, r: usize) {
        let w = self.width;
        let (ring, blurred) = (&self.ring, &mut self.blurred);
        let entering = (r < self.height).then(|| &ring[(r % RING) * w..][..w]);
        let leaving = r
            .checked_sub(2 * RADIUS)
            .map(|t| &ring[(t % RING) * w..][..w]);
        blur::vertical(leaving, entering, &mut self.state, blurred);
        let Some(n) = (r + 1).checked_sub(RADIUS) else {
            return;
        };
        let xyb = &self.xyb[(n % RADIUS) * w..][..w];
        self.errors
            .add_row(blurred, xyb, &self.kernel_x, self.kernel_y[n]);
    }

    /// Pairs rows for the next scale.
    fn downscale(&mut self, reference: &[[f32; 3]], distorted: &[[f32; 3]]) {
        // As the crate: a scale is computed when the one before it is at least 8×8.
        if self.index + 1 >= SCALES || self.width < 8 || self.height < 8 {
            return;
        }
        match self.pending.take() {
            None => self.pending = Some((reference.to_vec(), distorted.to_vec())),
            Some((r0, d0)) => self.emit(&r0, &d0, reference, distorted),
        }
    }

    /// Hands the 2×2 average of two rows to the next scale, creating it on the first.
    fn emit(&mut self, r0: &[[f32; 3]], d0: &[[f32; 3]], r1: &[[f32; 3]], d1: &[[f32; 3]]) {
        let (nw, nh) = (self.width.div_ceil(2), self.height.div_ceil(2));
        let index = self.index + 1;
        let next = self
            .next
            .get_or_insert_with(|| Box::new(Stage::new(nw, nh, index)));
        next.push(&half(r0, r1), &half(d0, d1));
    }

    /// Completes this scale and the coarser ones; their errors, finest first.
    fn finish(mut self, out: &mut Vec<ScaleErrors>) {
        for r in self.rows..self.height + RADIUS - 1 {
            self.vertical_step(r);
        }
        if let Some((r, d)) = self.pending.take() {
            // An odd last row is averaged with itself.
            self.emit(&r, &d, &r, &d);
        }
        out.push(self.errors.averages(self.width * self.height));
        if let Some(next) = self.next.take() {
            next.finish(out);
        }
    }
}

/// What the blur kernel sums to at each of `n` positions of a line (zeros outside it).
fn kernel_sums(n: usize) -> Vec<f32> {
    let ones = vec![[1f32; LANES]; n];
    let mut out = vec![[0f32; LANES]; n];
    blur::horizontal(&ones, &mut out);
    out.iter().map(|l| l[0]).collect()
}

/// The 2×2 average of two rows (the last column paired with itself when odd).
fn half(top: &[[f32; 3]], bottom: &[[f32; 3]]) -> Row {
    let w = top.len();
    (0..w.div_ceil(2))
        .map(|ox| {
            let (x0, x1) = (2 * ox, (2 * ox + 1).min(w - 1));
            std::array::from_fn(|c| {
                (top[x0][c] + top[x1][c] + bottom[x0][c] + bottom[x1][c]) * 0.25
            })
        })
        .collect()
}

impl Sums {
    /// Adds one finished row: its blurred lanes and unblurred XYB (both shifted by
    /// [`CENTRE`]), with the kernel sums of its columns and of the row.
    fn add_row(&mut self, blurred: &[Lanes], xyb: &[[f32; 6]], kernel_x: &[f32], kernel_y: f32) {
        for c in 0..3 {
            let k = CENTRE[c];
            let mut row = [0f64; 6];
            for ((v, x), kx) in blurred
                .chunks(64)
                .zip(xyb.chunks(64))
                .zip(kernel_x.chunks(64))
            {
                let mut s = [0f32; 6];
                for ((v, x), &kx) in v.iter().zip(x).zip(kx) {
                    let (mu1, mu2) = (v[A + c], v[B + c]);
                    // With w the kernel sum, a shifted blur is the true one minus k·w:
                    // these are the true variances, covariance and edges.
                    let w = kx * kernel_y;
                    let lost_k = (1.0 - w) * k;
                    let var1 = (v[AA + c] - mu1 * mu1) + lost_k * (2.0 * mu1 + k * w);
                    let var2 = (v[BB + c] - mu2 * mu2) + lost_k * (2.0 * mu2 + k * w);
                    let cov = (v[AB + c] - mu1 * mu2) + lost_k * (mu1 + mu2 + k * w);
                    let num_m = 1.0 - (mu1 - mu2) * (mu1 - mu2);
                    let num_s = 2.0 * cov + C2;
                    let denom_s = var1 + var2 + C2;
                    let d = (1.0 - (num_m * num_s) / denom_s).max(0.0);
                    s[0] += d;
                    s[1] += (d * d) * (d * d);
                    let edge = (1.0 + (x[3 + c] - mu2 + lost_k).abs())
                        / (1.0 + (x[c] - mu1 + lost_k).abs())
                        - 1.0;
                    let artifact = edge.max(0.0);
                    let lost = (-edge).max(0.0);
                    s[2] += artifact;
                    s[3] += (artifact * artifact) * (artifact * artifact);
                    s[4] += lost;
                    s[5] += (lost * lost) * (lost * lost);
                }
                for (r, v) in row.iter_mut().zip(s) {
                    *r += f64::from(v);
                }
            }
            for (t, v) in self.0[c].iter_mut().zip(row) {
                *t += v;
            }
        }
    }

    fn averages(&self, pixels: usize) -> ScaleErrors {
        let one = 1.0 / pixels as f64;
        let mut e = ScaleErrors::default();
        for c in 0..3 {
            let s = &self.0[c];
            e.ssim[c] = [one * s[0], (one * s[1]).sqrt().sqrt()];
            e.edges[c] = [
                one * s[2],
                (one * s[3]).sqrt().sqrt(),
                one * s[4],
                (one * s[5]).sqrt().sqrt(),
            ];
        }
        e
    }
}

/// The SSIMULACRA2 score of two `width`×`height` images (both at least 8×8) given row by
/// row: `rows(y, reference, distorted)` fills row `y` of each, in linear RGB.
pub fn ssimulacra2(
    width: usize,
    height: usize,
    mut rows: impl FnMut(usize, &mut [[f32; 3]], &mut [[f32; 3]]),
) -> f64 {
    debug_assert!(width >= 8 && height >= 8);
    let mut stage = Stage::new(width, height, 0);
    let (mut a, mut b) = (vec![[0f32; 3]; width], vec![[0f32; 3]; width]);
    for y in 0..height {
        rows(y, &mut a, &mut b);
        stage.push(&a, &b);
    }
    let mut scales = Vec::with_capacity(SCALES);
    stage.finish(&mut scales);
    weights::score(&scales)
}
