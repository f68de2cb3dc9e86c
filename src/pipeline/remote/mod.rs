//! Running works through ShortPixel. The loop, in rounds:
//!
//! 1. upload what needs uploading, in batches (≤ `max_batch_files`, ≤ `max_batch_bytes`,
//!    one settings profile per request), `concurrency` requests at a time;
//! 2. Code 2 → download, verify (G6), apply; Code 1 → remember the OriginalURL in the
//!    ledger (G4) and poll it in later rounds, never uploading it again;
//! 3. poll pending jobs every `poll_interval` until `pending_wait` runs out; what is still
//!    pending then stays in the ledger for the next run.
//!
//! Reactions to the service (SPEC §4): transient errors retry with backoff; -403/-301 pause
//! every upload behind one [`CreditGate`] that watches api-status; -401 stops the run; a
//! refused image fails alone.
//!
//! Files: `round.rs` (the rounds of uploads and polls, and how works are batched),
//! `reply.rs` (what each answer means for a work), `download.rs` (fetching and verifying
//! results), `credits.rs` (the credit gate).

mod credits;
mod download;
mod reply;
mod round;

use std::sync::Arc;
use std::time::Instant;

use super::{Ctx, Work};
use crate::config::{FolderSettings, Network};
use crate::ledger::State;
use crate::optimize::shortpixel::{client::backoff, Client};
use credits::CreditGate;

struct Remote {
    ctx: Arc<Ctx>,
    client: Client,
    net: Network,
    gate: CreditGate,
}

/// Where each work goes after a round.
#[derive(Default)]
struct Next {
    pending: Vec<(Work, String)>,
    requeue: Vec<Work>,
    /// Not attempted because the run is stopping (bad key, no credits).
    left: Vec<Work>,
}

impl Next {
    fn merge(&mut self, o: Next) {
        self.pending.extend(o.pending);
        self.requeue.extend(o.requeue);
        self.left.extend(o.left);
    }
}

pub async fn run(
    ctx: Arc<Ctx>,
    works: Vec<Work>,
    polls: Vec<(Work, String)>,
) -> anyhow::Result<()> {
    let key = ctx
        .config
        .api_key
        .clone()
        .expect("the shortpixel backend is only chosen with a key");
    let net = ctx.config.network.clone();
    let client = Client::new(&ctx.config.api_url, key, &net)?;
    let r = Arc::new(Remote {
        ctx,
        client,
        net,
        gate: CreditGate::default(),
    });
    let deadline = Instant::now() + r.net.pending_wait;
    let mut uploads = works;
    let mut pending = polls;
    let mut left = Vec::new();
    loop {
        if r.ctx.stopping() {
            left.append(&mut uploads);
            r.count_pending(&pending);
            break;
        }
        if !uploads.is_empty() {
            let next = r.clone().upload_round(std::mem::take(&mut uploads)).await?;
            pending.extend(next.pending);
            uploads = next.requeue;
            left.extend(next.left);
        }
        if r.ctx.tally.fatal().is_some() {
            left.append(&mut uploads);
            break;
        }
        if !uploads.is_empty() {
            let attempt = uploads.iter().map(|w| w.attempts).max().unwrap_or(0);
            r.nap(backoff(r.net.retry_base, attempt, false)).await;
            continue;
        }
        if pending.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            r.count_pending(&pending);
            break;
        }
        r.nap(r.net.poll_interval).await;
        if r.ctx.stopping() {
            continue;
        }
        let next = r.clone().poll_round(std::mem::take(&mut pending)).await?;
        pending = next.pending;
        uploads = next.requeue;
        left.extend(next.left);
    }
    let reason = match r.ctx.tally.fatal() {
        Some(fatal) => fatal,
        None if r.ctx.stopping() => {
            "not sent yet: the agent stopped; the next start sends it".into()
        }
        None => "waiting".into(),
    };
    for w in &left {
        r.ctx
            .ledger()
            .set_states(&w.paths(), State::Queued, Some(&reason))?;
    }
    Ok(())
}

impl Remote {
    /// Sleeps, or less if the agent is asked to stop.
    async fn nap(&self, d: std::time::Duration) {
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = self.ctx.shared.stop.wait() => {}
        }
    }

    /// Results still being processed stay in the ledger; the next run polls them.
    fn count_pending(&self, pending: &[(Work, String)]) {
        if pending.is_empty() {
            return;
        }
        let n: usize = pending.iter().map(|(w, _)| w.files.len()).sum();
        crate::pipeline::Tally::add(&self.ctx.tally.pending, n as u64);
        tracing::info!("{n} file(s) still being processed by ShortPixel; they are collected later without uploading again");
    }

    fn settings(&self, w: &Work) -> &FolderSettings {
        &self.ctx.folder(w.folder).settings
    }
}
