//! `pandora-ilert watch`: the chat commands in real time. One synchronous loop: each pass reads
//! the intake channels and the channels of open incidents once (the plugin's chat step, with
//! a deadline), ends quiet storms, records that the watcher is alive, then sleeps; once a
//! minute it also mirrors ilert's alert states and archives what is due. SIGTERM or
//! SIGINT ends it between passes, or during a pass at the next request (every write is atomic).
//!
//! Several watchers and plugin runs never act twice on one command: an incident's commands,
//! their queued ilert events and the read position are committed in one write under the
//! incident's lock (`chatops::poll_incident`), and a locked incident is skipped this pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{ChatPlatform, Config};
use crate::deadline::Deadline;
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::store::Store;
use crate::time::Timestamp;

/// Meta entry with the time of the watcher's last pass (for `status`).
pub use crate::status::WATCH_ALIVE_META as ALIVE_META;

/// How often the watcher mirrors ilert's alert states and checks for channels to archive.
const SLOW_EVERY: Duration = Duration::from_secs(60);

/// The longest one pass may take.
const PASS_BUDGET: Duration = Duration::from_secs(20);

/// Slack's `conversations.history` is Tier 3 ("50+ per minute"): one read per channel per
/// pass, so a pass over `channels` channels needs at least this long between passes (1.25 s a
/// read: 48 a minute, a little margin under 50).
pub fn slack_interval(channels: usize) -> Duration {
    Duration::from_millis(channels as u64 * 1250)
}

/// Runs until SIGTERM / SIGINT.
pub fn run(config: &Config, interval: Duration) -> Result<Exit, AppError> {
    let store = Store::open(&config.state_dir)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| AppError::Internal(format!("cannot handle signal {sig}: {e}")))?;
    }
    log::info!("watch: started, a pass every {}s", interval.as_secs());
    let http = Http::new(config.scrubber());
    let mut last_slow: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        super::plugin::chat_poll(config, &store, Deadline::after(PASS_BUDGET));
        crate::chatops::end_quiet_storms(config, &store, &http, Deadline::after(PASS_BUDGET));
        // The ilert state mirror (REST calls per open incident) and archiving (its own hourly
        // cadence) need not run every few seconds.
        if last_slow.is_none_or(|t| t.elapsed() >= SLOW_EVERY) {
            last_slow = Some(Instant::now());
            crate::ilert_sync::sync(config, &store, &http, Deadline::after(PASS_BUDGET));
            super::plugin::archive_channels(config, &store, Deadline::after(PASS_BUDGET));
        }
        store.write_meta(ALIVE_META, &Timestamp::now().rfc3339());
        let slack_channels = if config.routes.iter().any(|r| {
            r.chat
                .as_ref()
                .is_some_and(|c| c.backend == ChatPlatform::Slack)
        }) {
            store.open_incidents().len()
                + config
                    .routes
                    .iter()
                    .filter(|r| r.chat.as_ref().is_some_and(|c| c.intake_channel.is_some()))
                    .count()
        } else {
            0
        };
        let wait = interval.max(slack_interval(slack_channels));
        while started.elapsed() < wait && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    log::info!("watch: stopped by signal");
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_passes_stay_under_fifty_history_reads_a_minute() {
        let channels = 30;
        let passes_per_minute = 60.0 / slack_interval(channels).as_secs_f64();
        assert!(passes_per_minute * channels as f64 <= 50.0);
        assert_eq!(slack_interval(0), Duration::ZERO);
    }
}
