//! The wire counters behind `/metrics`: calls to ShortPixel by kind and outcome, their
//! latency, and the negative codes the service answered. Fed by the ShortPixel client in
//! every process (a mutex held for a few additions per call); read only by `render`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use super::Out;
use crate::optimize::shortpixel::ApiError;

/// The process's wire counters.
pub static METRICS: Metrics = Metrics::new();

/// Upper bounds of the latency buckets, in seconds.
pub(super) const BUCKETS: [f64; 11] =
    [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// A call to the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    Upload,
    Poll,
    /// `reducer.php`: a request by URL (or a poll of a job made by URL).
    ByUrl,
    Download,
    /// api-status, for credits.
    Credits,
}

impl Call {
    fn as_str(self) -> &'static str {
        match self {
            Call::Upload => "upload",
            Call::Poll => "poll",
            Call::ByUrl => "by_url",
            Call::Download => "download",
            Call::Credits => "credits",
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    calls: BTreeMap<(Call, &'static str), u64>,
    latency: BTreeMap<Call, Histogram>,
    api_errors: BTreeMap<i64, u64>,
}

pub struct Metrics(Mutex<Counters>);

impl Metrics {
    const fn new() -> Metrics {
        Metrics(Mutex::new(Counters {
            calls: BTreeMap::new(),
            latency: BTreeMap::new(),
            api_errors: BTreeMap::new(),
        }))
    }

    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Records one call that started at `started` and ended with `result`.
pub fn observe<T, E: Outcome>(call: Call, started: Instant, result: &Result<T, E>) {
    let secs = started.elapsed().as_secs_f64();
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.outcome(),
    };
    METRICS.with(|c| {
        *c.calls.entry((call, outcome)).or_default() += 1;
        let h = c.latency.entry(call).or_default();
        h.count += 1;
        h.sum += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                h.buckets[i] += 1;
            }
        }
    });
}

/// Records a negative status code the service answered (top-level or for one file).
pub fn api_error(code: i64) {
    METRICS.with(|c| *c.api_errors.entry(code).or_default() += 1);
}

/// The `outcome` label of a failed call.
pub trait Outcome {
    fn outcome(&self) -> &'static str;
}

impl Outcome for ApiError {
    fn outcome(&self) -> &'static str {
        outcome_of(self)
    }
}

impl Outcome for crate::optimize::shortpixel::UploadError {
    fn outcome(&self) -> &'static str {
        match self {
            Self::Api { error, .. } => outcome_of(error),
            Self::File { .. } => "file_changed",
        }
    }
}

impl Outcome for crate::optimize::shortpixel::DownloadError {
    fn outcome(&self) -> &'static str {
        match self {
            Self::Api(e) => outcome_of(e),
            Self::TooLong(_) => "too_long",
        }
    }
}

fn outcome_of(e: &ApiError) -> &'static str {
    match e {
        ApiError::Transient(_) => "transient",
        ApiError::Maintenance(_) => "maintenance",
        ApiError::OutOfCredits(_) => "out_of_credits",
        ApiError::InvalidKey(_) => "invalid_key",
        ApiError::FileRejected { .. } => "rejected",
        ApiError::JobGone => "job_gone",
        ApiError::Expired => "expired",
        ApiError::Refused(_) => "refused",
    }
}

/// Writes the wire families.
pub(super) fn write(o: &mut Out) {
    METRICS.with(|c| write_counters(o, c));
}

fn write_counters(o: &mut Out, c: &Counters) {
    o.family(
        "api_requests_total",
        "counter",
        "Calls to the ShortPixel API (upload, poll, download, credits) by outcome.",
    );
    for ((call, outcome), n) in &c.calls {
        let labels = [("call", call.as_str()), ("outcome", *outcome)];
        o.sample("api_requests_total", &labels, *n as f64);
    }
    let name = "api_request_duration_seconds";
    o.family(name, "histogram", "Latency of calls to the ShortPixel API.");
    for (call, h) in &c.latency {
        for (bound, n) in BUCKETS.iter().zip(h.buckets) {
            let le = bound.to_string();
            let labels = [("call", call.as_str()), ("le", le.as_str())];
            o.sample(&format!("{name}_bucket"), &labels, n as f64);
        }
        let labels = [("call", call.as_str()), ("le", "+Inf")];
        o.sample(&format!("{name}_bucket"), &labels, h.count as f64);
        o.sample(&format!("{name}_sum"), &[("call", call.as_str())], h.sum);
        o.sample(
            &format!("{name}_count"),
            &[("call", call.as_str())],
            h.count as f64,
        );
    }
    o.family(
        "api_errors_total",
        "counter",
        "Negative status codes ShortPixel answered, by code.",
    );
    for (code, n) in &c.api_errors {
        o.sample(
            "api_errors_total",
            &[("code", &code.to_string())],
            *n as f64,
        );
    }
}
