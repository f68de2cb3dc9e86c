//! G10: file names are bytes. A Unix file name is any byte string without `/` or NUL; it
//! need not be UTF-8. The ledger stores and orders paths by their bytes ([`bytes`],
//! [`from_bytes`]), so two names never share a record; people and JSON get them escaped
//! ([`shown`]), so every name is listed exactly and no two names look alike.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A path as the ledger stores and orders it: its bytes.
pub fn bytes(p: &Path) -> &[u8] {
    p.as_os_str().as_bytes()
}

/// A path from the bytes the ledger stored.
pub fn from_bytes(b: Vec<u8>) -> PathBuf {
    PathBuf::from(OsString::from_vec(b))
}

/// `path` relative to `base`, as [`Path::strip_prefix`] answers it, but found by comparing
/// bytes first: asked of every file of every scan, where the paths are `base` joined with
/// names, and the component-by-component comparison costs more than the stat.
pub fn below<'a>(path: &'a Path, base: &Path) -> Option<&'a Path> {
    let (p, b) = (bytes(path), bytes(base));
    let tail = match p.strip_prefix(b) {
        Some([]) => Some(&[][..]),
        Some([b'/', tail @ ..]) if !tail.starts_with(b"/") => Some(tail),
        Some(tail) if b.ends_with(b"/") && !tail.starts_with(b"/") => Some(tail),
        _ => None,
    };
    match tail {
        Some(t) if !t.split(|&c| c == b'/').any(|c| c == b"." || c == b"..") => {
            Some(Path::new(std::ffi::OsStr::from_bytes(t)))
        }
        // Anything unusual (a `.` component, doubled slashes): as the standard library says.
        _ => path.strip_prefix(base).ok(),
    }
}

/// A path for people and JSON: UTF-8 as it is, except that a backslash is doubled, control
/// characters are written `\n`, `\t`, `\r` or `\xNN`, and bytes that are not UTF-8 are
/// written `\xNN`. Reversible, so two different names are never shown alike.
pub fn shown(p: &Path) -> String {
    let mut out = String::with_capacity(p.as_os_str().len());
    for chunk in bytes(p).utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The path [`shown`] wrote; `None` for text it cannot have written.
pub fn parse_shown(s: &str) -> Option<PathBuf> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let (&e, tail) = rest.split_first()?;
        rest = tail;
        match e {
            b'\\' => out.push(b'\\'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'x' => {
                let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &rest[2..];
            }
            _ => return None,
        }
    }
    Some(from_bytes(out))
}

/// For `#[serde(serialize_with = "names::serialize")]` on path fields: [`shown`].
pub fn serialize<S: serde::Serializer>(p: &Path, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&shown(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_answers_as_strip_prefix_does() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"/p/a/b.jpg", b"/p"),
            (b"/p/a/b.jpg", b"/p/"),
            (b"/p/a/b.jpg", b"/p/a/b.jpg"),
            (b"/p/a/b.jpg", b"/"),
            (b"/pa/b.jpg", b"/p"),
            (b"/p/a//b.jpg", b"/p"),
            (b"/p//a/b.jpg", b"/p"),
            (b"/p/./a/b.jpg", b"/p"),
            (b"/p/a/../b.jpg", b"/p"),
            (b"/p/a/.b.jpg", b"/p"),
            (b"/p/a/b.jpg/", b"/p"),
            (b"/p/\xff/\xfe.jpg", b"/p"),
            (b"/p/a/b.jpg", b"/q"),
            (b"p/a.jpg", b"p"),
        ];
        for (path, base) in cases {
            let (path, base) = (from_bytes(path.to_vec()), from_bytes(base.to_vec()));
            assert_eq!(
                below(&path, &base),
                path.strip_prefix(&base).ok(),
                "{} below {}",
                shown(&path),
                shown(&base)
            );
        }
    }

    #[test]
    fn names_that_are_not_utf8_are_shown_escaped_and_distinct() {
        let a = from_bytes(b"/p/\xff\xfe.jpg".to_vec());
        let b = from_bytes(b"/p/\xfe\xff.jpg".to_vec());
        assert_eq!(shown(&a), "/p/\\xff\\xfe.jpg");
        assert_eq!(shown(&b), "/p/\\xfe\\xff.jpg");
        assert_ne!(bytes(&a), bytes(&b));
    }

    #[test]
    fn what_is_shown_parses_back_to_the_same_bytes() {
        for name in [
            &b"/p/\xff\xfe.jpg"[..],
            b"/p/a\nb\\c\t.jpg",
            b"/p/\x1b[0m \xc3\xa9.png",
            "/p/é ü.png".as_bytes(),
        ] {
            let p = from_bytes(name.to_vec());
            assert_eq!(parse_shown(&shown(&p)).as_deref(), Some(p.as_path()));
        }
        assert_eq!(parse_shown("/p/bad\\q"), None);
        assert_eq!(parse_shown("/p/bad\\x4"), None);
    }

    #[test]
    fn control_characters_and_backslashes_cannot_pass_for_each_other() {
        assert_eq!(shown(Path::new("/p/a\nb.jpg")), "/p/a\\nb.jpg");
        assert_eq!(shown(Path::new("/p/a\\nb.jpg")), "/p/a\\\\nb.jpg");
        assert_eq!(shown(Path::new("/p/é ü.png")), "/p/é ü.png");
        assert_eq!(shown(Path::new("/p/\u{1b}[31m.png")), "/p/\\x1b[31m.png");
    }
}
