//! The pacing logs of `pacing` kept under `meta/`, shared by concurrent processes: each
//! read-modify-write happens under a named lock file, and the file is replaced atomically but
//! without fsync: a send log lost in a power cut only costs pacing for one window, and a storm
//! of processes must not queue behind the disk. Names come from a hash of the key, never the
//! key itself.

use std::time::{Duration, Instant};

use super::{Store, StoreError};
use crate::pacing::{Budget, Grant, PaceLog};
use crate::text::fnv1a_hex;
use crate::time::Timestamp;

/// Longest we wait for another process to finish with a pacing log.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The meta name of the pacing log of a key (`what` says which kind: `ilert`, `heartbeat`).
pub fn pace_name(what: &str, key: &str) -> String {
    format!("pace-{what}-{}.json", fnv1a_hex(key.as_bytes()))
}

/// Why a pacing log could not be used.
#[derive(Debug)]
pub enum PaceError {
    /// Other processes kept its lock for longer than `LOCK_WAIT`.
    Busy,
    /// The lock file cannot be opened (a read-only or broken state directory).
    Store(StoreError),
}

impl std::fmt::Display for PaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PaceError::Busy => f.write_str("other processes kept the pacing log busy"),
            PaceError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for PaceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PaceError::Busy => None,
            PaceError::Store(e) => Some(e),
        }
    }
}

impl Store {
    /// The pacing log `name` as stored (empty if none or unreadable).
    pub fn pace_log(&self, name: &str) -> PaceLog {
        self.read_meta(name)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Changes the pacing log `name` under its lock.
    pub fn update_pace_log<R>(
        &self,
        name: &str,
        f: impl FnOnce(&mut PaceLog) -> R,
    ) -> Result<R, PaceError> {
        let until = Instant::now() + LOCK_WAIT;
        let lock_name = name.trim_end_matches(".json");
        let _lock = loop {
            match self.try_lock_named(lock_name).map_err(PaceError::Store)? {
                Some(lock) => break lock,
                None if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
                None => return Err(PaceError::Busy),
            }
        };
        let mut log = self.pace_log(name);
        let r = f(&mut log);
        let p = self.root().join("meta").join(name);
        // A log that cannot be serialised is not written: an empty file would forget the
        // sends it counts.
        match serde_json::to_vec(&log) {
            Ok(bytes) => {
                if let Err(e) = super::fsutil::replace_quick(&p, &bytes) {
                    log::warn!("cannot write {}: {e}", p.display());
                }
            }
            Err(e) => log::warn!("cannot serialise {}: {e}", p.display()),
        }
        Ok(r)
    }

    /// Takes a send slot of `name` (see `PaceLog::take`): `None` to send now, or when to try
    /// again. A log kept busy
    /// by other processes means a storm: wait a second rather than risk ilert's limit. A state
    /// directory that cannot hold the log does not stop the send.
    pub fn take_slot(
        &self,
        name: &str,
        label: &str,
        budget: Budget,
        now: Timestamp,
        honour_hold: bool,
    ) -> Option<Timestamp> {
        let grant = self.update_pace_log(name, |log| {
            log.label = label.to_string();
            log.take(budget, now, honour_hold)
        });
        match grant {
            Ok(Grant::Go) => None,
            Ok(Grant::WaitUntil(t)) => Some(t),
            Err(PaceError::Busy) => {
                log::warn!("pacing: {name} stayed locked by other processes; waiting a second");
                Some(now.plus(Duration::from_secs(1)))
            }
            Err(PaceError::Store(e)) => {
                log::warn!("pacing: {e}; sending unpaced");
                None
            }
        }
    }
}
