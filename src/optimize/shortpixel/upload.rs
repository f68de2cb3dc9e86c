//! The upload: a multipart POST Reducer with `wait = 0`, each file read through the
//! descriptor the caller opened, in chunks (see `stream`): memory per request is bounded
//! whatever the file sizes, and the bytes sent are the bytes hashed (G3). The caller's
//! transfer slot is released when the body has gone out, not when the answer comes: slots
//! carry transfers, not waiting. The answer says when it began to arrive, so the caller
//! knows the service's round trip.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use serde_json::json;
use tokio::sync::OwnedSemaphorePermit;

use super::stream::{watched, BodyEnd, FileBody, PartFailure, Progress};
use super::wire::Item;
use super::{ApiError, Client};
use crate::config::FolderSettings;

/// A file to upload: an open descriptor, its size and content, and an opaque id echoed back
/// in `file_paths`.
pub struct UploadFile {
    pub id: String,
    pub filename: String,
    pub mime: &'static str,
    /// Opened by the caller (`open::open_regular`), read from its start.
    pub file: std::fs::File,
    pub size: u64,
    /// blake3 hex the bytes must have; otherwise the file is not sent whole.
    pub hash: String,
}

/// An upload's answer, when its body had gone out, and when the answer began to arrive.
#[derive(Debug)]
pub struct Sent {
    pub items: Vec<Item>,
    pub body_end: Option<Instant>,
    pub answered: Instant,
}

impl Sent {
    /// How long the service (and the way to it) took to answer once the body was out.
    pub fn round_trip(&self) -> Option<Duration> {
        self.body_end
            .map(|end| self.answered.saturating_duration_since(end))
    }
}

/// Why an upload failed.
#[derive(Debug)]
pub enum UploadError {
    /// The request failed. `body_sent`: the whole body had gone out, so the service may have
    /// made jobs of it (and charged for them) without the agent hearing back.
    Api { error: ApiError, body_sent: bool },
    /// File `index` could not be sent whole (it changed, or became unreadable): the request
    /// was cut short, so the service made nothing of it.
    File { index: usize, why: String },
}

impl Client {
    /// Uploads `files` with `wait = 0`: the service answers at once (Code 1 with each file's
    /// OriginalURL, or Code 2 when it was quick). `slot` is released once the body is out.
    pub async fn upload(
        &self,
        files: Vec<UploadFile>,
        s: &FolderSettings,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<Sent, UploadError> {
        let started = std::time::Instant::now();
        let out = self.upload_once(files, s, slot).await;
        crate::dashboard::metrics::observe(crate::dashboard::metrics::Call::Upload, started, &out);
        out
    }

    async fn upload_once(
        &self,
        files: Vec<UploadFile>,
        s: &FolderSettings,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<Sent, UploadError> {
        let progress = Progress::default();
        let failure = PartFailure::default();
        let mut end = Some(BodyEnd::new(slot));
        let ended = end.as_ref().map(|e| e.at.clone()).unwrap_or_default();
        let mut form = Form::new().text("key", self.key.expose().to_string());
        for (k, v) in self.options(s, 0) {
            form = form.text(k, v);
        }
        let paths: serde_json::Map<String, serde_json::Value> = files
            .iter()
            .enumerate()
            .map(|(i, f)| (format!("file{}", i + 1), json!(f.id)))
            .collect();
        form = form.text("file_paths", serde_json::Value::Object(paths).to_string());
        let last = files.len().saturating_sub(1);
        for (i, f) in files.into_iter().enumerate() {
            let body = FileBody::new(
                f.file,
                f.size,
                f.hash,
                i,
                failure.clone(),
                progress.clone(),
                if i == last { end.take() } else { None },
            )
            .throttled(self.throttle.clone());
            let part = Part::stream_with_length(reqwest::Body::wrap(body), f.size)
                .file_name(f.filename)
                .mime_str(f.mime)
                .map_err(|e| UploadError::Api {
                    error: ApiError::Refused(e.to_string()),
                    body_sent: false,
                })?;
            form = form.part(format!("file{}", i + 1), part);
        }
        let url = format!("{}/v2/post-reducer.php", self.base);
        let req = self.api.post(&url).multipart(form);
        let out = watched(
            self.items(req, &url, "the upload", &progress),
            &progress,
            self.idle,
        )
        .await;
        let body_end = *ended.lock().unwrap_or_else(|p| p.into_inner());
        let failed = |error| UploadError::Api {
            error,
            body_sent: body_end.is_some(),
        };
        match out {
            Some(Ok((items, answered))) => Ok(Sent {
                items,
                body_end,
                answered,
            }),
            Some(Err(e)) => match failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                Some((index, why)) => Err(UploadError::File { index, why }),
                None => Err(failed(e)),
            },
            None => Err(failed(self.stalled("the upload", self.idle))),
        }
    }
}
