//! Reads a reducer/api-status request in any of the shapes real clients send: multipart
//! (the SDK's uploads and api-status), JSON (the SDK's polls, `urllist`), urlencoded forms
//! (the bash client's `file_urls[]`), plus `?key=` in the query string for api-status.
//! Elsewhere query parameters are logged as fields named `?name` and otherwise ignored, so a
//! test can tell a key put in the URL (where proxies log it) from one sent in the body.
//!
//! JSON objects are read in document order (serde_json's own map would sort `url10` before
//! `url2`), because replies must come back in request order.

use std::collections::BTreeMap;
use std::fmt;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::model::UploadedFile;

/// Upper bound for non-multipart bodies (multipart follows the router's body limit).
const BODY_LIMIT: usize = 200 * 1024 * 1024;

/// A request reduced to what the handlers need.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Non-file fields, raw (repeated names as a JSON array).
    pub fields: BTreeMap<String, String>,
    pub files: Vec<(UploadedFile, Bytes)>,
    /// `file_urls` / `urllist` entries in request order, percent-decoded.
    pub urls: Vec<String>,
    /// The same entries exactly as sent (JSON or form decoding only): a URL to fetch must
    /// not lose bytes that are not UTF-8 to a percent-decoding.
    pub raw_urls: Vec<String>,
    /// Whether any `file_urls`/`urllist` field was present (even empty).
    pub has_urls: bool,
    pub content_type: String,
}

impl Parsed {
    pub fn key(&self) -> Option<String> {
        self.fields.get("key").cloned()
    }

    /// A numeric option; absent or garbage reads as `default`, as PHP's `intval` would.
    pub fn num(&self, name: &str, default: u32) -> u32 {
        self.fields
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }
}

/// `query_is_fields`: whether query parameters count as request fields (api-status only).
pub(crate) async fn parse(req: Request, query_is_fields: bool) -> Result<Parsed, String> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut pairs = req.uri().query().map(urlencoded).unwrap_or_default();
    if !query_is_fields {
        pairs.iter_mut().for_each(|(k, _)| k.insert(0, '?'));
    }
    let mut files = Vec::new();
    let mut json_urls: Option<(Vec<String>, Vec<String>)> = None;
    let ct = content_type.to_ascii_lowercase();
    if ct.starts_with("multipart/") {
        let mut mp = Multipart::from_request(req, &())
            .await
            .map_err(|e| e.body_text())?;
        while let Some(field) = mp.next_field().await.map_err(|e| e.body_text())? {
            let name = field.name().unwrap_or("").to_owned();
            match field.file_name().map(str::to_owned) {
                Some(filename) => {
                    let bytes = field.bytes().await.map_err(|e| e.body_text())?;
                    let file = UploadedFile {
                        field: name,
                        filename,
                        path_id: String::new(),
                        hash: blake3::hash(&bytes).to_hex().to_string(),
                        size: bytes.len() as u64,
                    };
                    files.push((file, bytes));
                }
                None => pairs.push((name, field.text().await.map_err(|e| e.body_text())?)),
            }
        }
    } else {
        let body = axum::body::to_bytes(req.into_body(), BODY_LIMIT)
            .await
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&body);
        if ct.contains("json") || text.trim_start().starts_with('{') {
            let top: TopLevel = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            for (name, value) in top.0 {
                match value {
                    JsonField::Urls(list) => {
                        let (urls, verbatim) = json_urls.get_or_insert_with(Default::default);
                        urls.extend(list.urls);
                        verbatim.extend(list.verbatim);
                        pairs.push((name, list.raw));
                    }
                    JsonField::Other(Value::String(s)) => pairs.push((name, s)),
                    JsonField::Other(v) => pairs.push((name, v.to_string())),
                }
            }
        } else {
            pairs.extend(urlencoded(&text));
        }
    }
    Ok(assemble(pairs, files, json_urls, content_type))
}

/// Builds the field map, the URL list and each file's `file_paths` id.
fn assemble(
    pairs: Vec<(String, String)>,
    mut files: Vec<(UploadedFile, Bytes)>,
    json_urls: Option<(Vec<String>, Vec<String>)>,
    content_type: String,
) -> Parsed {
    let mut urls = Vec::new();
    let mut raw_urls = Vec::new();
    let mut has_urls = json_urls.is_some();
    let mut grouped: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, value) in pairs {
        if name.starts_with("file_urls[") || name.starts_with("urllist[") {
            has_urls = true;
            urls.push(percent_decode(&value, false));
            raw_urls.push(value.clone());
        } else if (name == "file_urls" || name == "urllist") && json_urls.is_none() {
            // A form field holding JSON (some clients), or a single URL.
            has_urls = true;
            match serde_json::from_str::<UrlList>(&value) {
                Ok(list) => {
                    urls.extend(list.urls);
                    raw_urls.extend(list.verbatim);
                }
                Err(_) => {
                    urls.push(percent_decode(&value, false));
                    raw_urls.push(value.clone());
                }
            }
        }
        grouped.entry(name).or_default().push(value);
    }
    if let Some((list, verbatim)) = json_urls {
        urls.extend(list);
        raw_urls.extend(verbatim);
    }
    let fields: BTreeMap<String, String> = grouped
        .into_iter()
        .map(|(k, mut v)| {
            let raw = if v.len() == 1 {
                v.remove(0)
            } else {
                Value::from(v).to_string()
            };
            (k, raw)
        })
        .collect();
    let paths: serde_json::Map<String, Value> = fields
        .get("file_paths")
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    for (file, _) in &mut files {
        file.path_id = match paths.get(&file.field) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        };
    }
    Parsed {
        fields,
        files,
        urls,
        raw_urls,
        has_urls,
        content_type,
    }
}

