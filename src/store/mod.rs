//! The file-based store under `state_dir`.
//!
//! ```text
//! incidents/<key>.json        one record per incident key (the current or latest incident)
//! history/<key>.<seq>.json    records superseded by a later incident of the same alert
//! events/<key>.jsonl          the incident's event log (firings, deliveries, chat messages)
//! inbox/<id>.<key>.json       alerts received but not yet planned (written before the lock)
//! outbox/<id>.<key>.json      deliveries not yet accepted by the API
//! dead/<id>.<key>.json        deliveries the API refused for good, with its answer
//! quarantine/                 unreadable files, moved aside with a log line
//! locks/<key>.lock            per-incident lock files (never deleted while in use)
//! meta/                       last successful delivery per lane, read positions, tokens
//! ```
//!
//! Every file is written whole and atomically (`fsutil::write_atomic`), so a process killed at
//! any instant leaves either the old or the new version. Per-incident work happens under the
//! incident's lock; the cost of an invocation depends on its own incident and the queue, not on
//! how many incidents the store holds.

pub mod fsutil;
pub mod pacing;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::incident::Incident;
use crate::lifecycle::Action;
use crate::pandora::{fnv1a_hex, Alert};
use crate::storm::StormState;
use crate::time::Timestamp;

use fsutil::{append_line, ensure_dir, write_atomic};

static ID_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A store failure; always names the path.
#[derive(Debug)]
pub struct StoreError {
    /// What we were doing.
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

fn ctx<T>(action: &'static str, path: &Path, r: io::Result<T>) -> Result<T, StoreError> {
    r.map_err(|source| StoreError {
        action,
        path: path.to_path_buf(),
        source,
    })
}

/// A pending delivery.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// File stem (`<inbox id>-<n>`), unique and deterministic per planned action.
    pub id: String,
    /// Incident key.
    pub key: String,
    /// Position among this incident's deliveries.
    pub order: u64,
    /// When it was queued.
    pub created_at: Timestamp,
    /// What to deliver.
    pub action: Action,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The API asked us to wait until then (`Retry-After`); every sender honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<Timestamp>,
    /// Our own backoff after a failure; honoured by the scheduled plugin run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_until: Option<Timestamp>,
    /// Last failure, for `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When it was last tried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Timestamp>,
}

impl OutboxEntry {
    /// A new, never-attempted entry.
    pub fn new(id: String, key: &str, order: u64, created_at: Timestamp, action: Action) -> Self {
        OutboxEntry {
            id,
            key: key.to_string(),
            order,
            created_at,
            action,
            attempts: 0,
            not_before: None,
            backoff_until: None,
            last_error: None,
            last_attempt: None,
        }
    }
}

/// A delivery the API refused for good.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The entry as it was.
    pub entry: OutboxEntry,
    /// When it was given up.
    pub failed_at: Timestamp,
    /// Why (status and the API's answer).
    pub reason: String,
}

/// One line of an incident's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogLine {
    /// When.
    pub at: Timestamp,
    /// Incident number of this alert.
    pub seq: u32,
    /// `fired`, `refired`, `resolved`, `delivered`, `failed`, `dead-letter`, `chat`, …
    pub kind: String,
    /// Human text.
    pub text: String,
    /// Who: `pandora`, `pandora-ilert`, or a chat user.
    pub by: String,
}

impl EventLogLine {
    /// A line about something pandora-ilert did, stamped now.
    pub fn ours(seq: u32, kind: &str, text: String) -> Self {
        EventLogLine {
            at: Timestamp::now(),
            seq,
            kind: kind.to_string(),
            text,
            by: "pandora-ilert".into(),
        }
    }
}

/// An inbox entry: an alert waiting to be planned.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InboxEntry {
    /// File stem.
    pub id: String,
    /// When it arrived.
    pub received_at: Timestamp,
    /// Force this route (drills, `--route`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The alert.
    pub alert: Alert,
}

