//! Compares the built-in optimizer with the standard command-line tools and with its own
//! previous fixed settings, on real photographs and graphics, in one run: bytes, the
//! SSIMULACRA2 score of every output against its input (mean, 5th percentile, minimum)
//! and CPU time per image.
//!
//! ```sh
//! bash optimizer/bench/corpus.sh                       # real images from Debian packages
//! apt-get install -y libjpeg-turbo-progs webp optipng pngquant   # the tools compared
//! cargo run --release -p shortpixel-optimizer --example bench [-- CORPUS_DIR [N]]
//! ```
//!
//! The corpus (default `target/optimizer-corpus`, see `optimizer/bench/SOURCES.md`) has
//! `photos/`, each turned here into a camera-style JPEG (at most 2 megapixels, quality 92,
//! baseline, as a camera or phone writes it), and `graphics/`, PNGs used as shipped. `N`
//! keeps only N photos, spread over the sorted list, for a quicker run (the photos cost
//! most of the time);
//! `BENCH_ONLY=PNG` (any part of a task's name) runs only the matching rows.
//!
//! A tool that is not installed is listed as missing, never estimated. External tools run
//! once per file (process start included, as a script would use them); their CPU time is
//! the children's user + system time. The built-in optimizer runs in-process on one
//! thread and is timed with the thread's CPU clock. An output larger than its input counts
//! as the input (score 100), as the agent would keep the original.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{imageops::FilterType, DynamicImage};
use shortpixel_optimizer::{optimize, score, to_webp, Compression, Options};

mod previous;
mod table;

use table::{Row, Scores};

/// Photos are brought down to this many pixels at most (the issue's "≤ 2 MP" camera-style
/// corpus), keeping their aspect ratio.
const PHOTO_PIXELS: f64 = 2_000_000.0;

