//! Compares the built-in optimizer with the standard command-line tools on the same
//! generated corpus, in one run: bytes in, bytes out, reduction, the worst PSNR for lossy
//! tasks and wall time per tool.
//!
//! ```sh
//! apt-get install -y libjpeg-turbo-progs webp optipng pngquant   # the tools compared
//! cargo run --release -p shortpixel-optimizer --example bench
//! ```
//!
//! A tool that is not installed is listed as missing, never estimated. Each external tool
//! runs once per file (process start included, as a script would use it); the built-in
//! optimizer runs in-process on one thread. A result larger than its input counts as the
//! input, as the agent would keep the original.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use shortpixel_optimizer::{optimize, psnr, to_webp, Compression, Options};

/// One line of the table.
struct Row {
    task: &'static str,
    tool: String,
    /// `None` when the tool is missing.
    result: Option<Measured>,
}

struct Measured {
    files: usize,
    bytes_in: u64,
    bytes_out: u64,
    time: Duration,
    /// The worst PSNR of an output against its input (lossy tasks only).
    psnr: Option<f64>,
}

/// How an external tool is run: a shell line with `{in}` and `{out}`, and its program.
struct Tool {
    name: &'static str,
    script: &'static str,
    program: &'static str,
}

fn main() {
    let dir = std::env::temp_dir().join(format!("optimizer-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jpegs = corpus_jpeg(&dir);
    let pngs = corpus_png(&dir);
    println!(
        "corpus: {} photo-like JPEGs (1600x1200, quality 92, baseline), {} PNGs (800x600: photos and flat graphics)\n",
        jpegs.len(),
        pngs.len()
    );
    let opt = |c: Compression| {
        move |b: &[u8]| {
            let o = Options {
                compression: c,
                ..Options::default()
            };
            optimize(b, &o).unwrap().main
        }
    };
    let webp = |b: &[u8]| to_webp(b, &Options::default()).unwrap();
    let tool = |name, script, program| Tool {
        name,
        script,
        program,
    };
    let rows = vec![
        builtin(
            "JPEG lossless",
            "built-in (mozjpeg re-pack)",
            &jpegs,
            false,
            opt(Compression::Lossless),
        ),
        external(
            "JPEG lossless",
            &jpegs,
            &dir,
            false,
            tool(
                "jpegtran -copy none -optimize -progressive",
                "jpegtran -copy none -optimize -progressive {in} > {out}",
                "jpegtran",
            ),
        ),
        builtin(
            "JPEG lossy",
            "built-in lossy (mozjpeg q78)",
            &jpegs,
            true,
            opt(Compression::Lossy),
        ),
        builtin(
            "JPEG lossy",
            "built-in glossy (mozjpeg q90)",
            &jpegs,
            true,
            opt(Compression::Glossy),
        ),
        external(
            "JPEG lossy",
            &jpegs,
            &dir,
            true,
            tool(
                "djpeg + cjpeg -quality 78 -optimize -progressive",
                "djpeg {in} | cjpeg -quality 78 -optimize -progressive > {out}",
                "cjpeg",
            ),
        ),
        external(
            "JPEG lossy",
            &jpegs,
            &dir,
            true,
            tool(
                "djpeg + cjpeg -quality 90 -optimize -progressive",
                "djpeg {in} | cjpeg -quality 90 -optimize -progressive > {out}",
                "cjpeg",
            ),
        ),
        builtin(
            "PNG lossless",
            "built-in (oxipng preset 2)",
            &pngs,
            false,
            opt(Compression::Lossless),
        ),
        external(
            "PNG lossless",
            &pngs,
            &dir,
            false,
            tool(
                "oxipng -o 2 --strip safe",
                "oxipng -q -o 2 --strip safe --out {out} {in}",
                "oxipng",
            ),
        ),
        external(
            "PNG lossless",
            &pngs,
            &dir,
            false,
            tool(
                "optipng -o2 -strip all",
                "optipng -quiet -o2 -strip all -out {out} {in}",
                "optipng",
            ),
        ),
        builtin(
            "PNG lossy",
            "built-in lossy (256 colours if PSNR >= 32 dB)",
            &pngs,
            true,
            opt(Compression::Lossy),
        ),
        external(
            "PNG lossy",
            &pngs,
            &dir,
            true,
            tool(
                "pngquant --quality 70-100 --strip",
                "pngquant --force --quality 70-100 --strip --output {out} -- {in} || cp {in} {out}",
                "pngquant",
            ),
        ),
        builtin("PNG to WebP q75", "built-in (libwebp)", &pngs, true, webp),
        external(
            "PNG to WebP q75",
            &pngs,
            &dir,
            true,
            tool("cwebp -q 75", "cwebp -quiet -q 75 {in} -o {out}", "cwebp"),
        ),
    ];
    print_table(&rows);
    let _ = std::fs::remove_dir_all(&dir);
}

fn print_table(rows: &[Row]) {
    println!("| task | tool | files | bytes in | bytes out | reduction | worst PSNR | time |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        let Some(m) = &r.result else {
            println!("| {} | {} | missing | | | | | |", r.task, r.tool);
            continue;
        };
        let psnr = m
            .psnr
            .map_or("lossless".to_owned(), |p| format!("{p:.1} dB"));
        println!(
            "| {} | {} | {} | {} | {} | {:.1} % | {} | {} ms |",
            r.task,
            r.tool,
            m.files,
            m.bytes_in,
            m.bytes_out,
            (1.0 - m.bytes_out as f64 / m.bytes_in as f64) * 100.0,
            psnr,
            m.time.as_millis()
        );
    }
}

fn builtin(
    task: &'static str,
    tool: &str,
    files: &[PathBuf],
    lossy: bool,
    f: impl Fn(&[u8]) -> Vec<u8>,
) -> Row {
    let inputs: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let start = Instant::now();
    let outputs: Vec<Vec<u8>> = inputs.iter().map(|b| f(b)).collect();
    let time = start.elapsed();
    Row {
        task,
        tool: tool.into(),
        result: Some(measure(&inputs, &outputs, time, lossy)),
    }
}

fn external(task: &'static str, files: &[PathBuf], dir: &Path, lossy: bool, tool: Tool) -> Row {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {}", tool.program)])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        return Row {
            task,
            tool: format!("{} (`{}` not installed)", tool.name, tool.program),
            result: None,
        };
    }
    let outs: Vec<PathBuf> = (0..files.len())
        .map(|i| dir.join(format!("out-{i}")))
        .collect();
    for out in &outs {
        // Some tools refuse to overwrite the previous tool's output.
        let _ = std::fs::remove_file(out);
    }
    let start = Instant::now();
    for (f, out) in files.iter().zip(&outs) {
        let cmd = tool
            .script
            .replace("{in}", &f.display().to_string())
            .replace("{out}", &out.display().to_string());
        let status = Command::new("sh").args(["-c", &cmd]).status().unwrap();
        assert!(status.success(), "{cmd} failed");
    }
    let time = start.elapsed();
    let read = |p: &PathBuf| std::fs::read(p).unwrap();
    let inputs: Vec<Vec<u8>> = files.iter().map(read).collect();
    let outputs: Vec<Vec<u8>> = outs.iter().map(read).collect();
    Row {
        task,
        tool: tool.name.into(),
        result: Some(measure(&inputs, &outputs, time, lossy)),
    }
}

