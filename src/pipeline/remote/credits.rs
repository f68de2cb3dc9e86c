//! Credits running out (-403, -301): every upload of the batch pauses while this one task
//! watches api-status, until credits come back or `credits_wait_secs` passes. Polls and
//! downloads go on meanwhile: their jobs are paid for already.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Event, Remote};
use crate::optimize::shortpixel::ApiError;

/// Asks api-status until credits are back (`Ok(true)`), the wait is over (`Ok(false)`), or
/// the key is refused (`Err`).
pub(super) async fn watch(r: Arc<Remote>) -> Event {
    let deadline = Instant::now() + r.net.credits_wait;
    let every = r.net.poll_interval.max(Duration::from_millis(100));
    loop {
        match r.client.credits().await {
            Ok(c) if c.unlimited || c.remaining > 0 => {
                tracing::info!(
                    "{} ShortPixel credits available again; resuming uploads",
                    c.remaining
                );
                return Event::Credits(Ok(true));
            }
            Ok(_) => {}
            Err(e @ ApiError::InvalidKey(_)) => return Event::Credits(Err(e)),
            Err(e) => tracing::warn!("credit check failed: {e}"),
        }
        if Instant::now() >= deadline || r.ctx.stopping() {
            return Event::Credits(Ok(false));
        }
        tokio::time::sleep(every).await;
    }
}
