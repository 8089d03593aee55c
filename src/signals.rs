//! Prompt, safe stop on SIGTERM (Pandora's `timeout` sends it at `global_alert_timeout`).
//!
//! Every store write is atomic and every event is on disk before it is sent, so stopping at
//! any point loses nothing: we log, flush the log, and exit 69 ("queued") at once instead of
//! waiting for a slow HTTP call.

use std::path::Path;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::exit::Exit;

/// Installs the handler for the rest of the process.
pub fn stop_on_termination(state_dir: &Path) {
    let state_dir = state_dir.display().to_string();
    let Ok(mut signals) = Signals::new([SIGTERM, SIGINT]) else {
        log::warn!("cannot install the SIGTERM handler; a kill still loses nothing");
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let name = if sig == SIGTERM { "SIGTERM" } else { "SIGINT" };
            log::warn!(
                "received {name}: stopping now; undelivered events stay queued in {state_dir}"
            );
            log::logger().flush();
            std::process::exit(Exit::Queued as i32);
        }
    });
}
