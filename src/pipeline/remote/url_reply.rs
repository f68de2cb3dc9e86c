//! What a reply by URL says about one file: **trust but verify**. ShortPixel fetched the
//! image from the web server, which may not serve what the folder holds (a stale copy, a
//! CDN cache, a page asking to log in), so a job counts for the file only when ShortPixel
//! fetched exactly as many bytes as the file holds. Otherwise, and when it could not fetch
//! the URL at all or refused what it fetched, the file is uploaded instead: the upload is
//! what the folder holds. Codes about credits, the key or a passing problem keep the
//! reactions they have for uploads (`answer.rs`). Pure, so each case is tested here.
//!
//! The size check is only worth something where an edit changes the size: an uncompressed
//! image (BMP, TIFF) keeps its size through any edit that keeps its dimensions, so a stale
//! copy at its URL would pass for the file. Those are always uploaded
//! ([`size_tells_content`]).

use crate::content::Format;
use crate::optimize::shortpixel::{wire::Item, ApiError};

/// Whether a fetch of the file's size can be trusted to be the file: not for formats whose
/// size does not change with the content.
pub(super) fn size_tells_content(format: Format) -> bool {
    !matches!(format, Format::Bmp | Format::Tiff)
}

/// What the reply means for one work.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Reply {
    /// A job for the file's own bytes (`by_url::record` records it before the flow sees it).
    Recorded(Item),
    /// An answer the usual reactions handle (credits, key, a passing problem); `None`: the
    /// reply said nothing of this URL.
    Answer(Option<Item>),
    /// Upload it instead; `unreachable`: ShortPixel could not fetch the URL at all.
    UploadInstead { why: String, unreachable: bool },
    /// The file changed while ShortPixel fetched it: set aside as new content (done).
    Changed,
    /// The request failed as a whole.
    Failed(ApiError),
}

/// What one item says about a file of `size` bytes at `url` (pure). A job counts only when
/// ShortPixel fetched exactly `size` bytes.
pub(super) fn judge(item: Option<&Item>, path: &str, url: &str, size: u64) -> Reply {
    let Some(item) = item else {
        return Reply::Answer(None);
    };
    match item.code {
        1 | 2 => match item.original_size {
            Some(got) if got == size => Reply::Recorded(item.clone()),
            got => {
                let got = got.map_or("an unknown number of".to_string(), |n| n.to_string());
                Reply::UploadInstead {
                    why: format!(
                        "the web server serves other bytes for {path} than the folder holds: ShortPixel fetched {got} bytes from {url}, the file has {size}"
                    ),
                    unreachable: false,
                }
            }
        },
        code if code < 0 => match ApiError::from_code(code, &item.message) {
            ApiError::JobGone => Reply::UploadInstead {
                why: fetch_failure(code, &item.message),
                unreachable: true,
            },
            // -108: the domain belongs to another account; -113: too many URLs of the
            // domain were unreachable. Both are about the web server, not the image.
            ApiError::FileRejected { .. } if matches!(code, -108 | -113) => {
                Reply::UploadInstead {
                    why: fetch_failure(code, &item.message),
                    unreachable: true,
                }
            }
            // A verdict on what the web server served, which may not be the file: the
            // file's own bytes get their verdict from an upload.
            ApiError::FileRejected { message, .. } => Reply::UploadInstead {
                why: format!(
                    "ShortPixel refused what the web server serves for {path} at {url} ({message}, {code})"
                ),
                unreachable: false,
            },
            _ => Reply::Answer(Some(item.clone())),
        },
        _ => Reply::Answer(Some(item.clone())),
    }
}

fn fetch_failure(code: i64, message: &str) -> String {
    let what = match code {
        -102 => "the URL is invalid or answers 404",
        -106 => "the URL is not reachable from ShortPixel",
        -108 => "the domain is associated with another ShortPixel account",
        _ => "too many URLs of the domain were unreachable",
    };
    if message.is_empty() {
        format!("{what} ({code})")
    } else {
        format!("{what}: {message} ({code})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(code: i64, size: Option<u64>) -> Item {
        Item {
            code,
            message: "m".into(),
            original_url: Some("http://w/a.jpg".into()),
            original_size: size,
            ..Item::default()
        }
    }

    fn judged(it: &Item) -> Reply {
        judge(Some(it), "/p/a.jpg", "http://w/a.jpg", 1000)
    }

    #[test]
    fn a_job_counts_only_for_as_many_bytes_as_the_file_holds() {
        assert!(matches!(judged(&item(2, Some(1000))), Reply::Recorded(_)));
        assert!(matches!(judged(&item(1, Some(1000))), Reply::Recorded(_)));
        for other in [Some(999), Some(1001), None] {
            match judged(&item(2, other)) {
                Reply::UploadInstead { why, unreachable } => {
                    assert!(!unreachable);
                    assert!(why.contains("serves other bytes for /p/a.jpg"), "{why}");
                }
                r => panic!("{other:?}: {r:?}"),
            }
        }
    }

    #[test]
    fn unreachable_urls_and_refused_bytes_go_to_upload_other_codes_keep_their_reaction() {
        for code in [-102, -106, -108, -113] {
            assert!(
                matches!(
                    judged(&item(code, None)),
                    Reply::UploadInstead {
                        unreachable: true,
                        ..
                    }
                ),
                "{code}"
            );
        }
        for code in [-201, -202, -111] {
            assert!(
                matches!(
                    judged(&item(code, None)),
                    Reply::UploadInstead {
                        unreachable: false,
                        ..
                    }
                ),
                "{code}"
            );
        }
        for code in [-403, -301, -401, -404, -500, -203] {
            assert!(
                matches!(judged(&item(code, None)), Reply::Answer(Some(_))),
                "{code}"
            );
        }
        assert_eq!(judge(None, "/p", "u", 1), Reply::Answer(None));
    }
}
