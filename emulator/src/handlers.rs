//! The HTTP endpoints: routing, request logging, upload hooks and the fault handling that is
//! common to every endpoint (`Refuse`, `Http`, `Drop`, `Delay`, `Body`). The reducer logic
//! proper lives in `reducer.rs`, fetching by URL in `by_url.rs`, the CDN domain API in
//! `domains.rs`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request as HttpRequest, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use serde_json::json;

use crate::model::{Endpoint, Fault, Request};
use crate::parse::{parse, Parsed};
use crate::server::ConnAbort;
use crate::state::Shared;
use crate::wire::{http_error, json_reply, message, refusal, verbatim};
use crate::{by_url, domains, hostile, reducer};

/// Uploads of ~10 files of a few MB must pass; axum's default limit is 2 MB.
const BODY_LIMIT: usize = 200 * 1024 * 1024;

/// What every handler gets: the shared state and the base URL to build links with.
#[derive(Clone)]
pub(crate) struct App {
    pub shared: Arc<Shared>,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: Arc<str>,
    /// Fetches the URLs of `reducer.php` requests (see `fetch`).
    pub fetcher: reqwest::Client,
}

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/v2/post-reducer.php", post(post_reducer))
        .route("/v2/reducer.php", post(url_reducer))
        .route("/v2/api-status.php", any(api_status))
        .route("/dl/{job}/{variant}", get(download))
        .route("/orig/{job}", get(original))
        .merge(domains::routes())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(app.clone(), far_away))
        .with_state(app)
}

/// When a request's head arrived, before any latency (see `Request::timing`).
#[derive(Clone, Copy)]
struct Arrived(std::time::Instant);

/// Every request waits the configured latency first, as it would for a distant service.
async fn far_away(
    State(app): State<App>,
    mut req: HttpRequest,
    next: axum::middleware::Next,
) -> Response {
    req.extensions_mut()
        .insert(Arrived(std::time::Instant::now()));
    let latency = app.shared.lock().latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    next.run(req).await
}

impl App {
    pub fn log(&self, endpoint: Endpoint, p: &Parsed, urls: Vec<String>) -> usize {
        self.shared.log_begin(Request {
            endpoint,
            key: p.key(),
            fields: p.fields.clone(),
            files: p.files.iter().map(|(f, _)| f.clone()).collect(),
            urls,
            codes: Vec::new(),
            http_status: 0,
            fault: None,
            content_type: p.content_type.clone(),
            timing: None,
        })
    }

    /// Records the reply in the log and hands it on.
    pub fn finish(&self, idx: usize, response: Response, codes: Vec<i32>) -> Response {
        self.shared
            .log_finish(idx, codes, response.status().as_u16());
        response
    }

