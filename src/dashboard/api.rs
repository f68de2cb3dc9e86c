//! The reads: `/api/status`, `/api/history`, `/api/logs`, `/api/backups` and `/metrics`.
//! Each opens its own read-only ledger connection on a blocking thread.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{blocking, ApiFailure};
use super::App;
use crate::ledger::Ledger;
use crate::status::{self, Report};

/// How many failures and skipped files a brief status lists.
const BRIEF: usize = 50;

#[derive(Deserialize, Default)]
pub struct StatusQuery {
    /// Lists only the first failures and skipped files (the page polls this).
    #[serde(default)]
    brief: bool,
}

/// The `status --json` object as the daemon sees it, with its state.
async fn report(app: &App, brief: bool) -> Result<Report, ApiFailure> {
    let config = app.config();
    let credits = app.credits();
    let state = app.control.state();
    let last_scan = app.control.last_scan();
    blocking(move || {
        let ledger = Ledger::open_read_only(&config.ledger)?;
        let daemon = status::Daemon {
            running: true,
            pid: Some(std::process::id()),
            queued: 0,
            in_flight: 0,
            state: Some(state),
            last_scan,
        };
        let mut r = status::report(&config, ledger.as_ref(), daemon, credits)?;
        if brief {
            r.failures.truncate(BRIEF);
            r.skipped_files.truncate(BRIEF);
        }
        Ok(r)
    })
    .await
}

pub async fn status(
    State(app): State<App>,
    Query(q): Query<StatusQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let r = report(&app, q.brief).await?;
    let mut v = serde_json::to_value(&r).map_err(anyhow::Error::from)?;
    v["dashboard"] = json!({
        "token_configured": app.token().1,
        "held": app.control.held(),
    });
    Ok(Json(v))
}

pub async fn metrics(State(app): State<App>) -> Result<impl IntoResponse, ApiFailure> {
    let r = report(&app, true).await?;
    let daemon = super::metrics::Daemon {
        state: r.daemon.state.unwrap_or("watching"),
        last_scan: r.daemon.last_scan,
    };
    let text = super::metrics::render(&r, &daemon);
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    days: Option<u32>,
}

pub async fn history(
    State(app): State<App>,
    Query(q): Query<HistoryQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let config = app.config();
    let days = i64::from(q.days.unwrap_or(30).clamp(1, 3660));
    blocking(move || {
        let since = crate::ledger::now() - days * 86_400;
        let points = match Ledger::open_read_only(&config.ledger)? {
            Some(l) => l.history(since)?,
            None => Vec::new(),
        };
        Ok(Json(json!({ "points": points })))
    })
    .await
}

#[derive(Deserialize)]
pub struct LogsQuery {
    after: Option<u64>,
}

pub async fn logs(Query(q): Query<LogsQuery>) -> Json<Value> {
    Json(json!({ "lines": super::logs::since(q.after.unwrap_or(0)) }))
}

/// The backup store: what it holds, and what `backups prune` could free without
/// `--force` (every backup that is not the only copy of an original), as a dry run.
pub async fn backups(State(app): State<App>) -> Result<Json<Value>, ApiFailure> {
    let config = app.config();
    let store = app.shared.backups().clone();
    blocking(move || {
        use crate::backup::prune::{self, Criteria, Kind};
        let ledger = Ledger::open_read_only(&config.ledger)?;
        let inv = prune::Inventory::load(&store, ledger.as_ref())?;
        let plan = prune::plan(
            &inv,
            &Criteria {
                max_size: Some(0),
                ..Criteria::default()
            },
            crate::ledger::now(),
        );
        let freed: u64 = plan.prune.iter().map(|&i| inv.entries[i].size).sum();
        let (originals, originals_bytes) = inv.count(Kind::Original, false);
        let (needed, needed_bytes) = inv.count(Kind::Original, true);
        Ok(Json(json!({
            "files": inv.entries.len(),
            "bytes": inv.bytes(),
            "originals": originals,
            "originals_bytes": originals_bytes,
            "only_copies": needed,
            "only_copies_bytes": needed_bytes,
            "prunable_files": plan.prune.len(),
            "prunable_bytes": freed,
            "pruned_earlier": inv.pruned_earlier,
        })))
    })
    .await
}