/// A held incident lock; released on drop (and by the kernel if the process dies).
pub struct IncidentLock {
    _file: File,
}

/// Why a lock was not obtained.
#[derive(Debug)]
pub enum LockError {
    /// Another process held it until the deadline.
    Timeout,
    /// The lock file could not be opened.
    Store(StoreError),
}

/// The store rooted at `state_dir`.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    read_only: bool,
}

/// The store's subdirectories (created by `open`, checked by `doctor`).
pub const DIRS: [&str; 9] = [
    "incidents",
    "history",
    "events",
    "inbox",
    "outbox",
    "dead",
    "quarantine",
    "locks",
    "meta",
];

impl Store {
    /// Opens the store, creating its directories (mode 0750 under a 0750 root) if needed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for d in DIRS {
            let p = root.join(d);
            ctx("create directory", &p, ensure_dir(&p))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Records hold alert data; keep the tree private to the Pandora server's user/group.
            if let Ok(meta) = fs::metadata(root) {
                if meta.permissions().mode() & 0o007 != 0 {
                    let _ = fs::set_permissions(root, fs::Permissions::from_mode(0o750));
                }
            }
        }
        Ok(Store {
            root: root.to_path_buf(),
            read_only: false,
        })
    }

    /// A read-only view that creates nothing (for `--dry-run` and `status` on a fresh box).
    pub fn open_read_only(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
            read_only: true,
        }
    }

    /// The state directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// A new sortable id: `<unix ms>-<pid>-<counter>`.
    pub fn new_id(now: Timestamp) -> String {
        format!(
            "{:013}-{:07}-{:04}",
            now.millis().max(0),
            std::process::id(),
            ID_COUNTER.fetch_add(1, Ordering::Relaxed) % 10_000
        )
    }

    // ----- locks -------------------------------------------------------------------------

    fn lock_file(&self, key: &str) -> Result<File, StoreError> {
        let p = self.dir("locks").join(format!("{}.lock", encode_key(key)));
        ctx(
            "open lock file",
            &p,
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&p),
        )
    }

    /// Waits for the incident's lock until `deadline`.
    pub fn lock_incident(&self, key: &str, deadline: Instant) -> Result<IncidentLock, LockError> {
        let file = self.lock_file(key).map_err(LockError::Store)?;
        wait_for_lock(file, deadline)
    }

    /// Waits for a route's storm lock until `deadline`; every change to the route's storm
    /// state (admission, delivery to the storm channel, the end of a storm) happens under it.
    pub fn lock_storm(&self, route: &str, deadline: Instant) -> Result<IncidentLock, LockError> {
        let name = format!("storm-{route}");
        let p = self.dir("meta").join(format!("{}.lock", encode_key(&name)));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p);
        let file = ctx("open lock file", &p, file).map_err(LockError::Store)?;
        wait_for_lock(file, deadline)
    }

    /// The storm state of a route (calm if none is stored).
    pub fn load_storm(&self, route: &str) -> StormState {
        let p = self
            .dir("meta")
            .join(format!("storm-{}.json", encode_key(route)));
        if !p.exists() {
            return StormState::new(route);
        }
        self.read_json(&p).unwrap_or_else(|| StormState::new(route))
    }

    /// Saves a route's storm state (under its `storm-<route>` lock).
    pub fn save_storm(&self, state: &StormState) -> Result<(), StoreError> {
        let p = self
            .dir("meta")
            .join(format!("storm-{}.json", encode_key(&state.route)));
        let bytes = serde_json::to_vec_pretty(state).unwrap_or_default();
        ctx("write storm state", &p, write_atomic(&p, &bytes))
    }

    /// Takes the incident's lock if it is free.
    pub fn try_lock_incident(&self, key: &str) -> Result<Option<IncidentLock>, StoreError> {
        let file = self.lock_file(key)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(IncidentLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(_)) => Ok(Some(IncidentLock { _file: file })),
        }
    }

    /// Takes a named store-wide lock (e.g. `plugin`) if it is free.
    pub fn try_lock_named(&self, name: &str) -> Result<Option<IncidentLock>, StoreError> {
        let p = self.dir("meta").join(format!("{name}.lock"));
        let file = ctx(
            "open lock file",
            &p,
            OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&p),
        )?;
        match file.try_lock() {
            Ok(()) => Ok(Some(IncidentLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(_)) => Ok(Some(IncidentLock { _file: file })),
        }
    }

    // ----- inbox -------------------------------------------------------------------------

    /// Saves an alert durably before anything else happens to it.
    pub fn inbox_put(&self, entry: &InboxEntry) -> Result<(), StoreError> {
        let p = self.dir("inbox").join(format!(
            "{}.{}.json",
            entry.id,
            encode_key(&entry.alert.key)
        ));
        let bytes = serde_json::to_vec(entry).unwrap_or_default();
        ctx("write inbox entry", &p, write_atomic(&p, &bytes))
    }

    /// Inbox entries of one incident, oldest first. Unreadable ones are quarantined.
    pub fn inbox_for(&self, key: &str) -> Vec<InboxEntry> {
        let mut out: Vec<InboxEntry> = self
            .list("inbox", Some(key))
            .into_iter()
            .filter_map(|(_, path)| self.read_json::<InboxEntry>(&path))
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// Keys with inbox entries left behind (a crash or a lock timeout).
    pub fn inbox_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .list("inbox", None)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// Removes an applied inbox entry.
    pub fn inbox_remove(&self, entry: &InboxEntry) -> Result<(), StoreError> {
        let p = self.dir("inbox").join(format!(
            "{}.{}.json",
            entry.id,
            encode_key(&entry.alert.key)
        ));
        ctx("remove inbox entry", &p, remove_if_exists(&p))
    }

    // ----- incident records --------------------------------------------------------------

    fn record_path(&self, key: &str) -> PathBuf {
        self.dir("incidents")
            .join(format!("{}.json", encode_key(key)))
    }

    /// The incident record, or `None`. A corrupt record is quarantined and treated as absent.
    pub fn load_incident(&self, key: &str) -> Option<Incident> {
        let p = self.record_path(key);
        if !p.exists() {
            return None;
        }
        self.read_json(&p)
    }

    /// Replaces the incident record.
    pub fn save_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        let p = self.record_path(&incident.key);
        let bytes = serde_json::to_vec_pretty(incident).unwrap_or_default();
        ctx("write incident record", &p, write_atomic(&p, &bytes))
    }

    /// Keeps a superseded incident (its chat channel may still need archiving).
    pub fn save_history(&self, incident: &Incident) -> Result<(), StoreError> {
        let p = self.dir("history").join(format!(
            "{}.{}.json",
            encode_key(&incident.key),
            incident.seq
        ));
        let bytes = serde_json::to_vec_pretty(incident).unwrap_or_default();
        ctx("write history record", &p, write_atomic(&p, &bytes))
    }

    /// Every current incident record (status, housekeeping). Corrupt ones are quarantined.
    pub fn incidents(&self) -> Vec<Incident> {
        self.read_dir_json("incidents")
    }

    /// Superseded records (housekeeping).
    pub fn history(&self) -> Vec<(PathBuf, Incident)> {
        let mut out = Vec::new();
        for (_, path) in self.list_all("history") {
            if let Some(i) = self.read_json(&path) {
                out.push((path, i));
            }
        }
        out
    }

    /// Removes a record file (pruning).
    pub fn remove_file(&self, path: &Path) -> Result<(), StoreError> {
        ctx("remove", path, remove_if_exists(path))
    }

    /// Removes an incident's record and event log (pruning, under its lock). Its incident
    /// number is remembered, so the next incident of the alert does not reuse an old channel
    /// name. The lock file stays: deleting a lock file another process may hold is unsafe.
    pub fn remove_incident(&self, key: &str, seq: u32) -> Result<(), StoreError> {
        let enc = encode_key(key);
        let p = self.dir("meta").join(format!("last-seq-{enc}"));
        ctx("write", &p, write_atomic(&p, seq.to_string().as_bytes()))?;
        for p in [
            self.record_path(key),
            self.dir("events").join(format!("{enc}.jsonl")),
        ] {
            ctx("remove", &p, remove_if_exists(&p))?;
        }
        Ok(())
    }

    /// The number of the last pruned incident of a key (0 if none was pruned).
    pub fn last_pruned_seq(&self, key: &str) -> u32 {
        self.read_meta(&format!("last-seq-{}", encode_key(key)))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    // ----- outbox ------------------------------------------------------------------------

    fn outbox_path(&self, dir: &str, entry: &OutboxEntry) -> PathBuf {
        self.dir(dir)
            .join(format!("{}.{}.json", entry.id, encode_key(&entry.key)))
    }

    /// Queues a delivery durably. Re-queuing the same id overwrites it (idempotent replay).
    pub fn enqueue(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let p = self.outbox_path("outbox", entry);
        let bytes = serde_json::to_vec(entry).unwrap_or_default();
        ctx("write outbox entry", &p, write_atomic(&p, &bytes))
    }

    /// Pending deliveries of one incident in delivery order.
    pub fn pending_for(&self, key: &str) -> Vec<OutboxEntry> {
        let mut out: Vec<OutboxEntry> = self
            .list("outbox", Some(key))
            .into_iter()
            .filter_map(|(_, path)| self.read_json::<OutboxEntry>(&path))
            .collect();
        out.sort_by(|a, b| (a.order, &a.id).cmp(&(b.order, &b.id)));
        out
    }

    /// Incident keys with pending deliveries, the one waiting longest first.
    pub fn pending_keys(&self) -> Vec<String> {
        let mut names = self.list("outbox", None);
        names.sort_by(|a, b| a.1.cmp(&b.1));
        let mut seen = std::collections::HashSet::new();
        names
            .into_iter()
            .filter(|(k, _)| seen.insert(k.clone()))
            .map(|(k, _)| k)
            .collect()
    }

    /// How many deliveries are queued (a directory listing, no reads).
    pub fn pending_count(&self) -> usize {
        self.list("outbox", None).len()
    }

    /// Every pending entry (status).
    pub fn pending_all(&self) -> Vec<OutboxEntry> {
        self.read_dir_json("outbox")
    }

    /// Records a failed attempt.
    pub fn update_entry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.enqueue(entry)
    }

    /// Removes a delivered entry.
    pub fn complete(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        let p = self.outbox_path("outbox", entry);
        ctx("remove delivered entry", &p, remove_if_exists(&p))
    }

    /// Moves a refused entry to `dead/` with the reason; it is kept, never deleted.
    pub fn dead_letter(
        &self,
        entry: &OutboxEntry,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let dead = DeadLetter {
            entry: entry.clone(),
            failed_at: now,
            reason: reason.to_string(),
        };
        let p = self.outbox_path("dead", entry);
        let bytes = serde_json::to_vec_pretty(&dead).unwrap_or_default();
        ctx("write dead letter", &p, write_atomic(&p, &bytes))?;
        self.complete(entry)
    }

    /// Every dead letter.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.read_dir_json("dead")
    }

    /// Moves dead letters back into the outbox (after fixing a key, say). Returns how many.
    pub fn requeue_dead(&self) -> Result<usize, StoreError> {
        let mut n = 0;
        for (_, path) in self.list_all("dead") {
            if let Some(dead) = self.read_json::<DeadLetter>(&path) {
                let mut entry = dead.entry;
                entry.attempts = 0;
                entry.not_before = None;
                entry.backoff_until = None;
                self.enqueue(&entry)?;
                ctx("remove dead letter", &path, remove_if_exists(&path))?;
                n += 1;
            }
        }
        Ok(n)
    }

    // ----- event log, meta ---------------------------------------------------------------

    /// Appends to the incident's event log. Best effort: a full disk must not stop delivery.
    pub fn log_event(&self, key: &str, line: &EventLogLine) {
        let p = self
            .dir("events")
            .join(format!("{}.jsonl", encode_key(key)));
        if let Err(e) = serde_json::to_string(line)
            .map_err(io::Error::other)
            .and_then(|l| append_line(&p, &l))
        {
            log::warn!("cannot append to event log {}: {e}", p.display());
        }
    }

    /// The incident's event log; a torn last line (crash mid-append) is skipped.
    pub fn events(&self, key: &str) -> Vec<EventLogLine> {
        let p = self
            .dir("events")
            .join(format!("{}.jsonl", encode_key(key)));
        fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Keeps only the event-log lines `keep` accepts (pruning, under the incident's lock).
    /// Returns how many lines were dropped; the log is rewritten only when some are.
    pub fn retain_events(
        &self,
        key: &str,
        keep: impl Fn(&EventLogLine) -> bool,
    ) -> Result<usize, StoreError> {
        let lines = self.events(key);
        let kept: Vec<&EventLogLine> = lines.iter().filter(|l| keep(l)).collect();
        let dropped = lines.len() - kept.len();
        if dropped == 0 {
            return Ok(0);
        }
        let p = self
            .dir("events")
            .join(format!("{}.jsonl", encode_key(key)));
        let mut text = String::new();
        for l in kept {
            text.push_str(&serde_json::to_string(l).unwrap_or_default());
            text.push('\n');
        }
        ctx("rewrite event log", &p, write_atomic(&p, text.as_bytes()))?;
        Ok(dropped)
    }

    /// Remembers a successful delivery on a lane (`ilert`, `chat:slack`).
    pub fn mark_success(&self, lane: &str, now: Timestamp) {
        // A statistic, not an event: no fsync.
        let p = self
            .dir("meta")
            .join(format!("last-success-{}", encode_key(lane)));
        if let Err(e) = fsutil::replace_quick(&p, now.rfc3339_millis().as_bytes()) {
            log::warn!("cannot write {}: {e}", p.display());
        }
    }

    /// When a lane last delivered.
    pub fn last_success(&self, lane: &str) -> Option<Timestamp> {
        self.read_meta(&format!("last-success-{}", encode_key(lane)))
            .and_then(|t| Timestamp::parse_rfc3339(&t))
    }

    /// Reads a small value under `meta/`.
    pub fn read_meta(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.dir("meta").join(name))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Writes a small value under `meta/` (atomically; failures are logged, not fatal).
    pub fn write_meta(&self, name: &str, value: &str) {
        let p = self.dir("meta").join(name);
        if let Err(e) = write_atomic(&p, value.as_bytes()) {
            log::warn!("cannot write {}: {e}", p.display());
        }
    }

    // ----- quarantine and listing --------------------------------------------------------

    /// Moves an unreadable file aside and says so in the log.
    pub fn quarantine(&self, path: &Path, why: &str) {
        if self.read_only {
            log::error!("{} is unreadable ({why})", path.display());
            return;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = self
            .dir("quarantine")
            .join(format!("{name}.{}", Timestamp::now().millis()));
        let _ = ensure_dir(&self.dir("quarantine"));
        match fs::rename(path, &dest) {
            Ok(()) => log::error!(
                "quarantined {} ({why}); moved to {}",
                path.display(),
                dest.display()
            ),
            Err(e) => log::error!(
                "{} is unreadable ({why}) and could not be moved aside: {e}",
                path.display()
            ),
        }
    }

    /// Files under `quarantine/`.
    pub fn quarantined(&self) -> Vec<PathBuf> {
        self.list_all("quarantine")
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    }

    /// Reads JSON; a file that does not parse is quarantined.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Option<T> {
        match fs::read(path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.quarantine(path, &format!("not valid JSON for its kind: {e}"));
                    None
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                log::error!("cannot read {}: {e}", path.display());
                None
            }
        }
    }

    fn read_dir_json<T: serde::de::DeserializeOwned>(&self, dir: &str) -> Vec<T> {
        self.list_all(dir)
            .into_iter()
            .filter_map(|(_, p)| self.read_json(&p))
            .collect()
    }

    /// `(key, path)` of the JSON entries in `dir`, optionally only those of one key.
    fn list(&self, dir: &str, key: Option<&str>) -> Vec<(String, PathBuf)> {
        let want = key.map(encode_key);
        let Ok(rd) = fs::read_dir(self.dir(dir)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with('.') {
                continue;
            }
            let Some(stem) = name.strip_suffix(".json") else {
                continue;
            };
            let Some((_, enc)) = stem.split_once('.') else {
                continue;
            };
            if want.as_deref().is_some_and(|w| w != enc) {
                continue;
            }
            out.push((decode_key(enc), e.path()));
        }
        out
    }

    fn list_all(&self, dir: &str) -> Vec<(String, PathBuf)> {
        let Ok(rd) = fs::read_dir(self.dir(dir)) else {
            return Vec::new();
        };
        let mut out: Vec<(String, PathBuf)> = rd
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .collect();
        out.sort();
        out
    }

    /// Removes temporary files older than an hour left by killed processes.
    pub fn sweep_temp_files(&self, now: Timestamp) -> usize {
        let mut n = 0;
        for d in DIRS {
            let Ok(rd) = fs::read_dir(self.dir(d)) else {
                continue;
            };
            for e in rd.flatten() {
                if !e.file_name().to_string_lossy().starts_with(".tmp-") {
                    continue;
                }
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(|m| {
                        Timestamp::from_millis(
                            m.duration_since(std::time::UNIX_EPOCH)
                                .unwrap_or_default()
                                .as_millis() as i64,
                        )
                    })
                    .is_ok_and(|m| now.since(m) > Duration::from_secs(3600));
                if old && fs::remove_file(e.path()).is_ok() {
                    n += 1;
                }
            }
        }
        n
    }
}

