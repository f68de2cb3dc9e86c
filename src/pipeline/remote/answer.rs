//! What each answer means for a work (SPEC §4): [`answer`] reads one item of a reply — to
//! an upload or to a poll — and says what it calls for; [`select`] picks the results to
//! fetch. Both are pure, so every code's reaction is tested without a server. A hiccup in a
//! poll's answer asks about the same job again and never uploads it again (G4); only the
//! service losing the job (-102), or holding a damaged copy, calls for a new upload.

use crate::config::{Compression, Convert, FolderSettings};
use crate::optimize::shortpixel::{wire::Item, ApiError};

/// What to download for a finished item.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Selection {
    /// `None`: the service could not make it smaller.
    pub main: Option<(String, u64)>,
    pub extras: Vec<(Convert, String, u64)>,
}

/// What one item means for its work.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Answer {
    /// Finished: fetch these.
    Ready {
        url: String,
        sel: Selection,
    },
    /// Scheduled or still processing: ask again later.
    Pending {
        url: String,
    },
    /// Ask about the same job again: a passing problem with this answer.
    PollAgain(String),
    /// The service has no usable job for these bytes (it lost the job, got a damaged copy,
    /// said nothing of the file): only a new upload helps.
    UploadAgain(String),
    /// The image itself was refused: a verdict on the content.
    Refused(String),
    OutOfCredits(String),
    InvalidKey(String),
}

/// Reads `item` (`None`: the reply said nothing of this work) as the answer to an upload of
/// `size` bytes, or to a poll of the job `polled`.
pub(super) fn answer(
    item: Option<&Item>,
    polled: Option<&str>,
    settings: &FolderSettings,
    size: u64,
) -> Answer {
    // A hiccup: a poll asks again about the same job, never uploads (G4).
    let hiccup = |why: String| match polled {
        Some(_) => Answer::PollAgain(why),
        None => Answer::UploadAgain(why),
    };
    let Some(item) = item else {
        return hiccup("the service's answer said nothing of this file".into());
    };
    match item.code {
        1 | 2 => {
            let Some(url) = item.original_url.clone() else {
                return hiccup("the service's answer lacked the OriginalURL".into());
            };
            if let Some(got) = item.original_size.filter(|s| *s != size) {
                // An upload damaged on the way, or (by URL) other bytes at the file's URL.
                return Answer::UploadAgain(format!(
                    "ShortPixel's copy is not this file: it has {got} bytes, the file {size}"
                ));
            }
            match (item.code, select(item, settings, size)) {
                (2, Some(sel)) => Answer::Ready { url, sel },
                _ => Answer::Pending { url },
            }
        }
        code if code < 0 => match ApiError::from_code(code, &item.message) {
            e @ ApiError::FileRejected { .. } => Answer::Refused(e.to_string()),
            e @ ApiError::OutOfCredits(_) => Answer::OutOfCredits(e.to_string()),
            e @ ApiError::InvalidKey(_) => Answer::InvalidKey(e.to_string()),
            e @ ApiError::JobGone => Answer::UploadAgain(e.to_string()),
            e => hiccup(e.to_string()),
        },
        other => hiccup(format!("the service answered an unknown status {other}")),
    }
}

