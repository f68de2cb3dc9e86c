//! The shapes ShortPixel really sends (see the wire notes): a JSON array of items on
//! success, a `{"Status": ...}` object on refusal; numbers as strings or numbers; misspelt
//! lossless size fields; `"NA"` for variants not asked for. Parsing is deliberately lenient.

use serde_json::Value;

/// One file's entry in a reply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    pub code: i64,
    pub message: String,
    /// `file1`… on upload replies: which part this answers.
    pub key: Option<String>,
    pub original_url: Option<String>,
    pub original_size: Option<u64>,
    pub lossy_url: Option<String>,
    pub lossless_url: Option<String>,
    pub webp_lossy_url: Option<String>,
    pub webp_lossless_url: Option<String>,
    pub avif_lossy_url: Option<String>,
    pub avif_lossless_url: Option<String>,
    pub lossy_size: Option<u64>,
    pub lossless_size: Option<u64>,
    pub webp_lossy_size: Option<u64>,
    pub webp_lossless_size: Option<u64>,
    pub avif_lossy_size: Option<u64>,
    pub avif_lossless_size: Option<u64>,
    pub percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Items(Vec<Item>),
    /// A top-level refusal: bad key, quota, queue full, maintenance…
    Refused {
        code: i64,
        message: String,
    },
}

/// A body that is not a reply. It carries no text of the body: the caller quotes it only
/// after scrubbing it (see `scrub`), because an error page may echo the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAReply {
    NotJson,
    Unexpected,
}

/// Parses a reply body.
pub fn parse(body: &str) -> Result<Reply, NotAReply> {
    let v: Value = serde_json::from_str(body.trim()).map_err(|_| NotAReply::NotJson)?;
    match v {
        Value::Array(items) => Ok(Reply::Items(items.iter().map(item).collect())),
        Value::Object(ref o) if o.contains_key("Status") && !o.contains_key("OriginalURL") => {
            let (code, message) = status(&v);
            Ok(Reply::Refused { code, message })
        }
        Value::Object(_) => Ok(Reply::Items(vec![item(&v)])),
        _ => Err(NotAReply::Unexpected),
    }
}

fn status(v: &Value) -> (i64, String) {
    let s = &v["Status"];
    let code = number(&s["Code"]).map(|c| c as i64).unwrap_or(0);
    let message = text(&s["Message"]).unwrap_or_default();
    (code, message)
}

fn item(v: &Value) -> Item {
    let (code, message) = status(v);
    let size = |names: &[&str]| names.iter().find_map(|n| number(&v[*n])).map(|n| n as u64);
    Item {
        code,
        message,
        key: text(&v["Key"]),
        original_url: text(&v["OriginalURL"]),
        original_size: size(&["OriginalSize"]),
        lossy_url: url(&v["LossyURL"]),
        lossless_url: url(&v["LosslessURL"]),
        webp_lossy_url: url(&v["WebPLossyURL"]),
        webp_lossless_url: url(&v["WebPLosslessURL"]),
        avif_lossy_url: url(&v["AVIFLossyURL"]),
        avif_lossless_url: url(&v["AVIFLosslessURL"]),
        lossy_size: size(&["LossySize"]),
        lossless_size: size(&["LosslessSize", "LoselessSize"]),
        webp_lossy_size: size(&["WebPLossySize"]),
        webp_lossless_size: size(&["WebPLosslessSize", "WebPLoselessSize"]),
        avif_lossy_size: size(&["AVIFLossySize", "AVIFPLossySize"]),
        avif_lossless_size: size(&["AVIFLosslessSize", "AVIFLoselessSize"]),
        percent: number(&v["PercentImprovement"]),
    }
}

/// A number that may arrive as a JSON number or a string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A variant URL; `"NA"`, empty and non-strings mean "not there".
fn url(v: &Value) -> Option<String> {
    text(v).filter(|s| !s.is_empty() && s != "NA")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_world_shapes() {
        let body = r#"[{"Status":{"Code":"2","Message":"Success"},"Key":"file1","OriginalURL":"http://x/o",
            "LossyURL":"http://x/l","LosslessURL":"http://x/ll","WebPLossyURL":"NA","OriginalSize":1000,
            "LossySize":"400","LoselessSize":900,"PercentImprovement":"60.00","TimeStamp":"2024"}]"#;
        let Reply::Items(items) = parse(body).unwrap() else {
            panic!()
        };
        let i = &items[0];
        assert_eq!(i.code, 2);
        assert_eq!(i.key.as_deref(), Some("file1"));
        assert_eq!(i.lossy_size, Some(400));
        assert_eq!(i.lossless_size, Some(900));
        assert_eq!(i.webp_lossy_url, None);
        assert_eq!(i.percent, Some(60.0));
    }

    #[test]
    fn refusals_are_objects() {
        assert_eq!(
            parse(r#"{"Status":{"Code":-403,"Message":"Quota exceeded"}}"#).unwrap(),
            Reply::Refused {
                code: -403,
                message: "Quota exceeded".into()
            }
        );
        assert_eq!(
            parse("<html>502 Bad Gateway</html>"),
            Err(NotAReply::NotJson)
        );
    }
}