/// Splits an `application/x-www-form-urlencoded` string into decoded pairs.
pub(crate) fn urlencoded(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// Decodes `%XX` escapes (and `+` as space in forms); malformed escapes stay as they are.
pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    String::from_utf8_lossy(&percent_decode_bytes(s, plus_is_space)).into_owned()
}

/// [`percent_decode`] to bytes, which need not be UTF-8 (file names in URLs).
pub(crate) fn percent_decode_bytes(s: &str, plus_is_space: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' && plus_is_space {
            b' '
        } else {
            b[i]
        });
        i += 1;
    }
    out
}

/// A JSON body's top level, in document order.
struct TopLevel(Vec<(String, JsonField)>);

enum JsonField {
    /// `file_urls` / `urllist`.
    Urls(UrlList),
    Other(Value),
}

/// A URL list given as an array, an object (values in document order) or a lone string.
struct UrlList {
    /// Percent-decoded.
    urls: Vec<String>,
    /// The raw JSON text of the value.
    raw: String,
    /// Each entry as sent.
    verbatim: Vec<String>,
}

impl UrlList {
    fn new(values: &[Value], raw: String) -> UrlList {
        let verbatim = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        UrlList {
            urls: values
                .iter()
                .map(|v| percent_decode(&verbatim(v), false))
                .collect(),
            raw,
            verbatim: values.iter().map(verbatim).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    let v = if k == "file_urls" || k == "urllist" {
                        JsonField::Urls(map.next_value()?)
                    } else {
                        JsonField::Other(map.next_value()?)
                    };
                    out.push((k, v));
                }
                Ok(TopLevel(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl<'de> Deserialize<'de> for UrlList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UrlList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UrlList, A::Error> {
                let mut vals = Vec::new();
                while let Some(v) = seq.next_element::<Value>()? {
                    vals.push(v);
                }
                let raw = Value::from(vals.clone()).to_string();
                Ok(UrlList::new(&vals, raw))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UrlList, A::Error> {
                let (mut vals, mut raw) = (Vec::new(), Vec::new());
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    raw.push(format!("{}:{}", Value::from(k), v));
                    vals.push(v);
                }
                Ok(UrlList::new(&vals, format!("{{{}}}", raw.join(","))))
            }
            fn visit_str<E>(self, s: &str) -> Result<UrlList, E> {
                let v = Value::from(s);
                Ok(UrlList::new(std::slice::from_ref(&v), v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_plus_and_bad_escapes() {
        assert_eq!(percent_decode("%2Bwebp%7C%2Bavif", false), "+webp|+avif");
        assert_eq!(percent_decode("a+b%zz%4", true), "a b%zz%4");
        assert_eq!(
            urlencoded("key=K&file_urls%5B%5D=http%3A%2F%2Fx&flag"),
            vec![
                ("key".to_owned(), "K".to_owned()),
                ("file_urls[]".to_owned(), "http://x".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn urllist_entries_are_also_kept_as_sent() {
        let top: TopLevel =
            serde_json::from_str(r#"{"urllist":["http://h/caf%C3%A9%FF.jpg"]}"#).unwrap();
        match &top.0[0].1 {
            JsonField::Urls(list) => {
                assert_eq!(list.verbatim, ["http://h/caf%C3%A9%FF.jpg"]);
                assert_eq!(list.urls, ["http://h/café\u{FFFD}.jpg"]);
            }
            JsonField::Other(_) => panic!("urllist not read as URLs"),
        }
    }

    #[test]
    fn json_url_objects_keep_document_order() {
        let top: TopLevel = serde_json::from_str(
            r#"{"key":"K","lossy":1,"file_urls":{"url2":"b","url10":"c","url1":"a"}}"#,
        )
        .unwrap();
        let pairs: Vec<_> = top.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(pairs, ["key", "lossy", "file_urls"]);
        match &top.0[2].1 {
            JsonField::Urls(list) => {
                assert_eq!(list.urls, ["b", "c", "a"]);
                assert_eq!(list.raw, r#"{"url2":"b","url10":"c","url1":"a"}"#);
            }
            JsonField::Other(_) => panic!("file_urls not read as URLs"),
        }
    }
}
