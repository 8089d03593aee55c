//! The time a run has left before its caller (Pandora, the agent) gives up on it.

use std::time::{Duration, Instant};

/// Time left to finish before the caller (Pandora, the agent) gives up on us.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Instant,
}

/// What a request keeps back for the bookkeeping after it, so a run ends inside its deadline.
pub const MARGIN: Duration = Duration::from_millis(300);

/// The shortest request worth starting.
const MIN_REQUEST: Duration = Duration::from_millis(100);

impl Deadline {
    /// A deadline `d` from now.
    pub fn after(d: Duration) -> Self {
        Deadline {
            end: Instant::now() + d,
        }
    }
    /// The instant it expires.
    pub fn instant(self) -> Instant {
        self.end
    }
    /// Time left.
    pub fn remaining(self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// The timeout for one request: the configured one, cut to what is left minus `MARGIN`;
    /// `None` when too little is left to start one.
    pub fn request_timeout(self, configured: Duration) -> Option<Duration> {
        let t = configured.min(self.remaining().saturating_sub(MARGIN));
        (t >= MIN_REQUEST).then_some(t)
    }
}
