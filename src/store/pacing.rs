//! The pacing logs of `pacing` kept under `meta/`, shared by concurrent processes: each
//! read-modify-write happens under a named lock file, and the file is replaced atomically but
//! without fsync: a send log lost in a power cut only costs pacing for one window, and a storm
//! of processes must not queue behind the disk. Names come from a hash of the key, never the
//! key itself.

use std::time::{Duration, Instant};

use super::Store;
use crate::pacing::{Budget, Grant, PaceLog};
use crate::pandora::fnv1a_hex;
use crate::time::Timestamp;

/// Longest we wait for another process to finish with a pacing log.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The meta name of the pacing log of a key (`what` says which kind: `ilert`, `heartbeat`).
pub fn pace_name(what: &str, key: &str) -> String {
    format!("pace-{what}-{}.json", fnv1a_hex(key.as_bytes()))
}

impl Store {
    /// The pacing log `name` as stored (empty if none or unreadable).
    pub fn pace_log(&self, name: &str) -> PaceLog {
        self.read_meta(name)
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Changes the pacing log `name` under its lock. `None` when the lock stayed busy (the
    /// caller goes ahead unpaced rather than dropping an event) or the store is read-only.
    pub fn update_pace_log<R>(&self, name: &str, f: impl FnOnce(&mut PaceLog) -> R) -> Option<R> {
        let until = Instant::now() + LOCK_WAIT;
        let lock_name = name.trim_end_matches(".json");
        let _lock = loop {
            match self.try_lock_named(lock_name) {
                Ok(Some(lock)) => break lock,
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                Ok(None) => {
                    log::warn!("pacing: {name} stayed locked; sending unpaced");
                    return None;
                }
                Err(e) => {
                    log::warn!("pacing: {e}; sending unpaced");
                    return None;
                }
            }
        };
        let mut log = self.pace_log(name);
        let r = f(&mut log);
        let p = self.root().join("meta").join(name);
        let bytes = serde_json::to_vec(&log).unwrap_or_default();
        if let Err(e) = super::fsutil::replace_quick(&p, &bytes) {
            log::warn!("cannot write {}: {e}", p.display());
        }
        Some(r)
    }

    /// Takes a send slot of `name`: `None` to send now, or when the next slot opens.
    pub fn take_slot(
        &self,
        name: &str,
        label: &str,
        budget: Budget,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let grant = self.update_pace_log(name, |log| {
            log.label = label.to_string();
            log.take(budget, now)
        });
        match grant {
            Some(Grant::WaitUntil(t)) => Some(t),
            Some(Grant::Go) | None => None,
        }
    }
}
