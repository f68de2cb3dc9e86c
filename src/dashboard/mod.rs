//! The dashboard: a page, a JSON API and Prometheus metrics, served by the daemon when
//! `[dashboard]` is configured (SPEC §2).
//!
//! - `GET /` and `/assets/*`: the page, built into the binary; nothing is loaded from
//!   elsewhere (a Content-Security-Policy of `'self'` says so to the browser too).
//! - `GET /api/status` (the `status --json` object, with the daemon's state), and the
//!   page's reads (`/api/history`, `/api/logs`, `/api/files`, `/api/file`,
//!   `/api/backups`); `GET /metrics`.
//! - Actions (`POST /api/pause`, `resume`, `rescan`, `retry`, `restore`) and image
//!   previews need the bearer token (see `auth`).
//!
//! Reads use their own read-only ledger connection, so a page polling never holds the
//! lock the pipeline needs. A port already in use is a warning: the daemon runs on
//! without the page. The API key is never in a page, an answer or a metric (G8).

mod actions;
mod api;
mod assets;
mod auth;
mod error;
mod files;
pub mod logs;
pub mod metrics;
pub mod probe;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::config::dashboard::Token;
use crate::config::Config;
use crate::daemon::control::Control;
use crate::optimize::shortpixel::Credits;
use crate::pipeline::Shared;
use error::ApiFailure;

/// How long credits read from api-status are shown before they are asked for again.
const CREDITS_FRESH: Duration = Duration::from_secs(60);

/// The running server; dropping it stops it.
pub struct Server {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What every request handler sees.
#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    control: Arc<Control>,
    /// The token drawn for this start, used while no `token_file` is configured.
    drawn: Token,
    credits: Arc<Mutex<CreditsCache>>,
}

#[derive(Default)]
struct CreditsCache {
    value: Option<Credits>,
    asked: Option<Instant>,
}

/// Starts the server when `[dashboard]` is configured; `None` without it or when the
/// address cannot be bound (logged as a warning: the daemon works on without the page).
pub async fn start(
    config: &Config,
    shared: &Arc<Shared>,
    control: &Arc<Control>,
) -> Option<Server> {
    let d = config.dashboard.as_ref()?;
    let listener = match tokio::net::TcpListener::bind(d.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(
                "the dashboard cannot listen on {} ({e}); running without it (set dashboard.listen to a free address)",
                d.listen
            );
            return None;
        }
    };
    let app = App {
        shared: shared.clone(),
        control: control.clone(),
        drawn: auth::fresh_token(),
        credits: Arc::default(),
    };
    let router = router(app);
    let addr = listener.local_addr().map_or(d.listen, |a| a);
    tracing::info!("dashboard on http://{addr}/");
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!("the dashboard stopped: {e}");
        }
    });
    Some(Server { task })
}

fn router(app: App) -> Router {
    Router::new()
        .route("/", get(assets::page))
        .route("/assets/{name}", get(assets::asset))
        .route("/metrics", get(api::metrics))
        .route("/api/status", get(api::status))
        .route("/api/history", get(api::history))
        .route("/api/logs", get(api::logs))
        .route("/api/backups", get(api::backups))
        .route("/api/files", get(files::list))
        .route("/api/file", get(files::detail))
        .route("/api/preview", get(files::preview))
        .route("/api/pause", post(actions::pause))
        .route("/api/resume", post(actions::resume))
        .route("/api/rescan", post(actions::rescan))
        .route("/api/retry", post(actions::retry))
        .route("/api/restore", post(actions::restore))
        .fallback(|| async { ApiFailure::not_found("no such page or endpoint") })
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Every request: the Host check first; every answer: headers that keep it to itself.
async fn guard(State(app): State<App>, req: Request, next: Next) -> Response {
    let config = app.config();
    let names = config.dashboard.as_ref().map_or(&[][..], |d| &d.host_names);
    let mut resp = if auth::host_allowed(req.headers(), names) {
        next.run(req).await
    } else {
        ApiFailure::new(
            axum::http::StatusCode::FORBIDDEN,
            "this dashboard answers only to its IP address, localhost, or the names in dashboard.host_names",
        )
        .into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

impl App {
    fn config(&self) -> Arc<Config> {
        self.control.config()
    }

    /// The token actions need: `token_file`'s as the config says now (a SIGHUP after
    /// changing it revokes the old one), else the one drawn for this start.
    fn token(&self) -> (Token, bool) {
        match self
            .config()
            .dashboard
            .as_ref()
            .and_then(|d| d.token.clone())
        {
            Some(t) => (t, true),
            None => (self.drawn.clone(), false),
        }
    }

    /// Fails unless the request carries the token.
    fn authorize(&self, headers: &axum::http::HeaderMap) -> Result<(), ApiFailure> {
        auth::require_token(headers, &self.token().0)
    }

    /// Credits as last read from api-status; asks again in the background when stale.
    fn credits(&self) -> Option<Credits> {
        let config = self.config();
        let (Some(key), crate::config::BackendKind::Shortpixel) = (&config.api_key, config.backend)
        else {
            return None;
        };
        let mut cache = self.credits.lock().unwrap_or_else(|p| p.into_inner());
        if cache.asked.is_none_or(|t| t.elapsed() >= CREDITS_FRESH) {
            cache.asked = Some(Instant::now());
            let (cell, key) = (self.credits.clone(), key.clone());
            tokio::spawn(async move {
                let mut net = config.network.clone();
                net.timeout = net.timeout.min(Duration::from_secs(10));
                let Ok(client) =
                    crate::optimize::shortpixel::Client::new(&config.api_url, key, &net)
                else {
                    return;
                };
                match client.credits().await {
                    Ok(c) => cell.lock().unwrap_or_else(|p| p.into_inner()).value = Some(c),
                    Err(e) => tracing::debug!("credits unknown: {e}"),
                }
            });
        }
        cache.value
    }
}
