//! Then wait: recorded jobs are asked about by their OriginalURL (`file_urls`; a job made
//! by URL through its URL, `reducer.php` without `refresh`), many per request, with a long `wait` (`server_wait_secs`) so the service answers when they are
//! done rather than at once. No transfer slot is held meanwhile, and nothing here can cost
//! a credit. A stop request cuts a poll short: the jobs stay recorded.

use std::sync::Arc;
use std::time::Instant;

use super::{Event, Job, Remote};
use crate::optimize::shortpixel::ApiError;

/// OriginalURLs per poll: the service's documented limit for URL lists.
pub(super) const MAX_URLS: usize = 100;

/// Takes the jobs due by `now` that share the profile of the one due first, at most `max`,
/// longest-waiting first (jobs uploaded together finish together, so a poll that holds
/// until all its jobs are done rarely waits for a straggler).
pub(super) fn take_due(jobs: &mut Vec<Job>, now: Instant, max: usize) -> Vec<Job> {
    let Some(first) = jobs
        .iter()
        .filter(|j| j.due <= now)
        .min_by_key(|j| j.due)
        .map(|j| j.work.profile.clone())
    else {
        return Vec::new();
    };
    let mut picked: Vec<usize> = jobs
        .iter()
        .enumerate()
        .filter(|(_, j)| j.due <= now && j.work.profile == first)
        .map(|(i, _)| i)
        .collect();
    picked.sort_by_key(|&i| jobs[i].due);
    picked.truncate(max);
    picked.sort_unstable_by(|a, b| b.cmp(a));
    let mut out: Vec<Job> = picked.into_iter().map(|i| jobs.swap_remove(i)).collect();
    out.sort_by_key(|j| j.due);
    out
}

/// One poll request. `by_url`: the jobs were made by URL, and are asked about by asking for
/// their URL again without `refresh` (ShortPixel answers its job for the URL, no new fetch).
pub(super) async fn poll(r: Arc<Remote>, jobs: Vec<Job>, by_url: bool) -> Event {
    let urls: Vec<String> = jobs.iter().map(|j| j.url.clone()).collect();
    let settings = r.settings(&jobs[0].work).clone();
    let wait = r.net.server_wait_secs;
    let asked = async {
        if by_url {
            r.client.by_url(&urls, &settings, wait, false).await
        } else {
            r.client.poll(&urls, &settings, wait).await
        }
    };
    let asked_at = Instant::now();
    let out = tokio::select! {
        out = asked => out,
        _ = r.ctx.shared.stop.wait() => Err(ApiError::Transient("the agent is stopping".into())),
    };
    tracing::debug!(
        "poll of {} job(s) answered after {:.0?}",
        jobs.len(),
        asked_at.elapsed()
    );
    Event::Polled { jobs, out }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Format;
    use crate::pipeline::Work;
    use std::time::Duration;

    fn job(n: u32, profile: &str, due: Instant) -> Job {
        Job {
            work: Work {
                hash: format!("h{n}"),
                profile: profile.into(),
                format: Format::Jpeg,
                size: 1,
                folder: 0,
                files: Vec::new(),
                attempts: 0,
            },
            url: format!("u{n}"),
            due,
        }
    }

    fn urls(jobs: &[Job]) -> Vec<&str> {
        jobs.iter().map(|j| j.url.as_str()).collect()
    }

    #[test]
    fn polls_take_due_jobs_of_one_profile_oldest_first_up_to_the_limit() {
        let now = Instant::now();
        let s = Duration::from_secs(1);
        let mut jobs = vec![
            job(1, "a", now - s),
            job(2, "b", now - 3 * s),
            job(3, "b", now - 2 * s),
            job(4, "b", now + s),
            job(5, "b", now - 4 * s),
            job(6, "a", now - 5 * s),
        ];
        // Job 6 waited longest: its profile goes first.
        assert_eq!(urls(&take_due(&mut jobs, now, 100)), ["u6", "u1"]);
        assert_eq!(urls(&take_due(&mut jobs, now, 2)), ["u5", "u2"]);
        assert_eq!(urls(&take_due(&mut jobs, now, 100)), ["u3"]);
        assert!(take_due(&mut jobs, now, 100).is_empty(), "job 4 is not due");
        assert_eq!(urls(&take_due(&mut jobs, now + 2 * s, 100)), ["u4"]);
        assert!(jobs.is_empty());
    }
}
