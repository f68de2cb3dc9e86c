//! The benchmark's rows: how each one is measured, and the table they print.

use std::path::Path;

use crate::{exact, installed, run_tool, scores, Input};

/// SSIMULACRA2 scores of one row's outputs.
pub struct Scores(Vec<f64>);

impl Scores {
    pub fn new(mut values: Vec<f64>) -> Scores {
        values.sort_by(f64::total_cmp);
        Scores(values)
    }
    fn mean(&self) -> f64 {
        self.0.iter().sum::<f64>() / self.0.len().max(1) as f64
    }
    /// The 5th percentile (nearest rank).
    fn p5(&self) -> f64 {
        let rank = (0.05 * self.0.len() as f64).ceil().max(1.0) as usize;
        self.0.get(rank - 1).copied().unwrap_or(f64::NAN)
    }
    fn min(&self) -> f64 {
        self.0.first().copied().unwrap_or(f64::NAN)
    }
}

enum Quality {
    /// Lossless rows: whether every kept output has exactly its input's pixels.
    Exact(bool),
    Scored(Scores),
}

struct Measured {
    files: usize,
    bytes_in: u64,
    bytes_out: u64,
    /// CPU seconds for the whole row.
    cpu: f64,
    quality: Quality,
}

/// One line of the table.
pub struct Row {
    task: &'static str,
    tool: String,
    /// `None` when the tool is missing.
    result: Option<Measured>,
}

impl Row {
    /// The built-in optimizer (or a previous setting) run in-process on this thread.
    pub fn builtin(
        task: &'static str,
        tool: &str,
        inputs: &[Input],
        lossless: bool,
        f: impl Fn(&Input) -> Option<Vec<u8>>,
    ) -> Row {
        if !wanted(task) {
            return Row::skipped(task);
        }
        let start = thread_cpu();
        let outputs: Vec<Option<Vec<u8>>> = inputs.iter().map(&f).collect();
        let cpu = thread_cpu() - start;
        Row::measured(task, tool.into(), inputs, outputs, cpu, lossless)
    }

    /// A command-line tool, once per file.
    pub fn external(
        task: &'static str,
        tool: &str,
        program: &str,
        script: &str,
        inputs: &[Input],
        lossless: bool,
        work: &Path,
    ) -> Row {
        if !wanted(task) {
            return Row::skipped(task);
        }
        if !installed(program) {
            return Row {
                task,
                tool: format!("{tool} (`{program}` not installed)"),
                result: None,
            };
        }
        let out = work.join("out");
        let start = children_cpu();
        let outputs: Vec<Option<Vec<u8>>> = inputs
            .iter()
            .map(|i| run_tool(script, &i.path, &out))
            .collect();
        let cpu = children_cpu() - start;
        Row::measured(task, tool.into(), inputs, outputs, cpu, lossless)
    }

    fn skipped(task: &'static str) -> Row {
        Row {
            task,
            tool: String::new(),
            result: None,
        }
    }

    fn measured(
        task: &'static str,
        tool: String,
        inputs: &[Input],
        outputs: Vec<Option<Vec<u8>>>,
        cpu: f64,
        lossless: bool,
    ) -> Row {
        let quality = if lossless {
            Quality::Exact(exact(inputs, &outputs))
        } else {
            Quality::Scored(scores(inputs, &outputs))
        };
        let bytes_in: u64 = inputs.iter().map(|i| i.bytes.len() as u64).sum();
        let bytes_out = inputs
            .iter()
            .zip(&outputs)
            .map(|(i, o)| {
                o.as_ref()
                    .map_or(i.bytes.len(), |o| o.len().min(i.bytes.len())) as u64
            })
            .sum();
        eprintln!("measured: {task} / {tool}");
        Row {
            task,
            tool,
            result: Some(Measured {
                files: inputs.len(),
                bytes_in,
                bytes_out,
                cpu,
                quality,
            }),
        }
    }
}

/// Prints the rows as a Markdown table.
pub fn print(rows: &[Row]) {
    println!("| task | tool | files | bytes in | bytes out | saved | mean | 5th pct | min | CPU per image |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows.iter().filter(|r| wanted(r.task)) {
        let Some(m) = &r.result else {
            println!("| {} | {} | missing | | | | | | | |", r.task, r.tool);
            continue;
        };
        let scores = match &m.quality {
            Quality::Exact(true) => "exact | exact | exact".to_owned(),
            Quality::Exact(false) => "**changed pixels** | | ".to_owned(),
            Quality::Scored(s) => format!("{:.1} | {:.1} | {:.1}", s.mean(), s.p5(), s.min()),
        };
        println!(
            "| {} | {} | {} | {} | {} | {:.1} % | {scores} | {:.2} s |",
            r.task,
            r.tool,
            m.files,
            m.bytes_in,
            m.bytes_out,
            (1.0 - m.bytes_out as f64 / m.bytes_in as f64) * 100.0,
            m.cpu / m.files.max(1) as f64
        );
    }
}

/// `BENCH_ONLY=PNG` (any part of a task's name) measures only those rows.
fn wanted(task: &str) -> bool {
    std::env::var("BENCH_ONLY").map_or(true, |only| task.contains(&only))
}

fn thread_cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the struct it is given; zeroed is a valid rusage.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(u.ru_utime) + tv(u.ru_stime)
}