/// Polls `try_lock` with a short backoff until `deadline`.
fn wait_for_lock(file: File, deadline: Instant) -> Result<IncidentLock, LockError> {
    let mut pause = Duration::from_millis(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(IncidentLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => {
                // Filesystems without flock (some NFS): carry on unlocked, as cargo does.
                log::warn!("file locking unsupported here ({e}); continuing without the lock");
                return Ok(IncidentLock { _file: file });
            }
        }
        if Instant::now() + pause >= deadline {
            return Err(LockError::Timeout);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

fn remove_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Encodes a key for use in a file name: `[A-Za-z0-9_-]` kept, everything else `%XX`;
/// long keys are shortened with a hash so names stay under filesystem limits.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > 120 {
        let mut cut = 100;
        while !out.is_char_boundary(cut)
            || out[..cut].ends_with('%')
            || out[..cut].rfind('%').is_some_and(|i| i + 3 > cut)
        {
            cut -= 1;
        }
        out = format!("{}~{}", &out[..cut], fnv1a_hex(key.as_bytes()));
    }
    out
}

/// Reverses `encode_key` (hashed long keys stay as they are; records carry the full key).
pub fn decode_key(enc: &str) -> String {
    let bytes = enc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&enc[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_file_names() {
        for k in ["6182268", "am-00ff", "a.b/c d", "ключ"] {
            let enc = encode_key(k);
            assert!(!enc.contains('.') && !enc.contains('/'), "{enc}");
            assert_eq!(decode_key(&enc), k);
        }
        let long = "x".repeat(500);
        assert!(encode_key(&long).len() < 130);
    }
}
