//! The rounds: uploads in batches, `concurrency` requests at a time, and polls of pending
//! jobs by OriginalURL.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Next, Remote};
use crate::config::Network;
use crate::content::Format;
use crate::ledger::State;
use crate::optimize::shortpixel::{retry, ApiError, UploadFile};
use crate::pipeline::apply::{self, read_original};
use crate::pipeline::{Halt, Work};

impl Remote {
    pub(super) async fn upload_round(self: Arc<Self>, works: Vec<Work>) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let limit = Arc::new(tokio::sync::Semaphore::new(self.ctx.config.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for batch in batches(works, &self.net) {
            let permit = limit.clone().acquire_owned().await?;
            let me = self.clone();
            tasks.spawn(async move {
                let _permit = permit;
                me.upload_batch(batch).await
            });
        }
        while let Some(done) = tasks.join_next().await {
            next.merge(done??);
        }
        Ok(next)
    }

    pub(super) async fn upload_batch(self: Arc<Self>, batch: Vec<Work>) -> anyhow::Result<Next> {
        let mut next = Next::default();
        if self.ctx.tally.fatal().is_some() || self.ctx.stopping() {
            next.left = batch;
            return Ok(next);
        }
        let mut works = Vec::new();
        let mut files = Vec::new();
        for work in batch {
            match read_original(&work) {
                Some(bytes) => {
                    let n = files.len() + 1;
                    files.push(UploadFile {
                        // Opaque and unique: the service only echoes it back (never a local path).
                        id: format!("c-{}", &work.hash[..32]),
                        filename: format!("file{n}.{}", ext(work.format)),
                        mime: work.format.mime(),
                        bytes,
                    });
                    works.push(work);
                }
                None => {
                    self.ctx
                        .ledger()
                        .set_states(&work.paths(), State::New, Some(apply::CHANGED))?
                }
            }
        }
        if works.is_empty() {
            return Ok(next);
        }
        let paths: Vec<_> = works.iter().flat_map(|w| w.paths()).collect();
        self.ctx
            .ledger()
            .set_states(&paths, State::Uploading, None)?;
        let settings = self.settings(&works[0]).clone();
        let n = files.len() as u64;
        let reply = retry(&self.net, "upload", || {
            crate::pipeline::Tally::add(&self.ctx.tally.uploads, n);
            let files = files.clone();
            self.client
                .upload(files, &settings, self.net.server_wait_secs)
        })
        .await;
        match reply {
            Ok(items) => {
                let answers = works
                    .into_iter()
                    .enumerate()
                    .map(|(i, work)| {
                        let key = format!("file{}", i + 1);
                        let item = items
                            .iter()
                            .find(|it| it.key.as_deref() == Some(&key))
                            // By position only when the reply has no keys and one item per file.
                            .or_else(|| {
                                (items.len() == n as usize)
                                    .then(|| items.get(i).filter(|it| it.key.is_none()))
                                    .flatten()
                            })
                            .cloned();
                        (work, item, None)
                    })
                    .collect();
                next.merge(
                    self.handle_all(answers, "the service did not answer for this file")
                        .await?,
                );
            }
            Err(e) => {
                for work in works {
                    next.merge(self.batch_error(work, &e).await?);
                }
            }
        }
        Ok(next)
    }

    pub(super) async fn poll_round(
        self: Arc<Self>,
        pending: Vec<(Work, String)>,
    ) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let mut by_profile: BTreeMap<String, Vec<(Work, String)>> = BTreeMap::new();
        for p in pending {
            by_profile.entry(p.0.profile.clone()).or_default().push(p);
        }
        let limit = Arc::new(tokio::sync::Semaphore::new(self.ctx.config.concurrency));
        let mut tasks = tokio::task::JoinSet::new();
        for (_, group) in by_profile {
            let mut group = group.into_iter().peekable();
            while group.peek().is_some() {
                let chunk: Vec<_> = group.by_ref().take(10).collect();
                let permit = limit.clone().acquire_owned().await?;
                let me = self.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    me.poll_chunk(chunk).await
                });
            }
        }
        while let Some(done) = tasks.join_next().await {
            next.merge(done??);
        }
        Ok(next)
    }

    pub(super) async fn poll_chunk(
        self: Arc<Self>,
        chunk: Vec<(Work, String)>,
    ) -> anyhow::Result<Next> {
        let mut next = Next::default();
        let urls: Vec<String> = chunk.iter().map(|(_, u)| u.clone()).collect();
        let settings = self.settings(&chunk[0].0).clone();
        let reply = retry(&self.net, "poll", || self.client.poll(&urls, &settings, 0)).await;
        match reply {
            Ok(items) => {
                let answers = chunk
                    .into_iter()
                    .map(|(work, url)| {
                        // Only the OriginalURL identifies a polled job: a guess by position
                        // could put one photo's result on another (same size, same camera).
                        let item = items
                            .iter()
                            .find(|it| it.original_url.as_deref() == Some(url.as_str()))
                            .cloned();
                        (work, item, Some(url))
                    })
                    .collect();
                next.merge(self.handle_all(answers, "no answer for this job").await?);
            }
            Err(ApiError::InvalidKey(m)) => {
                self.ctx
                    .tally
                    .set_fatal(Halt::Key, ApiError::InvalidKey(m).to_string());
                next.pending = chunk;
            }
            Err(e) => {
                tracing::warn!("poll failed: {e}; trying again later");
                next.pending = chunk;
            }
        }
        Ok(next)
    }
}

/// Splits works into requests: one profile each, ≤ max files, ≤ max bytes (a single larger
/// file goes alone).
pub(super) fn batches(mut works: Vec<Work>, net: &Network) -> Vec<Vec<Work>> {
    works.sort_by(|a, b| a.profile.cmp(&b.profile));
    let mut out: Vec<Vec<Work>> = Vec::new();
    let mut bytes = 0u64;
    for w in works {
        let fits = out.last().is_some_and(|b: &Vec<Work>| {
            b.len() < net.max_batch_files
                && b[0].profile == w.profile
                && bytes + w.size <= net.max_batch_bytes
        });
        if !fits {
            out.push(Vec::new());
            bytes = 0;
        }
        bytes += w.size;
        out.last_mut().expect("just pushed").push(w);
    }
    out
}

pub(super) fn ext(f: Format) -> &'static str {
    match f {
        Format::Jpeg => "jpg",
        other => other.as_str(),
    }
}
