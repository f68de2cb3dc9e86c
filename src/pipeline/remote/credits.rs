//! The credit gate: when credits run out, every upload waits on it while one task watches
//! api-status.

use std::time::Instant;

use crate::config::Network;
use crate::optimize::shortpixel::{ApiError, Client};

/// One gate for the whole run: when credits run out, every upload waits here while one
/// task watches api-status; if they do not come back in time the run stops uploading.
#[derive(Default)]
pub(super) struct CreditGate {
    lock: tokio::sync::Mutex<Option<Instant>>,
    exhausted: std::sync::atomic::AtomicBool,
}

impl CreditGate {
    pub(super) async fn wait(&self, client: &Client, net: &Network) -> bool {
        use std::sync::atomic::Ordering;
        let mut last_ok = self.lock.lock().await;
        if self.exhausted.load(Ordering::Relaxed) {
            return false;
        }
        // Another upload just saw credits come back: no need to ask again.
        if last_ok.is_some_and(|t| t.elapsed() < net.poll_interval) {
            return true;
        }
        tracing::warn!("out of ShortPixel credits: uploads paused, checking api-status");
        let deadline = Instant::now() + net.credits_wait;
        loop {
            match client.credits().await {
                Ok(c) if c.unlimited || c.remaining > 0 => {
                    tracing::info!(
                        "{} ShortPixel credits available again; resuming uploads",
                        c.remaining
                    );
                    *last_ok = Some(Instant::now());
                    return true;
                }
                Ok(_) => {}
                Err(ApiError::InvalidKey(_)) => break,
                Err(e) => tracing::warn!("credit check failed: {e}"),
            }
            if Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(net.poll_interval.max(std::time::Duration::from_millis(100))).await;
        }
        self.exhausted.store(true, Ordering::Relaxed);
        false
    }
}