    /// Takes the next fault for `endpoint` and plays the ones every endpoint shares.
    /// `Ok(fault)` means "go on and answer", with the fault the endpoint must still apply.
    pub async fn pre_fault(
        &self,
        abort: &ConnAbort,
        endpoint: Endpoint,
        idx: usize,
    ) -> Result<Option<Fault>, Response> {
        match self.shared.take_fault(endpoint, idx) {
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                Ok(None)
            }
            Some(Fault::Drop) => {
                // The connection task closes the socket; this future is then dropped.
                abort.0.notify_one();
                std::future::pending::<()>().await;
                Err(http_error(500))
            }
            Some(Fault::Http(status)) => Err(self.finish(idx, http_error(status), Vec::new())),
            Some(Fault::Refuse { code, message }) => {
                Err(self.finish(idx, refusal(code, &message), vec![code]))
            }
            Some(Fault::Body(text)) => Err(self.finish(idx, verbatim(text), Vec::new())),
            Some(Fault::Redirect { status, to }) => {
                let path = self.path_of(endpoint, idx);
                Err(self.finish(idx, hostile::redirect(status, &to, &path), Vec::new()))
            }
            Some(Fault::ErrorPage) => {
                let key = self.shared.lock().log.get(idx).and_then(|r| r.key.clone());
                Err(self.finish(idx, hostile::error_page(key.as_deref()), Vec::new()))
            }
            // A download stalls mid-body (`serve_file`); anything else before answering.
            Some(Fault::Stall(d)) if endpoint != Endpoint::Download => {
                tokio::time::sleep(d).await;
                abort.0.notify_one();
                std::future::pending::<()>().await;
                Err(http_error(500))
            }
            other => Ok(other),
        }
    }

    /// The path a logged request was sent to, for a redirect's `Location`.
    fn path_of(&self, endpoint: Endpoint, idx: usize) -> String {
        match endpoint {
            Endpoint::Download => self
                .shared
                .lock()
                .log
                .get(idx)
                .and_then(|r| r.urls.first().cloned())
                .unwrap_or_default(),
            Endpoint::ApiStatus => "/v2/api-status.php".into(),
            Endpoint::Upload | Endpoint::Poll => "/v2/post-reducer.php".into(),
            Endpoint::ByUrl => "/v2/reducer.php".into(),
            Endpoint::Domain => "/".into(),
        }
    }

    /// Runs the tests' upload hooks before anything is answered. On the blocking pool, so a
    /// hook doing file I/O (or panicking) cannot stall or kill the connection.
    async fn run_hooks(&self, p: &Parsed) {
        let hooks = self.shared.hooks();
        if hooks.is_empty() || p.files.is_empty() {
            return;
        }
        let files: Vec<_> = p.files.iter().map(|(f, _)| f.clone()).collect();
        let _ = tokio::task::spawn_blocking(move || {
            for file in &files {
                for hook in &hooks {
                    hook(file);
                }
            }
        })
        .await;
    }
}

/// A body that could not be read at all: logged, and refused like the service's -110.
fn unreadable(app: &App, endpoint: Endpoint, err: &str) -> Response {
    let p = Parsed {
        fields: [("error".to_owned(), err.to_owned())].into(),
        ..Parsed::default()
    };
    let idx = app.log(endpoint, &p, Vec::new());
    app.finish(idx, refusal(-110, message(-110)), vec![-110])
}

async fn post_reducer(
    State(app): State<App>,
    Extension(abort): Extension<ConnAbort>,
    req: HttpRequest,
) -> Response {
    let began = req
        .extensions()
        .get::<Arrived>()
        .map_or_else(std::time::Instant::now, |a| a.0);
    let p = match parse(req, false).await {
        Ok(p) => p,
        Err(e) => return unreadable(&app, Endpoint::Upload, &e),
    };
    let read = std::time::Instant::now();
    let endpoint = if p.files.is_empty() && p.has_urls {
        Endpoint::Poll
    } else {
        Endpoint::Upload
    };
    let idx = app.log(endpoint, &p, p.urls.clone());
    if let Some(r) = app.shared.lock().log.get_mut(idx) {
        r.timing = Some((began, read));
    }
    app.run_hooks(&p).await;
    let fault = match app.pre_fault(&abort, endpoint, idx).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let (resp, codes) = match endpoint {
        Endpoint::Poll => reducer::poll(&app, &p, fault).await,
        _ => reducer::upload(&app, p, fault).await,
    };
    app.finish(idx, resp, codes)
}

async fn url_reducer(
    State(app): State<App>,
    Extension(abort): Extension<ConnAbort>,
    req: HttpRequest,
) -> Response {
    let p = match parse(req, false).await {
        Ok(p) => p,
        Err(e) => return unreadable(&app, Endpoint::ByUrl, &e),
    };
    let idx = app.log(Endpoint::ByUrl, &p, p.raw_urls.clone());
    let fault = match app.pre_fault(&abort, Endpoint::ByUrl, idx).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let (resp, codes) = by_url::reduce(&app, &p, fault).await;
    app.finish(idx, resp, codes)
}

