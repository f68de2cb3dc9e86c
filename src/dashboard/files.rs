//! The file view: pages of tracked files, one file's record, and its two images side by
//! side — the original from the backup store (read back and checked against its hash, so a
//! damaged backup is never shown as the original) and the result as it is on disk.
//!
//! Paths travel as `names::shown` text (G10) and come back in the same form. Only files
//! the ledger tracks inside a configured folder are ever read, and only as regular files
//! (see `open`): a file swapped for a symlink or a FIFO is refused, never followed.

use std::path::{Path, PathBuf};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::error::{blocking, ApiFailure};
use super::App;
use crate::config::{Config, Mode};
use crate::ledger::{FileFilter, FileRow, Ledger, State as FileState};
use crate::names::{parse_shown, shown};

/// Previews larger than this are not sent (a browser would not show them well anyway).
const MAX_PREVIEW: u64 = 64 << 20;

#[derive(Serialize)]
struct FileView {
    #[serde(serialize_with = "crate::names::serialize")]
    path: PathBuf,
    #[serde(serialize_with = "crate::names::serialize")]
    folder: PathBuf,
    state: &'static str,
    reason: Option<String>,
    format: Option<String>,
    size: u64,
    bytes_original: Option<u64>,
    bytes_optimized: Option<u64>,
}

impl From<FileRow> for FileView {
    fn from(r: FileRow) -> FileView {
        FileView {
            state: r.state.as_str(),
            size: r.stat.size,
            bytes_original: r.orig_size,
            bytes_optimized: r.opt_size,
            path: r.path,
            folder: r.folder,
            reason: r.reason,
            format: r.format,
        }
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    state: Option<String>,
    folder: Option<String>,
    q: Option<String>,
    after: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(app): State<App>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let state = match q.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            FileState::ALL
                .into_iter()
                .find(|st| st.as_str() == s)
                .ok_or_else(|| ApiFailure::bad_request(format!("{s:?} is not a file state")))?,
        ),
    };
    let filter = FileFilter {
        folder: q.folder.as_deref().map(path_arg).transpose()?,
        state,
        contains: q.q.as_deref().and_then(parse_shown).map(|p| {
            use std::os::unix::ffi::OsStrExt;
            p.as_os_str().as_bytes().to_vec()
        }),
        after: q.after.as_deref().map(path_arg).transpose()?,
        limit: q.limit.unwrap_or(100),
    };
    let config = app.config();
    blocking(move || {
        let rows = match Ledger::open_read_only(&config.ledger)? {
            Some(l) => l.files_page(&filter)?,
            None => Vec::new(),
        };
        let next = (rows.len() >= filter.limit.clamp(1, 1000))
            .then(|| rows.last().map(|r| shown(&r.path)))
            .flatten();
        let files: Vec<FileView> = rows.into_iter().map(FileView::from).collect();
        Ok(Json(json!({ "files": files, "next": next })))
    })
    .await
}

#[derive(Deserialize)]
pub struct PathQuery {
    path: String,
    which: Option<String>,
}

pub async fn detail(
    State(app): State<App>,
    Query(q): Query<PathQuery>,
) -> Result<Json<Value>, ApiFailure> {
    let config = app.config();
    let store = app.shared.backups().clone();
    let path = path_arg(&q.path)?;
    blocking(move || {
        let row = tracked(&config, &path)?;
        let mode = config.folder_of(&row.path).map(|f| f.mode);
        let original_kept = row.orig_hash.as_deref().is_some_and(|h| store.exists(h));
        let restorable = row.state == FileState::Optimized
            && original_kept
            && row.orig_hash.as_deref() != Some(row.hash.as_str());
        let result = match mode {
            Some(Mode::Mirror) => config
                .folder_of(&row.path)
                .and_then(|f| f.target_of(&row.path)),
            _ => Some(row.path.clone()),
        };
        Ok(Json(json!({
            "file": FileView::from(row),
            "mode": mode.map(crate::pipeline::mode_name),
            "original_kept": original_kept,
            "restorable": restorable,
            "result_path": result.as_deref().map(shown),
        })))
    })
    .await
}

/// `GET /api/preview?path=…&which=original|result`: the image bytes (token required: they
/// are the user's pictures).
pub async fn preview(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<PathQuery>,
) -> Result<impl IntoResponse, ApiFailure> {
    app.authorize(&headers)?;
    let config = app.config();
    let store = app.shared.backups().clone();
    let path = path_arg(&q.path)?;
    let which = q.which.unwrap_or_else(|| "result".into());
    let bytes = blocking(move || {
        let row = tracked(&config, &path)?;
        let bytes = match which.as_str() {
            "original" => match row.orig_hash.as_deref() {
                // `read` checks the bytes against their hash.
                Some(h) if h != row.hash => store.read(h).map_err(|e| {
                    ApiFailure::not_found(format!(
                        "the original of {} cannot be shown: {e}",
                        shown(&path)
                    ))
                })?,
                // Not replaced (yet): the file on disk is the original.
                _ => read_image(&row.path)?,
            },
            "result" => {
                let folder = config.folder_of(&row.path);
                let target = match folder.map(|f| (f.mode, f.target_of(&row.path))) {
                    Some((Mode::Mirror, Some(t))) if row.state == FileState::Optimized => t,
                    _ => row.path.clone(),
                };
                read_image(&target)?
            }
            other => {
                return Err(ApiFailure::bad_request(format!(
                    "which={other:?}: ask for \"original\" or \"result\""
                )))
            }
        };
        Ok(bytes)
    })
    .await?;
    let mime = crate::content::sniff(&bytes).map_or("application/octet-stream", |f| f.mime());
    Ok(([(header::CONTENT_TYPE, mime)], bytes))
}

/// A path as the page sends it (`names::shown` text), absolute and without `.` or `..`.
pub(super) fn path_arg(text: &str) -> Result<PathBuf, ApiFailure> {
    let path = parse_shown(text).ok_or_else(|| {
        ApiFailure::bad_request(format!(
            "{text:?} is not a path as the dashboard shows paths (only \\\\, \\n, \\t, \\r and \\xNN are escapes)"
        ))
    })?;
    use std::path::Component;
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(ApiFailure::bad_request(format!(
            "{text:?} must be an absolute path without \".\" or \"..\""
        )));
    }
    Ok(path)
}

/// The ledger's row for a file inside a configured folder.
fn tracked(config: &Config, path: &Path) -> Result<FileRow, ApiFailure> {
    if config.folder_of(path).is_none() {
        return Err(ApiFailure::bad_request(format!(
            "{} is not inside a configured folder",
            shown(path)
        )));
    }
    let ledger = Ledger::open_read_only(&config.ledger)?;
    ledger
        .as_ref()
        .map(|l| l.file(path))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            ApiFailure::not_found(format!(
                "{}: the agent has no record of this file",
                shown(path)
            ))
        })
}

fn read_image(path: &Path) -> Result<Vec<u8>, ApiFailure> {
    use std::io::Read;
    let cannot =
        |e: std::io::Error| ApiFailure::not_found(format!("{} cannot be read: {e}", shown(path)));
    let (mut file, meta) = crate::open::open_regular(path).map_err(cannot)?;
    if meta.len() > MAX_PREVIEW {
        return Err(ApiFailure::bad_request(format!(
            "{} is too big to preview",
            shown(path)
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.by_ref()
        .take(MAX_PREVIEW)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    Ok(bytes)
}
