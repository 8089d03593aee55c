//! Prompt, safe stop on SIGTERM (Pandora's `timeout` sends it at `global_alert_timeout`).
//!
//! Every store write is atomic and every event is on disk before it is sent, so stopping at
//! any point loses nothing that was accepted: we log, flush the log, and exit at once instead
//! of waiting for a slow HTTP call. The exit code tells the truth about this run's event: 69
//! ("queued") only once its commit write is done, 75 if it was stopped before (nothing of
//! it is on disk). The commit and the signal handler take one mutex, so the answer cannot be
//! decided while the write is half done.

use std::path::Path;
use std::sync::Mutex;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exit::Exit;

/// True once this run's event is durably in the store.
static COMMITTED: Mutex<bool> = Mutex::new(false);

/// Runs the write that commits this run's event; a stop signal waits until it is done.
pub fn commit<T, E>(write: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let mut committed = COMMITTED.lock().unwrap_or_else(|p| p.into_inner());
    let result = write();
    if result.is_ok() {
        *committed = true;
    }
    result
}

/// True once this run's event is durably in the store.
pub fn committed() -> bool {
    *COMMITTED.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a stop means for this command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStop {
    /// The run carries one new event (`alert`): report whether it was saved.
    ReportEvent,
    /// The run only delivers what is already queued (`flush`, `xml`).
    Deliveries,
}

/// Installs the handler for the rest of the process.
pub fn stop_on_termination(state_dir: &Path, on_stop: OnStop) {
    let state_dir = state_dir.display().to_string();
    let Ok(mut signals) = Signals::new([SIGTERM, SIGINT]) else {
        log::warn!("cannot install the SIGTERM handler; a kill still loses nothing");
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
            // Waits for a commit in progress to finish.
            let saved = committed();
            let code = if on_stop == OnStop::ReportEvent && !saved {
                log::error!(
                    "received {name} before the event was saved: nothing of it was queued \
                     (exit 75); Pandora does not retry, the next firing or recovery will page"
                );
                Exit::Interrupted
            } else {
                log::warn!(
                    "received {name}: stopping now; undelivered events stay queued in {state_dir}"
                );
                Exit::Queued
            };
            log::logger().flush();
            std::process::exit(code as i32);
        }
    });
}