async fn api_status(
    State(app): State<App>,
    Extension(abort): Extension<ConnAbort>,
    req: HttpRequest,
) -> Response {
    let p = match parse(req, true).await {
        Ok(p) => p,
        Err(e) => return unreadable(&app, Endpoint::ApiStatus, &e),
    };
    let idx = app.log(Endpoint::ApiStatus, &p, Vec::new());
    if let Err(resp) = app.pre_fault(&abort, Endpoint::ApiStatus, idx).await {
        return resp;
    }
    let account = p.key().and_then(|k| {
        let st = app.shared.lock();
        st.keys.get(&k).map(|a| (a.used, a.free, a.quota))
    });
    let Some((used, free, quota)) = account else {
        let body = json!({"Status": {"Code": "-401", "Message": message(-401)}});
        return app.finish(idx, json_reply(&body), vec![-401]);
    };
    // Numbers as strings except the quota, as in the vendor's own example reply.
    let body = json!({
        "Status": {"Code": "2", "Message": "Success"},
        "APICallsMade": used.to_string(),
        "APICallsFree": free.to_string(),
        "APICallsQuota": quota,
        "APICallsMadeOneTime": "0",
        "APICallsQuotaOneTime": "0",
        "DateSubscription": "2024-01-01 00:00:00",
        "DomainCheck": "Accessible",
        "Unlimited": "false",
    });
    app.finish(idx, json_reply(&body), vec![2])
}

async fn download(
    State(app): State<App>,
    Extension(abort): Extension<ConnAbort>,
    Path((job, variant)): Path<(String, String)>,
) -> Response {
    let bytes = {
        let st = app.shared.lock();
        st.jobs
            .get(&job)
            .filter(|j| !j.pending())
            .and_then(|j| j.result.variant(&variant))
    };
    serve_file(&app, &abort, format!("/dl/{job}/{variant}"), bytes).await
}

async fn original(
    State(app): State<App>,
    Extension(abort): Extension<ConnAbort>,
    Path(job): Path<String>,
) -> Response {
    let bytes = app.shared.lock().jobs.get(&job).map(|j| j.original.clone());
    serve_file(&app, &abort, format!("/orig/{job}"), bytes).await
}

/// Serves stored bytes, applying the download faults.
async fn serve_file(app: &App, abort: &ConnAbort, path: String, bytes: Option<Bytes>) -> Response {
    let idx = app.log(Endpoint::Download, &Parsed::default(), vec![path]);
    let fault = match app.pre_fault(abort, Endpoint::Download, idx).await {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if fault == Some(Fault::Expired) {
        let body = json!({"Status": {"Code": "-302", "Message": message(-302)}});
        return app.finish(idx, json_reply(&body), vec![-302]);
    }
    let Some(bytes) = bytes else {
        let resp = (StatusCode::NOT_FOUND, "404 Not Found\n").into_response();
        return app.finish(idx, resp, Vec::new());
    };
    let shared = app.shared.clone();
    match fault {
        Some(Fault::Oversize(extra)) => {
            return app.finish(
                idx,
                hostile::overlong(shared, bytes, Some(extra)),
                Vec::new(),
            )
        }
        Some(Fault::Endless) => {
            return app.finish(idx, hostile::overlong(shared, bytes, None), Vec::new())
        }
        Some(Fault::Stall(d)) => {
            return app.finish(idx, hostile::stalled(shared, bytes, d), Vec::new())
        }
        _ => {}
    }
    let mime = mime_of(&bytes);
    let bytes = match fault {
        Some(Fault::Truncate) => bytes.slice(..bytes.len() / 2),
        Some(Fault::Corrupt) => {
            // Same length, but the magic number and first headers are gone.
            let mut v = bytes.to_vec();
            v.iter_mut().take(64).for_each(|b| *b = 0x5A);
            Bytes::from(v)
        }
        _ => bytes,
    };
    // Bytes bodies have an exact size, so hyper sends a matching Content-Length: a truncated
    // body looks "complete" to the client, as a cut-off proxy response would.
    app.finish(
        idx,
        ([(header::CONTENT_TYPE, mime)], bytes).into_response(),
        Vec::new(),
    )
}

pub(crate) fn mime_of(bytes: &[u8]) -> &'static str {
    if bytes.get(4..12) == Some(b"ftypavif") {
        return "image/avif";
    }
    match image::guess_format(bytes) {
        Ok(f) => f.to_mime_type(),
        Err(_) => "application/octet-stream",
    }
}
