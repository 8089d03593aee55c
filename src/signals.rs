//! Prompt, safe stop on SIGTERM (Pandora's `timeout` sends it at `global_alert_timeout`).
//!
//! Every store write is atomic and every event is on disk before it is sent, so stopping at
//! any point loses nothing that was accepted: we log and exit at once instead of waiting for a
//! slow HTTP call. The exit code tells the truth about this run's event: 69 ("queued") only
//! once its commit write is done, 75 if it was stopped before (nothing of it is on disk). A
//! signal that arrives while the commit write runs is held until the write is done, so the
//! answer is never decided on a half-done write.
//!
//! The handler runs in the signal's context, on whichever thread it interrupts: it reads one
//! atomic state, writes one prepared log line and calls `_exit`. An earlier version woke a
//! thread for this; a thread costs ~0.17 ms of a ~2 ms new alert (measured interleaved).

use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};
use std::sync::OnceLock;

use log::Level;
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::exit::Exit;
use crate::logging::SignalLog;

/// What a stop means for this command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStop {
    /// The run carries one new event (`alert`): report whether it was saved.
    ReportEvent,
    /// The run only delivers what is already queued (`flush`, `xml`).
    Deliveries,
}

/// Where this run's event stands, as the handler sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Progress {
    /// Not saved (yet, or its write failed).
    NotSaved = 0,
    /// The commit write is running.
    Saving = 1,
    /// A stop signal came during the commit write: the writer acts on it when done.
    SavingStopHeld = 2,
    /// Durably in the store.
    Saved = 3,
}

static PROGRESS: AtomicU8 = AtomicU8::new(Progress::NotSaved as u8);
/// The signal held during a commit write.
static HELD_SIGNAL: AtomicI32 = AtomicI32::new(0);
/// Set before the handlers are installed; read by them.
static STOP: OnceLock<StopNotice> = OnceLock::new();

fn progress() -> Progress {
    match PROGRESS.load(Ordering::SeqCst) {
        1 => Progress::Saving,
        2 => Progress::SavingStopHeld,
        3 => Progress::Saved,
        _ => Progress::NotSaved,
    }
}

/// Moves the progress from `from` to `to` if no one changed it meanwhile.
fn advance(from: Progress, to: Progress) -> bool {
    PROGRESS
        .compare_exchange(from as u8, to as u8, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// Runs the write that commits this run's event; a stop signal waits until it is done.
pub fn commit<T, E>(write: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    if !advance(Progress::NotSaved, Progress::Saving) {
        // Already saved (an inbox entry, then its record): a stop reports "queued" anyway.
        return write();
    }
    let result = write();
    let after = if result.is_ok() {
        Progress::Saved
    } else {
        Progress::NotSaved
    };
    if PROGRESS.swap(after as u8, Ordering::SeqCst) == Progress::SavingStopHeld as u8 {
        if let Some(stop) = STOP.get() {
            stop.act(HELD_SIGNAL.load(Ordering::SeqCst), after == Progress::Saved);
        }
    }
    result
}

/// True once this run's event is durably in the store.
pub fn committed() -> bool {
    progress() == Progress::Saved
}

/// Installs the handlers for the rest of the process.
pub fn stop_on_termination(state_dir: &Path, on_stop: OnStop) {
    if STOP.set(StopNotice::prepare(state_dir, on_stop)).is_err() {
        return;
    }
    for signal in [SIGTERM, SIGINT] {
        if register(signal).is_err() {
            log::warn!("cannot install the SIGTERM handler; a kill still loses nothing");
            return;
        }
    }
}

/// Unsafe because a handler must be async-signal-safe (the project's other unsafe code is
/// the process entry, `start.rs`, the byte locks' `fcntl`, `store/range_lock.rs`, and the
/// one-flush commit's `renameat2` and `fstatfs`, `store/fsutil.rs`).
#[allow(unsafe_code)]
fn register(signal: i32) -> std::io::Result<()> {
    // SAFETY: `on_signal` only loads and swaps atomics, reads a `OnceLock` set before this
    // call, formats into a stack buffer, calls `write` and `_exit`: no allocation, no lock,
    // nothing that can be half done in the code it interrupts.
    unsafe { signal_hook::low_level::register(signal, move || on_signal(signal)) }.map(|_| ())
}

fn on_signal(signal: i32) {
    let Some(stop) = STOP.get() else { return };
    loop {
        match progress() {
            Progress::Saving => {
                HELD_SIGNAL.store(signal, Ordering::SeqCst);
                if advance(Progress::Saving, Progress::SavingStopHeld) {
                    return;
                }
                // The write ended meanwhile (on another thread): decide on its outcome.
            }
            Progress::SavingStopHeld => return,
            p => stop.act(signal, p == Progress::Saved),
        }
    }
}

/// What a stop ends with: the log line's level and text, and the exit code.
fn outcome(on_stop: OnStop, saved: bool, signal: &str, state_dir: &str) -> (Level, String, Exit) {
    if on_stop == OnStop::ReportEvent && !saved {
        (
            Level::Error,
            format!(
                "received {signal} before the event was saved: nothing of it was queued \
                 (exit 75); Pandora does not retry, the next firing or recovery will page"
            ),
            Exit::Interrupted,
        )
    } else {
        (
            Level::Warn,
            format!(
                "received {signal}: stopping now; undelivered events stay queued in {state_dir}"
            ),
            Exit::Queued,
        )
    }
}

/// The log lines and exit codes a stop can end with, prepared before any signal.
struct StopNotice {
    log: SignalLog,
    /// By signal (SIGTERM, SIGINT) and whether the event was saved.
    lines: [[StopLine; 2]; 2],
}

/// One prepared ending: the log line's level and text, the exit code.
type StopLine = (Level, Box<[u8]>, Exit);

impl StopNotice {
    fn prepare(state_dir: &Path, on_stop: OnStop) -> StopNotice {
        let dir = state_dir.display().to_string();
        let line = |signal: &str, saved: bool| {
            let (level, text, exit) = outcome(on_stop, saved, signal, &dir);
            (level, text.into_bytes().into_boxed_slice(), exit)
        };
        StopNotice {
            log: SignalLog::prepare(),
            lines: [
                [line("SIGTERM", false), line("SIGTERM", true)],
                [line("SIGINT", false), line("SIGINT", true)],
            ],
        }
    }

    /// Logs the stop and exits. Async-signal-safe (see `register`).
    fn act(&self, signal: i32, saved: bool) -> ! {
        let (level, text, exit) = &self.lines[usize::from(signal != SIGTERM)][usize::from(saved)];
        self.log.write(*level, text);
        signal_hook::low_level::exit(*exit as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stop_before_the_save_claims_nothing_and_after_it_claims_queued() {
        let (level, text, exit) = outcome(OnStop::ReportEvent, false, "SIGTERM", "/s");
        assert_eq!((level, exit), (Level::Error, Exit::Interrupted));
        assert!(text.contains("before the event was saved"), "{text}");
        let (level, text, exit) = outcome(OnStop::ReportEvent, true, "SIGINT", "/s");
        assert_eq!((level, exit), (Level::Warn, Exit::Queued));
        assert!(text.contains("SIGINT") && text.contains("/s"), "{text}");
        // A flush carries no event of its own: whatever it had is queued.
        assert_eq!(
            outcome(OnStop::Deliveries, false, "SIGTERM", "/s").2,
            Exit::Queued
        );
    }
}
