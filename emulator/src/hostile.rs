//! The hostile server: answers a broken proxy, a captive portal, a server that lies about
//! sizes, or a network gone to sleep would put on the wire (`Fault::Redirect`, `ErrorPage`,
//! `Oversize`, `Endless`, `SmallExtra`, `Stall`). Streamed bodies count the bytes they hand
//! out, so a test can tell a client that stopped early from one that read everything.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::Shared;

/// Chunks of streamed bodies.
const CHUNK: usize = 64 * 1024;

/// A redirect to `to` followed by the request's path.
pub(crate) fn redirect(status: u16, to: &str, path: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::TEMPORARY_REDIRECT);
    let location = format!("{}{path}", to.trim_end_matches('/'));
    (status, [(header::LOCATION, location)], "").into_response()
}

/// Where the key starts in an error page: past the first 100 characters, so that a client
/// that shortens such a page before scrubbing it would keep the key's first half.
pub const ERROR_PAGE_KEY_AT: usize = 105;

/// An HTML error page quoting the request's key at [`ERROR_PAGE_KEY_AT`], HTTP 200.
pub(crate) fn error_page(key: Option<&str>) -> Response {
    let mut body =
        String::from("<html><body><h1>502 Bad Gateway</h1><p>The upstream server did not answer.");
    while body.chars().count() < ERROR_PAGE_KEY_AT - " key=".len() {
        body.push(' ');
    }
    body.push_str(" key=");
    body.push_str(key.unwrap_or(""));
    body.push_str(" plugin_version=SPA01 lossy=1 wait=0</p></body></html>");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        body,
    )
        .into_response()
}

/// `bytes`, then `extra` bytes of padding (`None`: padding forever), as a chunked body.
pub(crate) fn overlong(shared: Arc<Shared>, bytes: Bytes, extra: Option<u64>) -> Response {
    let stream = futures_stream(move |sent: u64| {
        let out = if sent == 0 && !bytes.is_empty() {
            Some(bytes.clone())
        } else {
            let padded = sent.saturating_sub(bytes.len() as u64);
            let left = extra.map_or(CHUNK as u64, |e| e.saturating_sub(padded));
            (left > 0).then(|| Bytes::from(vec![0u8; (left as usize).min(CHUNK)]))
        };
        async move { out }
    });
    body_response(shared, stream, None)
}

/// The first half of `bytes` (with the whole length announced), then silence for `d`, then
/// the connection closes.
pub(crate) fn stalled(shared: Arc<Shared>, bytes: Bytes, d: Duration) -> Response {
    let total = bytes.len() as u64;
    let half = bytes.slice(..bytes.len() / 2);
    let stream = futures_stream(move |sent: u64| {
        let half = half.clone();
        async move {
            if sent == 0 {
                Some(half)
            } else {
                tokio::time::sleep(d).await;
                None
            }
        }
    });
    body_response(shared, stream, Some(total))
}

type Next<F> = Box<dyn FnMut(u64) -> F + Send>;

/// A stream of chunks: `next(bytes sent so far)` gives the next one, `None` ends the body.
fn futures_stream<F>(next: impl FnMut(u64) -> F + Send + 'static) -> Chunks<F>
where
    F: std::future::Future<Output = Option<Bytes>> + Send + 'static,
{
    Chunks {
        next: Box::new(next),
        sent: 0,
        pending: None,
    }
}

struct Chunks<F> {
    next: Next<F>,
    sent: u64,
    pending: Option<std::pin::Pin<Box<F>>>,
}

impl<F> Chunks<F>
where
    F: std::future::Future<Output = Option<Bytes>> + Send + 'static,
{
    fn poll_chunk(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<Bytes>> {
        if self.pending.is_none() {
            self.pending = Some(Box::pin((self.next)(self.sent)));
        }
        let fut = self.pending.as_mut().expect("just set");
        match fut.as_mut().poll(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(out) => {
                self.pending = None;
                if let Some(b) = &out {
                    self.sent += b.len() as u64;
                }
                std::task::Poll::Ready(out)
            }
        }
    }
}

/// Wraps chunks into a response body that counts what it hands out.
fn body_response<F>(shared: Arc<Shared>, mut chunks: Chunks<F>, len: Option<u64>) -> Response
where
    F: std::future::Future<Output = Option<Bytes>> + Send + 'static,
{
    let stream = futures_util::stream::poll_fn(move |cx| {
        chunks.poll_chunk(cx).map(|c| {
            c.map(|b| {
                shared.streamed.fetch_add(b.len() as u64, Ordering::Relaxed);
                Ok::<_, std::io::Error>(b)
            })
        })
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("image/jpeg"),
    );
    if let Some(len) = len {
        resp.headers_mut()
            .insert(header::CONTENT_LENGTH, header::HeaderValue::from(len));
    }
    resp
}

/// A valid 16×16 WebP (lossless), for `Fault::SmallExtra`.
pub(crate) fn small_webp() -> Vec<u8> {
    let img = image::RgbImage::from_fn(16, 16, |x, y| image::Rgb([x as u8 * 16, y as u8 * 16, 90]));
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(img.as_raw(), 16, 16, image::ExtendedColorType::Rgb8)
        .expect("encode a 16x16 WebP");
    out
}