fn measure(inputs: &[Vec<u8>], outputs: &[Vec<u8>], time: Duration, lossy: bool) -> Measured {
    let pairs = inputs.iter().zip(outputs);
    let psnr = lossy.then(|| {
        pairs
            .clone()
            .map(|(i, o)| psnr(decode(i).as_raw(), decode(o).as_raw()))
            .fold(f64::INFINITY, f64::min)
    });
    Measured {
        files: inputs.len(),
        bytes_in: inputs.iter().map(|b| b.len() as u64).sum(),
        bytes_out: pairs.map(|(i, o)| o.len().min(i.len()) as u64).sum(),
        time,
        psnr,
    }
}

fn decode(bytes: &[u8]) -> RgbImage {
    image::load_from_memory(bytes).unwrap().to_rgb8()
}

/// Gradients, waves and a little sensor-like noise.
fn photo(w: u32, h: u32, seed: u64) -> RgbImage {
    let mut state = seed;
    let mut noise = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 56) as i32
    };
    let (a, b) = (5.0 + seed as f32, 3.0 + seed as f32 * 0.7);
    RgbImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let wave = ((fx * a).sin() * (fy * b).cos() * 50.0) as i32;
        let px = [
            (fx * 200.0) as i32 + wave,
            (fy * 170.0) as i32 + 40 - wave / 2,
            ((1.0 - fx) * 140.0 + fy * 70.0) as i32 - wave,
        ];
        Rgb(px.map(|c| (c + noise() % 9 - 4).clamp(0, 255) as u8))
    })
}

/// Flat shapes, text-like stripes and a gradient band, like a chart or a screenshot.
fn graphic(w: u32, h: u32, seed: u32) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let (cx, cy) = (x as i32 - w as i32 / 3, y as i32 - h as i32 / 2);
        if cx * cx + cy * cy < (h as i32 / 4).pow(2) {
            Rgba([200, 50 + seed as u8 * 30, 40, 255])
        } else if y < h / 8 {
            Rgba([20, 20, 20 + (x * 200 / w) as u8, 255])
        } else if (y / 6) % 3 == 0 && x > w / 2 && (x / 5) % 7 != 0 {
            Rgba([40, 40, 40, 255])
        } else {
            Rgba([245, 245, 250, 255])
        }
    })
}

fn corpus_jpeg(dir: &Path) -> Vec<PathBuf> {
    (0..6)
        .map(|i| {
            let mut out = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
                .encode_image(&photo(1600, 1200, i))
                .unwrap();
            let p = dir.join(format!("photo{i}.jpg"));
            std::fs::write(&p, out).unwrap();
            p
        })
        .collect()
}

fn corpus_png(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in 0..3u32 {
        let photo = DynamicImage::ImageRgb8(photo(800, 600, u64::from(i) + 10));
        let graphic = DynamicImage::ImageRgba8(graphic(800, 600, i));
        for (kind, img) in [("photo", photo), ("graphic", graphic)] {
            let p = dir.join(format!("{kind}{i}.png"));
            img.save_with_format(&p, ImageFormat::Png).unwrap();
            files.push(p);
        }
    }
    files
}
