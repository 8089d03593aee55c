//! `pandora-ilert watch`: the chat commands in real time. One synchronous loop: each pass reads
//! the intake, storm and open incident channels (the plugin's chat step, with a deadline; Slack
//! channels only when due, `chatops::slack_read_spacing`), ends quiet storms and opens the
//! channels of incidents a storm summarised, records that the watcher is alive, then waits:
//! on a long-poll Matrix `/sync` that answers when a message arrives, else a sleep. Once a
//! minute it also mirrors ilert's alert states and archives what is due. SIGTERM or SIGINT ends
//! it between passes, or during a pass at the next request (every write is atomic).
//!
//! Several watchers and plugin runs never act twice on one command: an incident's commands,
//! their queued ilert events and the read position are committed in one write under the
//! incident's lock (`chatops::poll_incident`), and a locked incident is skipped this pass.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chat::matrix::Matrix;
use crate::chat::Context;
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

/// The shortest pass when Matrix wake-ups come one after another.
const MIN_PASS: Duration = Duration::from_millis(200);

/// The longest single Matrix wait, so SIGTERM is obeyed within a few seconds.
const WAKE_MAX: Duration = Duration::from_secs(3);

/// Waits up to `wait` for a message in any of the bot's Matrix rooms; returns the position to
/// wait from next and whether a message came.
fn matrix_wait(
    config: &Config,
    store: &Store,
    http: &Http,
    since: Option<&str>,
    wait: Duration,
) -> Result<(String, bool), String> {
    let Some(cfg) = config.matrix.as_ref() else {
        return Err("no [matrix] section".into());
    };
    let ctx = Context {
        config,
        store,
        http,
        deadline: Deadline::after(wait + Duration::from_secs(2)),
        now: Timestamp::now(),
    };
    Matrix::new(cfg, &ctx)
        .wait_for_messages(since, wait)
        .map_err(|e| e.to_string())
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
    let matrix_watched = config.matrix.is_some()
        && config.routes.iter().any(|r| {
            r.chat
                .as_ref()
                .is_some_and(|c| c.backend == ChatPlatform::Matrix)
        });
    // Where the Matrix wake-up continues (in memory: it decides only when to look).
    let mut wake: Option<String> = None;
    let mut last_wake_error: Option<String> = None;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        super::plugin::chat_poll(config, &store, Deadline::after(PASS_BUDGET), true);
        crate::chatops::end_quiet_storms(config, &store, &http, Deadline::after(PASS_BUDGET));
        crate::chatops::open_after_storms(config, &store, &http, Deadline::after(PASS_BUDGET));
        // The ilert state mirror (REST calls per open incident) and archiving (its own hourly
        // cadence) need not run every few seconds.
        if last_slow.is_none_or(|t| t.elapsed() >= SLOW_EVERY) {
            last_slow = Some(Instant::now());
            crate::ilert_sync::sync(config, &store, &http, Deadline::after(PASS_BUDGET));
            super::plugin::archive_channels(config, &store, Deadline::after(PASS_BUDGET));
        }
        store.write_meta(ALIVE_META, &Timestamp::now().rfc3339());
        // Matrix: wait on a long-poll `/sync`, which answers as soon as a message arrives,
        // so a command is acted on at once rather than at the next pass. Slack has no
        // such wait without Socket Mode: its channels are read at the pace of
        // `chatops::slack_read_spacing`, whatever the passes.
        // Matrix: wait on long-poll `/sync`s, which answer as soon as a message arrives, so
        // a command is acted on at once rather than at the next pass. Slack has no such wait
        // without Socket Mode: its channels are read at the pace of
        // `chatops::slack_read_spacing`, whatever the passes.
        let mut matrix_waits = matrix_watched;
        while started.elapsed() < interval && !stop.load(Ordering::Relaxed) {
            if !matrix_waits {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let left = interval.saturating_sub(started.elapsed()).min(WAKE_MAX);
            match matrix_wait(config, &store, &http, wake.as_deref(), left) {
                Ok((next, came)) => {
                    wake = Some(next);
                    if came {
                        break;
                    }
                }
                Err(e) => {
                    // Once per outage, not every pass.
                    if wake.is_some() || last_wake_error.as_deref() != Some(e.as_str()) {
                        log::warn!("watch: matrix sync: {e}");
                    }
                    last_wake_error = Some(e);
                    wake = None;
                    matrix_waits = false;
                }
            }
        }
        // A short pause between passes when messages keep coming.
        while started.elapsed() < MIN_PASS && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    log::info!("watch: stopped by signal");
    Ok(Exit::Ok)
}
