//! `public_url`: where a web server publishes a folder, so that ShortPixel can fetch each
//! image by URL (the Reducer API) instead of receiving an upload.
//!
//! [`PublicUrl::parse`] accepts only what is safe to hand to a third party and to log: an
//! http(s) URL with a host, without `user:password@`, a query or a fragment; its path is
//! normalised to end with `/`. [`PublicUrl::url_of`] is pure: it maps a file in the folder
//! to its URL by percent-encoding each path segment **from its bytes** (everything but
//! `A-Z a-z 0-9 - . _ ~`), so names that are not UTF-8 map too and two different names
//! never share a URL (G10).

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// A folder's public base URL, always ending with `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    base: String,
    host: String,
}

impl PublicUrl {
    /// Parses and normalises a base URL; the error says what is wrong, in words.
    pub fn parse(text: &str) -> Result<PublicUrl, String> {
        let mut url =
            url::Url::parse(text.trim()).map_err(|e| format!("{text:?} is not a URL ({e})"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{text:?} is not an http(s) URL"));
        }
        let Some(host) = url.host_str().map(str::to_owned) else {
            return Err(format!("{text:?} names no host"));
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not hold a user name or password: the URLs are sent to ShortPixel and \
                 shown in logs"
                    .into(),
            );
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "{text:?} has a query (?…) or fragment (#…); give the folder's base URL only"
            ));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(PublicUrl {
            base: url.to_string(),
            host,
        })
    }

    /// The base, ending with `/`.
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The host name (what the CDN domain API calls the domain).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The URL of `path`, a file under the folder `root`; `None` when `path` is not below
    /// `root` or takes a `..` step.
    pub fn url_of(&self, root: &Path, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(root).ok()?;
        let mut out = self.base.clone();
        let mut first = true;
        for component in rel.components() {
            let Component::Normal(name) = component else {
                return None;
            };
            if !first {
                out.push('/');
            }
            first = false;
            encode_segment(name.as_bytes(), &mut out);
        }
        (!first).then_some(out)
    }
}

impl std::fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.base)
    }
}

fn encode_segment(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::path::PathBuf;

    use super::*;

    fn base(s: &str) -> PublicUrl {
        PublicUrl::parse(s).unwrap()
    }

    #[test]
    fn the_base_gets_one_trailing_slash_and_keeps_its_path() {
        assert_eq!(base("https://Example.com").as_str(), "https://example.com/");
        assert_eq!(
            base("https://example.com/photos").as_str(),
            "https://example.com/photos/"
        );
        assert_eq!(
            base("http://example.com:8080/a/b/").as_str(),
            "http://example.com:8080/a/b/"
        );
        assert_eq!(base("https://example.com/photos").host(), "example.com");
    }

    #[test]
    fn what_is_unsafe_or_not_a_base_is_refused_in_words() {
        for (text, says) in [
            ("ftp://example.com/", "http(s)"),
            ("example.com/photos", "not a URL"),
            ("https://me:secret@example.com/", "password"),
            ("https://example.com/?x=1", "query"),
            ("https://example.com/#top", "fragment"),
            ("file:///srv/photos", "http(s)"),
        ] {
            let e = PublicUrl::parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn each_segment_is_percent_encoded_from_its_bytes() {
        let root = PathBuf::from("/srv/photos");
        let b = base("https://example.com/p");
        let url = |rel: &[u8]| b.url_of(&root, &root.join(OsStr::from_bytes(rel)));
        assert_eq!(
            url(b"2024/summer day.jpg").as_deref(),
            Some("https://example.com/p/2024/summer%20day.jpg")
        );
        assert_eq!(
            url("café/ü.png".as_bytes()).as_deref(),
            Some("https://example.com/p/caf%C3%A9/%C3%BC.png")
        );
        assert_eq!(
            url(b"caf\xe9.jpg").as_deref(),
            Some("https://example.com/p/caf%E9.jpg"),
            "a Latin-1 name, not UTF-8"
        );
        assert_eq!(
            url(b"a%2Fb?#&+.jpg").as_deref(),
            Some("https://example.com/p/a%252Fb%3F%23%26%2B.jpg")
        );
        assert_eq!(
            url(b"line\nbreak.jpg").as_deref(),
            Some("https://example.com/p/line%0Abreak.jpg")
        );
    }

    #[test]
    fn two_names_never_share_a_url_and_outside_paths_have_none() {
        let root = PathBuf::from("/srv/photos");
        let b = base("https://example.com/");
        let names: [&[u8]; 4] = [b"a b.jpg", b"a%20b.jpg", b"a+b.jpg", b"caf\xc3\xa9.jpg"];
        let urls: std::collections::BTreeSet<_> = names
            .iter()
            .map(|n| b.url_of(&root, &root.join(OsStr::from_bytes(n))).unwrap())
            .collect();
        assert_eq!(urls.len(), names.len());
        assert_eq!(b.url_of(&root, Path::new("/srv/other/a.jpg")), None);
        assert_eq!(b.url_of(&root, &root), None, "the folder itself is no file");
        assert_eq!(b.url_of(&root, &root.join("../x.jpg")), None);
    }
}
