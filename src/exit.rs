//! Exit codes, following sysexits where they fit (documented in `--help` and README).

/// What the process reports to its caller (the Pandora server, the agent, or a person).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Delivered, or nothing to deliver by design (a re-fire inside the dedupe window).
    Ok = 0,
    /// The command line was wrong.
    Usage = 64,
    /// The input data was wrong (an alert that cannot be understood).
    DataErr = 65,
    /// Accepted into the outbox but not yet delivered; a later `flush` sends it.
    Queued = 69,
    /// A bug or an unexpected internal state.
    Software = 70,
    /// The state directory could not be written: nothing was queued.
    CantCreate = 73,
    /// Stopped by a signal before the event was saved: nothing was queued.
    Interrupted = 75,
    /// The configuration is wrong.
    Config = 78,
}

/// The exit-code table as shown in `--help`.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   delivered, or nothing to send by design (re-fire inside the dedupe window)
  64  usage error (unknown option, missing argument)
  65  bad input data (an alert that cannot be understood; saved under quarantine/)
  69  accepted into the outbox but not yet delivered (ilert or chat unreachable);
      `pandora-ilert flush` or the agent plugin delivers it later
  70  internal error
  73  the state directory cannot be written: the event could NOT be queued
  75  stopped (SIGTERM) before the event was saved: it was NOT queued
  78  configuration error";
