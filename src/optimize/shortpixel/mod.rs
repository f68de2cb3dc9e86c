//! The ShortPixel backend: the wire format, the HTTP client, and what each status code
//! means for the agent (SPEC §4). The pipeline decides what to do with a file; this module
//! only tells it which kind of failure happened.

pub mod by_url;
pub mod client;
pub mod domain;
pub mod scrub;
pub mod wire;

pub use client::{retry, Client, Credits, UploadFile};

/// Every failure the service can report, grouped by the reaction it calls for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// Queue full, server error, timeout, dropped connection: retry with backoff.
    #[error("{0}")]
    Transient(String),
    /// Maintenance (-500): retry, waiting longer.
    #[error("ShortPixel is in maintenance: {0}")]
    Maintenance(String),
    /// Quota exhausted (-403) or file larger than what is left (-301): pause uploads and
    /// watch api-status until credits return.
    #[error("out of ShortPixel credits: {0}")]
    OutOfCredits(String),
    /// The key was refused (-401): nothing will work until the user fixes it.
    #[error("ShortPixel says the API key is invalid ({0}); check api_key / api_key_file / SHORTPIXEL_API_KEY")]
    InvalidKey(String),
    /// The image itself was refused (-201, -202, -111…): retrying will not help.
    #[error("ShortPixel refused the image: {message} ({code})")]
    FileRejected { code: i64, message: String },
    /// A polled job is unknown to the service (-102, -106): upload the file again.
    #[error("ShortPixel no longer knows this job")]
    JobGone,
    /// A download URL expired (-302): poll the job again for fresh URLs.
    #[error("the download link expired")]
    Expired,
    /// A request the service will never accept as sent.
    #[error("{0}")]
    Fatal(String),
}

impl ApiError {
    /// Classifies a negative status code (top-level or per item).
    pub fn from_code(code: i64, message: &str) -> ApiError {
        let m = if message.is_empty() {
            format!("code {code}")
        } else {
            message.to_string()
        };
        match code {
            -401 => ApiError::InvalidKey(m),
            -403 | -301 => ApiError::OutOfCredits(m),
            -500 => ApiError::Maintenance(m),
            -404 | -112 | -303 | -304 | -305 | -110 | -109 | -115 | -203 => {
                ApiError::Transient(format!("ShortPixel: {m} ({code})"))
            }
            -102 | -106 => ApiError::JobGone,
            -302 => ApiError::Expired,
            -107 => ApiError::Fatal(format!("ShortPixel refused the request: {m} ({code})")),
            _ => ApiError::FileRejected { code, message: m },
        }
    }

    pub fn from_http(status: u16) -> ApiError {
        match status {
            429 | 500..=599 | 408 => {
                ApiError::Transient(format!("ShortPixel answered HTTP {status}"))
            }
            _ => ApiError::Fatal(format!("ShortPixel answered HTTP {status}")),
        }
    }

    pub fn is_transient(&self) -> bool {
        matches!(self, ApiError::Transient(_) | ApiError::Maintenance(_))
    }

    pub fn is_maintenance(&self) -> bool {
        matches!(self, ApiError::Maintenance(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_code_has_a_reaction() {
        for c in [-404, -112, -303, -305, -500] {
            assert!(ApiError::from_code(c, "x").is_transient(), "{c}");
        }
        assert!(matches!(
            ApiError::from_code(-403, ""),
            ApiError::OutOfCredits(_)
        ));
        assert!(matches!(
            ApiError::from_code(-301, ""),
            ApiError::OutOfCredits(_)
        ));
        assert!(matches!(
            ApiError::from_code(-401, ""),
            ApiError::InvalidKey(_)
        ));
        for c in [-201, -202, -111, -105, -108, -113] {
            assert!(
                matches!(ApiError::from_code(c, ""), ApiError::FileRejected { .. }),
                "{c}"
            );
        }
        assert_eq!(ApiError::from_code(-102, ""), ApiError::JobGone);
        assert_eq!(ApiError::from_code(-302, ""), ApiError::Expired);
        assert!(ApiError::from_http(503).is_transient());
        assert!(!ApiError::from_http(400).is_transient());
    }
}