/// One corpus file: its bytes as the tools get them, and the pixels they must keep.
struct Input {
    path: PathBuf,
    bytes: Vec<u8>,
    pixels: DynamicImage,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(
        args.next()
            .unwrap_or_else(|| "target/optimizer-corpus".into()),
    );
    let limit: usize = args.next().map_or(usize::MAX, |n| n.parse().expect("N"));
    let work = std::env::temp_dir().join(format!("optimizer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("a work dir");
    let photos = load(&corpus.join("photos"), limit, &work, true);
    let graphics = load(&corpus.join("graphics"), usize::MAX, &work, false);
    let alpha = graphics
        .iter()
        .filter(|g| g.pixels.to_rgba8().pixels().any(|p| p[3] < 255))
        .count();
    println!(
        "corpus: {} photos as ≤ 2 MP JPEGs at quality 92, {} PNG graphics ({alpha} with transparency), from {}\n",
        photos.len(),
        graphics.len(),
        corpus.display()
    );
    // `fixed_settings`: the fixed qualities the floors replaced, kept for the emulator.
    let run = |c: Compression, fixed_settings: bool| {
        move |i: &Input| {
            let o = Options {
                compression: c,
                fixed_settings,
                ..Options::default()
            };
            optimize(&i.bytes, &o).map(|o| o.main).ok()
        }
    };
    let builtin = |c: Compression| run(c, false);
    let fixed = |c: Compression| run(c, true);
    let webp = |c: Compression| {
        move |i: &Input| {
            let o = Options {
                compression: c,
                ..Options::default()
            };
            to_webp(&i.bytes, &o).ok()
        }
    };
    let out = work.as_path();
    let rows = vec![
        Row::builtin(
            "JPEG lossless",
            "built-in (mozjpeg re-pack)",
            &photos,
            true,
            builtin(Compression::Lossless),
        ),
        Row::external(
            "JPEG lossless",
            "jpegtran -optimize -progressive",
            "jpegtran",
            "jpegtran -copy none -optimize -progressive {in} > {out}",
            &photos,
            true,
            out,
        ),
        Row::builtin(
            "JPEG lossy",
            "built-in lossy (floor 70)",
            &photos,
            false,
            builtin(Compression::Lossy),
        ),
        Row::builtin(
            "JPEG lossy",
            "previous: mozjpeg q78",
            &photos,
            false,
            fixed(Compression::Lossy),
        ),
        Row::external(
            "JPEG lossy",
            "djpeg | cjpeg -quality 78",
            "cjpeg",
            "djpeg {in} | cjpeg -quality 78 -optimize -progressive > {out}",
            &photos,
            false,
            out,
        ),
        Row::builtin(
            "JPEG glossy",
            "built-in glossy (floor 83)",
            &photos,
            false,
            builtin(Compression::Glossy),
        ),
        Row::builtin(
            "JPEG glossy",
            "previous: mozjpeg q90",
            &photos,
            false,
            fixed(Compression::Glossy),
        ),
        Row::external(
            "JPEG glossy",
            "djpeg | cjpeg -quality 90",
            "cjpeg",
            "djpeg {in} | cjpeg -quality 90 -optimize -progressive > {out}",
            &photos,
            false,
            out,
        ),
        Row::builtin(
            "PNG lossless",
            "built-in (oxipng preset 2)",
            &graphics,
            true,
            builtin(Compression::Lossless),
        ),
        Row::external(
            "PNG lossless",
            "oxipng -o 2",
            "oxipng",
            "oxipng -q -o 2 --strip safe --out {out} {in}",
            &graphics,
            true,
            out,
        ),
        Row::external(
            "PNG lossless",
            "optipng -o2",
            "optipng",
            "optipng -quiet -o2 -strip all -out {out} {in}",
            &graphics,
            true,
            out,
        ),
        Row::builtin(
            "PNG lossy",
            "built-in lossy (floor 70)",
            &graphics,
            false,
            builtin(Compression::Lossy),
        ),
        Row::builtin(
            "PNG lossy",
            "previous: 256 colours if PSNR ≥ 32 dB",
            &graphics,
            false,
            |i| previous::png(&i.bytes, 32.0),
        ),
        Row::external(
            "PNG lossy",
            "pngquant --quality 65-80",
            "pngquant",
            "pngquant --force --quality 65-80 --strip --output {out} -- {in} || cp {in} {out}",
            &graphics,
            false,
            out,
        ),
        Row::builtin(
            "PNG glossy",
            "built-in glossy (floor 83)",
            &graphics,
            false,
            builtin(Compression::Glossy),
        ),
        Row::builtin(
            "PNG glossy",
            "previous: 256 colours if PSNR ≥ 37 dB",
            &graphics,
            false,
            |i| previous::png(&i.bytes, 37.0),
        ),
        Row::builtin(
            "photo → WebP lossy",
            "built-in (floor 70)",
            &photos,
            false,
            webp(Compression::Lossy),
        ),
        Row::builtin(
            "photo → WebP lossy",
            "previous: libwebp q75",
            &photos,
            false,
            |i| previous::webp(i, 75.0),
        ),
        Row::external(
            "photo → WebP lossy",
            "cwebp -q 75",
            "cwebp",
            "cwebp -quiet -q 75 {in} -o {out}",
            &photos,
            false,
            out,
        ),
        Row::builtin(
            "PNG → WebP lossy",
            "built-in (floor 70)",
            &graphics,
            false,
            webp(Compression::Lossy),
        ),
        Row::builtin(
            "PNG → WebP lossy",
            "previous: libwebp q75",
            &graphics,
            false,
            |i| previous::webp(i, 75.0),
        ),
        Row::external(
            "PNG → WebP lossy",
            "cwebp -q 75",
            "cwebp",
            "cwebp -quiet -q 75 {in} -o {out}",
            &graphics,
            false,
            out,
        ),
    ];
    table::print(&rows);
    let _ = std::fs::remove_dir_all(&work);
}

/// Reads a corpus folder (sorted, first `limit` files). Photos are decoded, brought to at
/// most [`PHOTO_PIXELS`] and saved as baseline quality-92 JPEGs in `work`; graphics are
/// used as they are.
fn load(dir: &Path, limit: usize, work: &Path, photo: bool) -> Vec<Input> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}; build the corpus first: bash optimizer/bench/corpus.sh",
                dir.display()
            )
        })
        .map(|e| e.expect("a directory entry").path())
        .collect();
    paths.sort();
    if limit < paths.len() {
        // Spread over the sorted list, so every package stays represented.
        let all = std::mem::take(&mut paths);
        paths = (0..limit)
            .map(|i| all[i * all.len() / limit].clone())
            .collect();
    }
    paths
        .into_iter()
        .map(|path| {
            let img = image::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if !photo {
                let bytes = std::fs::read(&path).expect("readable");
                return Input {
                    path,
                    bytes,
                    pixels: img,
                };
            }
            let (w, h) = (f64::from(img.width()), f64::from(img.height()));
            let s = (PHOTO_PIXELS / (w * h)).sqrt().min(1.0);
            let img = if s < 1.0 {
                let (nw, nh) = ((w * s).floor() as u32, (h * s).floor() as u32);
                img.resize_exact(nw, nh, FilterType::Lanczos3)
            } else {
                img
            };
            let mut bytes = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 92)
                .encode_image(&img.to_rgb8())
                .expect("encodes");
            let name = path.file_stem().expect("a name").to_string_lossy();
            let path = work.join(format!("{name}.jpg"));
            std::fs::write(&path, &bytes).expect("writable");
            let pixels = image::load_from_memory(&bytes).expect("decodes");
            Input {
                path,
                bytes,
                pixels,
            }
        })
        .collect()
}

/// Runs `script` with `{in}` and `{out}` replaced; `None` when it fails.
fn run_tool(script: &str, input: &Path, output: &Path) -> Option<Vec<u8>> {
    let _ = std::fs::remove_file(output);
    let cmd = script
        .replace("{in}", &input.display().to_string())
        .replace("{out}", &output.display().to_string());
    let status = Command::new("sh").args(["-c", &cmd]).status().ok()?;
    status
        .success()
        .then(|| std::fs::read(output).ok())
        .flatten()
}

/// Whether `program` is on the PATH.
fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The scores of `outputs` against their inputs' pixels (an output that does not decode
/// or has other dimensions scores 0; one that is not smaller scores 100, as the original
/// is kept).
fn scores(inputs: &[Input], outputs: &[Option<Vec<u8>>]) -> Scores {
    let values = inputs
        .iter()
        .zip(outputs)
        .map(|(i, o)| match o {
            Some(o) if o.len() < i.bytes.len() => image::load_from_memory(o)
                .map(|d| score(&i.pixels, &d))
                .unwrap_or(0.0),
            _ => 100.0,
        })
        .collect();
    Scores::new(values)
}

/// Whether every output that would be kept decodes to exactly its input's pixels.
fn exact(inputs: &[Input], outputs: &[Option<Vec<u8>>]) -> bool {
    inputs.iter().zip(outputs).all(|(i, o)| match o {
        Some(o) if o.len() < i.bytes.len() => {
            image::load_from_memory(o).is_ok_and(|d| d.to_rgba8() == i.pixels.to_rgba8())
        }
        _ => true,
    })
}