/// Picks the URLs the settings ask for; `None` when the item is not really finished (a
/// Code 2 with sizes missing, the "API waiting bug").
pub(super) fn select(item: &Item, s: &FolderSettings, orig_size: u64) -> Option<Selection> {
    let lossless = s.compression == Compression::Lossless;
    let pick = |lossy: (&Option<String>, Option<u64>),
                lossless_: (&Option<String>, Option<u64>)| {
        if lossless {
            (lossless_.0.clone(), lossless_.1)
        } else {
            (lossy.0.clone(), lossy.1)
        }
    };
    let (url, size) = pick(
        (&item.lossy_url, item.lossy_size),
        (&item.lossless_url, item.lossless_size),
    );
    let size = size.filter(|s| *s > 0)?;
    let url = url?;
    let not_smaller = item.percent == Some(0.0) || size >= orig_size;
    let mut extras = Vec::new();
    for c in &s.convert {
        let (u, sz) = match c {
            Convert::Webp => pick(
                (&item.webp_lossy_url, item.webp_lossy_size),
                (&item.webp_lossless_url, item.webp_lossless_size),
            ),
            Convert::Avif => pick(
                (&item.avif_lossy_url, item.avif_lossy_size),
                (&item.avif_lossless_url, item.avif_lossless_size),
            ),
        };
        match (u, sz.filter(|s| *s > 0)) {
            (Some(u), Some(sz)) => extras.push((*c, u, sz)),
            (Some(_), None) => return None,
            (None, _) => {} // the service made none (e.g. it would be bigger)
        }
    }
    Some(Selection {
        main: if not_smaller { None } else { Some((url, size)) },
        extras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(convert: Vec<Convert>, compression: Compression) -> FolderSettings {
        FolderSettings {
            compression,
            convert,
            keep_exif: false,
            resize: None,
        }
    }

    fn done(lossy: u64) -> Item {
        Item {
            code: 2,
            original_url: Some("http://sp/o1".into()),
            original_size: Some(1000),
            lossy_url: Some("http://sp/l".into()),
            lossless_url: Some("http://sp/ll".into()),
            lossy_size: Some(lossy),
            lossless_size: Some(900),
            webp_lossy_url: Some("http://sp/w".into()),
            webp_lossy_size: Some(300),
            percent: Some(60.0),
            ..Item::default()
        }
    }

    #[test]
    fn urls_are_chosen_by_compression_and_asked_extras() {
        let s = settings(vec![], Compression::Lossy);
        let sel = select(&done(400), &s, 1000).unwrap();
        assert_eq!(sel.main, Some(("http://sp/l".into(), 400)));
        assert!(sel.extras.is_empty(), "WebP not asked for");

        let s = settings(vec![Convert::Webp], Compression::Lossless);
        let sel = select(&done(400), &s, 1000).unwrap();
        assert_eq!(sel.main, Some(("http://sp/ll".into(), 900)));
        // Lossless WebP was not made: none to fetch, the main result still counts.
        assert!(sel.extras.is_empty());

        let s = settings(vec![Convert::Webp], Compression::Glossy);
        let sel = select(&done(400), &s, 1000).unwrap();
        assert_eq!(
            sel.extras,
            vec![(Convert::Webp, "http://sp/w".to_string(), 300)]
        );
    }

    #[test]
    fn a_result_not_smaller_is_not_fetched_and_missing_sizes_mean_not_done() {
        let s = settings(vec![], Compression::Lossy);
        assert_eq!(select(&done(1000), &s, 1000).unwrap().main, None);
        let mut zero = done(400);
        zero.percent = Some(0.0);
        assert_eq!(select(&zero, &s, 1000).unwrap().main, None);
        // The "API waiting bug": Code 2 without sizes is still pending.
        assert_eq!(select(&done(0), &s, 1000), None);
        let mut webp_unsized = done(400);
        webp_unsized.webp_lossy_size = None;
        let s = settings(vec![Convert::Webp], Compression::Lossy);
        assert_eq!(select(&webp_unsized, &s, 1000), None);
        assert!(matches!(
            answer(Some(&webp_unsized), Some("u"), &s, 1000),
            Answer::Pending { .. }
        ));
    }

    #[test]
    fn every_code_has_its_reaction_and_a_poll_never_uploads_on_a_hiccup() {
        let s = settings(vec![], Compression::Lossy);
        let coded = |code: i64| Item {
            code,
            message: "m".into(),
            original_url: Some("http://sp/o1".into()),
            ..Item::default()
        };
        let up = |it: &Item| answer(Some(it), None, &s, 1000);
        let poll = |it: &Item| answer(Some(it), Some("http://sp/o1"), &s, 1000);

        assert!(matches!(up(&done(400)), Answer::Ready { .. }));
        assert!(matches!(up(&coded(1)), Answer::Pending { .. }));
        for c in [-201, -202, -111] {
            assert!(matches!(poll(&coded(c)), Answer::Refused(_)), "{c}");
        }
        for c in [-403, -301] {
            assert!(matches!(up(&coded(c)), Answer::OutOfCredits(_)), "{c}");
        }
        assert!(matches!(poll(&coded(-401)), Answer::InvalidKey(_)));
        // -102 on a poll: the job is gone, only an upload helps.
        assert!(matches!(poll(&coded(-102)), Answer::UploadAgain(_)));
        // Passing trouble: a poll asks again, an upload sends again.
        for c in [-404, -500, -112, -303, -305, 7] {
            assert!(matches!(poll(&coded(c)), Answer::PollAgain(_)), "{c}");
            assert!(matches!(up(&coded(c)), Answer::UploadAgain(_)), "{c}");
        }
        assert!(matches!(
            answer(None, Some("http://sp/o1"), &s, 1000),
            Answer::PollAgain(_)
        ));
        let mut no_url = coded(1);
        no_url.original_url = None;
        assert!(matches!(poll(&no_url), Answer::PollAgain(_)));
        // The service holds a damaged copy (or, by URL, other bytes): a new upload is the
        // only fix, and the reason names both sizes.
        let mut damaged = coded(1);
        damaged.original_size = Some(999);
        match poll(&damaged) {
            Answer::UploadAgain(why) => {
                assert!(why.contains("999 bytes") && why.contains("1000"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }
}
