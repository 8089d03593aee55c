//! Chat incident channels: one small trait per platform, and the reconciliation that brings an
//! incident's channel up to date with its record.

use crate::config::Config;
use crate::delivery::{Deadline, Disposition};
use crate::http::Http;
use crate::lifecycle::ChatUpdate;
use crate::store::Store;
use crate::time::Timestamp;

/// What a chat delivery may use.
pub struct Context<'a> {
    /// Configuration.
    pub config: &'a Config,
    /// The store (to persist channel ids after each successful call).
    pub store: &'a Store,
    /// HTTP client.
    pub http: &'a Http,
    /// Run deadline.
    pub deadline: Deadline,
    /// Current time.
    pub now: Timestamp,
}

/// Brings the incident's channel up to date after `update`.
pub fn deliver(_ctx: &Context<'_>, _key: &str, update: &ChatUpdate) -> Disposition {
    Disposition::Retry {
        after: None,
        reason: format!(
            "chat backend '{}' is not available in this build",
            update.backend
        ),
        transport: false,
    }
}
