//! Kill points for the crash tests: with `SHORTPIXEL_AGENT_KILL_AT=<step>:<n>` in its
//! environment, the process kills itself (SIGKILL, as `kill -9` would: no destructor, no
//! flush) when the `n`th group it commits reaches `<step>` (see `group`'s steps), so a
//! test can land a kill exactly between two steps. `SHORTPIXEL_AGENT_GROUP_FILES=<k>` makes
//! groups of `k` files, so a test needs few files for many groups. Neither is a setting:
//! the config cannot reach them, and unset (as always outside the tests) they do nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

const KILL_AT: &str = "SHORTPIXEL_AGENT_KILL_AT";
const GROUP_FILES: &str = "SHORTPIXEL_AGENT_GROUP_FILES";

/// The steps a kill can be asked at, in the order a commit reaches them.
pub const STEPS: &[&str] = &[
    "after-backups-flushed",
    "after-temps-written",
    "after-temps-flushed",
    "after-some-renames",
    "before-ledger-commit",
    "after-ledger-commit",
];

static GROUPS: AtomicUsize = AtomicUsize::new(0);

fn kill_at() -> Option<&'static (String, usize)> {
    static AT: OnceLock<Option<(String, usize)>> = OnceLock::new();
    AT.get_or_init(|| {
        let v = std::env::var(KILL_AT).ok()?;
        let (step, n) = v.rsplit_once(':')?;
        Some((step.to_string(), n.parse().ok()?))
    })
    .as_ref()
}

/// The group size the tests ask for, if any.
pub fn group_files() -> Option<usize> {
    static FILES: OnceLock<Option<usize>> = OnceLock::new();
    *FILES.get_or_init(|| {
        let n: usize = std::env::var(GROUP_FILES).ok()?.parse().ok()?;
        (n > 0).then_some(n)
    })
}

/// Numbers a commit (1, 2, …, process-wide).
pub fn next_group() -> usize {
    GROUPS.fetch_add(1, Ordering::Relaxed) + 1
}

/// Kills the process if the test asked for a kill at `step` of group `n`.
pub fn at(step: &str, n: usize) {
    debug_assert!(STEPS.contains(&step), "unknown kill step {step}");
    if kill_at().is_some_and(|(s, at)| s == step && *at == n) {
        // SAFETY: sends a signal to this very process; nothing is assumed after it.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
