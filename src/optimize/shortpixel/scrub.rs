//! G8 for text that came from elsewhere: a reply body, a per-item message, an error page.
//! Such text may quote the API key (a proxy's error page echoing the request, a service
//! message naming the key), and it ends up in logs, the ledger and `status`.
//!
//! The order is the guarantee: the *whole* text is scrubbed first — the key as sent and in
//! the encoded forms a server may echo it in (percent-encoded with either hex case, form
//! encoding, JSON-escaped) — and only then shortened. Shortening first could cut a key in
//! half and leave the half that no longer matches.

/// What stands in for the key.
pub const REDACTED: &str = "<api key>";

/// Keys shorter than this are not scrubbed: replacing a two-letter "key" everywhere would
/// mangle every message, and no real key is that short.
const MIN_KEY_LEN: usize = 4;

/// `text` with every form of `key` replaced by [`REDACTED`].
pub fn scrub(text: &str, key: &str) -> String {
    if key.len() < MIN_KEY_LEN {
        return text.to_string();
    }
    let mut out = text.to_string();
    for form in forms(key) {
        if out.contains(&form) {
            out = out.replace(&form, REDACTED);
        }
    }
    out
}

/// At most `max` characters of `text`, scrubbed first (see the module doc), with `…` when
/// cut.
pub fn excerpt(text: &str, key: &str, max: usize) -> String {
    let clean = scrub(text, key);
    let mut chars = clean.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// The key as sent, then its encoded forms, longest first so that no form hides inside the
/// replacement of another.
fn forms(key: &str) -> Vec<String> {
    let mut forms = vec![key.to_string()];
    let mut upper = String::new();
    let mut lower = String::new();
    let mut plus = String::new();
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            upper.push(b as char);
            lower.push(b as char);
            plus.push(b as char);
        } else {
            upper.push_str(&format!("%{b:02X}"));
            lower.push_str(&format!("%{b:02x}"));
            if b == b' ' {
                plus.push('+');
            } else {
                plus.push_str(&format!("%{b:02X}"));
            }
        }
    }
    forms.extend([upper, lower, plus]);
    if let Ok(json) = serde_json::to_string(key) {
        // Without the quotes: "a/b" may travel as a\/b or a\"b inside a JSON body.
        forms.push(json[1..json.len() - 1].to_string());
        forms.push(json[1..json.len() - 1].replace('/', "\\/"));
    }
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "Ab12/Cd34 Ef";

    #[test]
    fn a_long_body_quoting_the_key_past_the_cut_leaves_no_part_of_it() {
        // The key straddles the 120-character cut: shortening first would keep its head.
        let body = format!("{}{KEY} and more", "x".repeat(115));
        let e = excerpt(&body, KEY, 120);
        assert!(!e.contains("Ab12"), "{e}");
        assert!(e.ends_with('…'));
    }

    #[test]
    fn encoded_forms_of_the_key_are_scrubbed() {
        for form in [
            "Ab12%2FCd34%20Ef",
            "Ab12%2fCd34%20Ef",
            "Ab12%2FCd34+Ef",
            "Ab12\\/Cd34 Ef",
            KEY,
        ] {
            let s = scrub(&format!("GET /x?key={form}&y=1"), KEY);
            assert_eq!(s, format!("GET /x?key={REDACTED}&y=1"), "{form}");
        }
    }

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(excerpt("fine", KEY, 120), "fine");
        assert_eq!(scrub("no key here", "ab"), "no key here");
    }
}
