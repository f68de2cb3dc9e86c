//! The actions: pause and resume, rescan now, retry failed files, restore originals. Each
//! needs the bearer token (see `auth`) and answers JSON.
//!
//! Restore takes only paths inside configured folders and goes through `crate::restore`,
//! the same code as the CLI's `restore`: the original is read back from the backup and
//! checked (G1), written atomically (G2), and a file edited since it was optimized is
//! refused, never overwritten (G3; there is no `force` here).

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{blocking, ApiFailure};
use super::files::path_arg;
use super::App;
use crate::daemon::control::Command;
use crate::names::shown;
use crate::restore::{self, Options, Outcome};

fn state(app: &App) -> Json<Value> {
    Json(json!({ "state": app.control.state(), "paused": app.control.paused() }))
}

pub async fn pause(State(app): State<App>, headers: HeaderMap) -> Result<Json<Value>, ApiFailure> {
    app.authorize(&headers)?;
    app.control.pause();
    Ok(state(&app))
}

pub async fn resume(State(app): State<App>, headers: HeaderMap) -> Result<Json<Value>, ApiFailure> {
    app.authorize(&headers)?;
    app.control.resume();
    Ok(state(&app))
}

pub async fn rescan(State(app): State<App>, headers: HeaderMap) -> Result<Json<Value>, ApiFailure> {
    app.authorize(&headers)?;
    if !app.control.send(Command::Rescan) {
        return Err(stopping());
    }
    Ok(Json(
        json!({ "rescan": "started", "state": app.control.state() }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RetryBody {
    /// Failed files (or folders) to retry; all failed files without it.
    paths: Option<Vec<String>>,
}

pub async fn retry(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiFailure> {
    app.authorize(&headers)?;
    let body: RetryBody = if body.iter().all(u8::is_ascii_whitespace) {
        RetryBody::default()
    } else {
        parse_body(
            &body,
            "{\"paths\": [\"/path/a.jpg\", ...]} (or no body for every failed file)",
        )?
    };
    let paths = body.paths.map(|p| inside_folders(&app, &p)).transpose()?;
    let shared = app.shared.clone();
    let again = blocking(move || Ok(shared.ledger().retry_failed(paths.as_deref())?)).await?;
    if !again.is_empty() && !app.control.send(Command::Process(again.clone())) {
        return Err(stopping());
    }
    if !again.is_empty() {
        tracing::info!(
            "{} failed file(s) put back in the queue from the dashboard",
            again.len()
        );
    }
    let shown: Vec<String> = again.iter().map(|p| shown(p)).collect();
    Ok(Json(
        json!({ "retried": again.len(), "paths": shown, "state": app.control.state() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    paths: Vec<String>,
    #[serde(default)]
    dry_run: bool,
}

pub async fn restore(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiFailure> {
    app.authorize(&headers)?;
    let body: RestoreBody =
        parse_body(&body, "{\"paths\": [\"/path/a.jpg\"], \"dry_run\": false}")?;
    if body.paths.is_empty() {
        return Err(ApiFailure::bad_request(
            "name at least one file or folder in \"paths\"",
        ));
    }
    let paths = inside_folders(&app, &body.paths)?;
    let (shared, config) = (app.shared.clone(), app.config());
    let opts = Options {
        dry_run: body.dry_run,
        force: false,
    };
    blocking(move || {
        let sel = restore::select(&shared.ledger(), &paths, false, false)?;
        let mut files = Vec::new();
        let (mut restored, mut refused) = (0, 0);
        for (p, exists) in &sel.unknown {
            let reason = if *exists {
                "not a file the agent manages; nothing to restore"
            } else {
                "no such file, and the agent has no record of a file there"
            };
            refused += 1;
            files.push(json!({ "path": shown(p), "outcome": "unknown", "reason": reason }));
        }
        for target in &sel.targets {
            // One file's I/O error must not stop the rest: it becomes a refusal.
            let outcome = {
                let ledger = shared.ledger();
                restore::restore(&config, &ledger, shared.backups(), target, opts)
                    .unwrap_or_else(|e| Outcome::Refused(format!("{e:#}")))
            };
            let (word, reason) = match outcome {
                Outcome::Restored => ("restored", None),
                Outcome::WouldRestore => ("would_restore", None),
                Outcome::Refused(why) => ("refused", Some(why)),
                Outcome::Nothing(why) => ("nothing", Some(why)),
            };
            match word {
                "restored" | "would_restore" => restored += 1,
                "refused" => refused += 1,
                _ => {}
            }
            if word == "restored" {
                tracing::info!("restored {} from the dashboard", shown(target.path()));
            }
            files.push(json!({ "path": shown(target.path()), "outcome": word, "reason": reason }));
        }
        Ok(Json(json!({
            "dry_run": opts.dry_run,
            "restored": restored,
            "refused": refused,
            "files": files,
        })))
    })
    .await
}

/// Parses a JSON body, saying what was expected when it does not fit.
fn parse_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    expected: &str,
) -> Result<T, ApiFailure> {
    serde_json::from_slice(body).map_err(|e| {
        ApiFailure::bad_request(format!(
            "the request body is not what this action takes ({e}); send {expected}"
        ))
    })
}

/// The paths given, each inside a configured folder; every bad one is named.
fn inside_folders(app: &App, texts: &[String]) -> Result<Vec<PathBuf>, ApiFailure> {
    let config = app.config();
    let mut paths = Vec::new();
    let mut bad = Vec::new();
    for t in texts {
        match path_arg(t) {
            Ok(p) if config.folder_of(&p).is_some() => paths.push(p),
            Ok(p) => bad.push(format!("{}: not inside a configured folder", shown(&p))),
            Err(e) => bad.push(e.message),
        }
    }
    if !bad.is_empty() {
        return Err(ApiFailure::bad_request(format!(
            "nothing was done: {}",
            bad.join("; ")
        )));
    }
    Ok(paths)
}

fn stopping() -> ApiFailure {
    ApiFailure::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "the agent is stopping; try again once it runs",
    )
}
