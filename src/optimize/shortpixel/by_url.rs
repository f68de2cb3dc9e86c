//! The Reducer by URL (`POST /v2/reducer.php`): ShortPixel fetches each image from the web
//! server that publishes it (a folder's `public_url`), so nothing is uploaded.
//!
//! The reply is the same array of [`Item`]s as for uploads and polls, read by the same code
//! with the same G8 rule (a body quoted in an error is scrubbed whole, then shortened; item
//! messages are scrubbed). What the caller must know:
//! - Items come in request order; each names its URL in `original_url`.
//! - `original_size` is what ShortPixel fetched: when it differs from the local file, the
//!   web server serves other bytes and the result must not be applied to the file.
//! - The service caches results per key and URL: `refresh = false` returns the earlier
//!   result without a new charge (so it is also how a pending result is polled);
//!   `refresh = true` fetches and charges again — only for content that changed.
//! - -102 / -106 per item mean ShortPixel could not fetch that URL: upload the file instead.

use super::wire::Item;
use super::{ApiError, Client};
use crate::config::FolderSettings;

/// The most URLs one request may carry, as documented.
pub const MAX_URLS: usize = 100;

impl Client {
    /// Asks ShortPixel to optimize the images at `urls` (1 to [`MAX_URLS`]), holding the
    /// request up to `wait` seconds for results.
    pub async fn by_url(
        &self,
        urls: &[String],
        s: &FolderSettings,
        wait: u32,
        refresh: bool,
    ) -> Result<Vec<Item>, ApiError> {
        if urls.is_empty() || urls.len() > MAX_URLS {
            return Err(ApiError::Refused(format!(
                "a by-URL request takes 1 to {MAX_URLS} URLs, not {}",
                urls.len()
            )));
        }
        let mut body = self.json_body(s, wait);
        body.insert("refresh".into(), u8::from(refresh).into());
        body.insert("urllist".into(), urls.into());
        let started = std::time::Instant::now();
        let out = self.post_json("reducer.php", body, wait).await;
        crate::dashboard::metrics::observe(crate::dashboard::metrics::Call::ByUrl, started, &out);
        out
    }
}

#[cfg(test)]
mod tests {
    use shortpixel_emulator::{Emulator, Endpoint, Fault, Serve, Site};

    use super::*;
    use crate::config::{ApiKey, Compression, Network};

    const KEY: &str = "BYURLKEY-5e1f";

    fn settings() -> FolderSettings {
        FolderSettings {
            compression: Compression::Lossy,
            convert: vec![],
            keep_exif: false,
            resize: None,
        }
    }

    fn client(emu: &Emulator, key: &str) -> Client {
        Client::new(&emu.url(), ApiKey::new(key), &Network::default()).unwrap()
    }

    /// A JPEG the emulator can shrink.
    fn photo() -> Vec<u8> {
        let img = image::RgbImage::from_fn(160, 120, |x, y| {
            let n = ((x * 7919 + y * 104_729) % 61) as u8;
            image::Rgb([(x as u8).wrapping_add(n), (y as u8).wrapping_add(n), n])
        });
        let mut out = Vec::new();
        let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
        image::DynamicImage::ImageRgb8(img)
            .write_with_encoder(enc)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn by_url_sends_urllist_and_refresh_and_reads_the_items_in_order() {
        let emu = Emulator::start_with_key(KEY, 10);
        let dir = tempfile::tempdir().unwrap();
        let bytes = photo();
        std::fs::write(dir.path().join("a.jpg"), &bytes).unwrap();
        let site = Site::serve(dir.path());
        site.set("gone.jpg", Serve::NotFound);
        let urls = vec![
            format!("{}/a.jpg", site.url()),
            format!("{}/gone.jpg", site.url()),
        ];
        let c = client(&emu, KEY);

        let items = c.by_url(&urls, &settings(), 20, false).await.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].code, 2);
        assert_eq!(items[0].original_url.as_deref(), Some(urls[0].as_str()));
        assert_eq!(items[0].original_size, Some(bytes.len() as u64));
        assert!(items[0].lossy_size.is_some_and(|n| n < bytes.len() as u64));
        assert_eq!(items[1].code, -102);
        assert_eq!(ApiError::from_code(items[1].code, ""), ApiError::JobGone);

        // Two fetches so far (the 404 is one), one charge.
        c.by_url(&urls[..1], &settings(), 20, false).await.unwrap();
        assert_eq!((emu.url_fetches(), emu.credits_used(KEY)), (2, 1), "cached");
        c.by_url(&urls[..1], &settings(), 20, true).await.unwrap();
        assert_eq!(
            (emu.url_fetches(), emu.credits_used(KEY)),
            (3, 2),
            "refreshed"
        );

        let sent = &emu.requests()[0];
        assert_eq!(sent.endpoint, Endpoint::ByUrl);
        assert_eq!(sent.urls, urls);
        assert_eq!(sent.fields["refresh"], "0");
        assert_eq!(sent.fields["lossy"], "1");
        assert_eq!(emu.requests()[2].fields["refresh"], "1");
        assert!(sent.content_type.starts_with("application/json"));
    }

    #[tokio::test]
    async fn a_reply_quoting_the_key_is_scrubbed_before_it_is_shortened() {
        let emu = Emulator::start_with_key(KEY, 10);
        let body = format!("<html>{}{KEY} refused</html>", "x".repeat(110));
        emu.inject(Endpoint::ByUrl, Fault::Body(body), 1);
        emu.inject(
            Endpoint::ByUrl,
            Fault::ItemError {
                code: -106,
                message: format!("cannot fetch for key {KEY}"),
            },
            1,
        );
        let c = client(&emu, KEY);
        let urls = vec!["http://127.0.0.1:9/a.jpg".to_string()];
        let e = c.by_url(&urls, &settings(), 0, false).await.unwrap_err();
        assert!(e.to_string().contains("<api"), "scrubbed, then cut: {e}");
        assert!(
            !e.to_string().contains(&KEY[..4]),
            "no part of the key either: {e}"
        );
        let items = c.by_url(&urls, &settings(), 0, false).await.unwrap();
        assert_eq!(items[0].code, -106);
        assert!(!items[0].message.contains(KEY), "{}", items[0].message);
        assert!(c.by_url(&[], &settings(), 0, false).await.is_err());
        let many = vec![urls[0].clone(); MAX_URLS + 1];
        assert!(c.by_url(&many, &settings(), 0, false).await.is_err());
        assert_eq!(emu.requests().len(), 2, "refused before sending");
    }
}
