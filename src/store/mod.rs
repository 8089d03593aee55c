//! The file-based store under `state_dir`. Its invariants, the order of its writes and how a
//! reader repairs every intermediate state are in docs/store.md.
//!
//! ```text
//! incidents/<key>.json        an incident's record while nothing is queued for it
//! outbox/<key>.json           an incident's record with its queue of pending deliveries
//! history/<key>.<seq>.json    records superseded by a later incident of the same alert
//! events/<key>.jsonl          the incident's event log (firings, deliveries, chat messages)
//! inbox/<id>.<key>.json       alerts received but not yet planned (written before the lock)
//! dead/<id>.<key>.json        deliveries the API refused for good, with its answer
//! quarantine/                 unreadable files, moved aside with a log line
//! locks/incidents            per-incident locks, a byte each (`range_lock`; `<key>.lock`
//!                             files where the kernel has no OFD locks, never deleted)
//! open/<opened ms>.<key>      a marker per open incident (an index, repaired on read), a
//!                             link to the empty `open/.by-opening-time` until a re-fire
//!                             writes to it
//! meta/                       last successful delivery per lane, read positions, tokens
//! ```
//!
//! One write commits one decision: the record and the deliveries it queues are one file,
//! replaced atomically (`fsutil::write_file`). A process killed at any instant leaves either
//! the old decision or the new one. Per-incident work happens under the incident's lock.

mod events;
pub mod fsutil;
mod open_head;
pub mod pacing;
mod queue_index;
mod range_lock;
pub mod slices;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::incident::Incident;
use crate::lifecycle::Action;
use crate::pandora::Alert;
use crate::storm::StormState;
use crate::text::fnv1a_hex;
use crate::time::Timestamp;

pub use events::{EventKind, EventLogLine, Step};
pub use fsutil::Durability;
use fsutil::{append_line, ensure_dir, write_atomic, write_file};

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
    /// The incident number (`Incident::seq`) it belongs to; 0 in format-1 entries (the
    /// current incident). A chat step of incident 1 still queued when incident 2 opens acts
    /// on incident 1's record and channel.
    #[serde(default)]
    pub seq: u32,
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
    /// When a scheduled run should try it next: after the provider's hold and our backoff.
    pub fn due(&self) -> Timestamp {
        [self.not_before, self.backoff_until]
            .into_iter()
            .flatten()
            .fold(self.created_at, Timestamp::max)
    }

    /// A new, never-attempted entry.
    pub fn new(
        id: String,
        key: &str,
        seq: u32,
        order: u64,
        created_at: Timestamp,
        action: Action,
    ) -> Self {
        OutboxEntry {
            id,
            key: key.to_string(),
            seq,
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

/// An incident's record and its pending deliveries: what one atomic write commits.
#[derive(Clone, Debug, Default)]
pub struct Record {
    /// The incident (none for a queue that belongs to no incident, like a storm's end).
    pub incident: Option<Incident>,
    /// Pending deliveries, in any order (`pending_for` sorts them).
    pub queue: Vec<OutboxEntry>,
}

/// A re-fire inside the dedupe window, kept in the incident's `open/` marker (see
/// `Store::save_refire`): what such a re-fire changes in the record.
#[derive(Deserialize)]
struct RefireBump {
    seq: u32,
    times_fired: u32,
    last_seen: Timestamp,
    /// Only when a re-fire backfilled the first firing's data (`alert_details::backfill`),
    /// which the record then lacks: most re-fires leave it out, and a reader then parses one
    /// alert less. (Written always before: such a marker is still read.)
    #[serde(default)]
    first: Option<Alert>,
    last: Alert,
}

/// `RefireBump` as written: the same fields, borrowed from the incident (no copy of its
/// alerts for a write of a few hundred bytes).
#[derive(Serialize)]
struct RefireBumpOut<'a> {
    seq: u32,
    times_fired: u32,
    last_seen: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<&'a Alert>,
    last: &'a Alert,
}

impl<'a> RefireBumpOut<'a> {
    fn of(incident: &'a Incident, with_first: bool) -> Self {
        RefireBumpOut {
            seq: incident.seq,
            times_fired: incident.times_fired,
            last_seen: incident.last_seen,
            first: with_first.then_some(&incident.first),
            last: &incident.last,
        }
    }
}

impl RefireBump {
    /// Applies the re-fire to the incident it was made for, if the record is older. True
    /// when it gave the incident a first firing other than the record's.
    fn apply_to(self, incident: &mut Incident) -> bool {
        if self.seq != incident.seq || self.times_fired <= incident.times_fired {
            return false;
        }
        incident.times_fired = self.times_fired;
        incident.last_seen = self.last_seen;
        incident.last = self.last;
        match self.first {
            Some(first) if first != incident.first => {
                incident.first = first;
                true
            }
            _ => false,
        }
    }
}

/// The on-disk format of the record file (format 2), as read; `Q` is the queue as it is
/// wanted (`Vec<OutboxEntry>`, or `IgnoredAny` to skip it unbuilt).
#[derive(Deserialize)]
struct RecordFile<Q> {
    /// Required, not checked: a file without it is a format-1 bare incident, which readers
    /// then parse as such.
    #[serde(rename = "store_format")]
    _store_format: u32,
    #[serde(default)]
    incident: Option<Incident>,
    #[serde(default)]
    queue: Q,
}

/// `RecordFile` as written: borrowed from the record, so a write copies nothing.
#[derive(Serialize)]
struct RecordFileOut<'a> {
    store_format: u32,
    incident: &'a Option<Incident>,
    #[serde(skip_serializing_if = "<[OutboxEntry]>::is_empty")]
    queue: &'a [OutboxEntry],
}

/// Made in `open/` once its markers are named `<opened ms>.<key>` (an earlier format-2
/// store named them `<key>`): until then `Store::open` rebuilds the index.
const OPEN_INDEX_READY: &str = ".by-opening-time";

/// How stale `meta/last-success-*` may be (a health figure, read in seconds).
const SUCCESS_RESOLUTION: Duration = Duration::from_secs(10);

/// The `open/` marker of an incident: when it opened, so listing the directory orders the
/// index without a `stat` per marker, and a new incident of the same alert never takes over
/// an earlier one's stale marker.
fn marker_name(incident: &Incident) -> String {
    format!(
        "{:013}.{}",
        incident.opened_at.millis().max(0),
        encode_key(&incident.key)
    )
}

/// `(opened at, file name of the record)` from a marker's name, if it is one.
fn parse_marker(name: &str) -> Option<(Timestamp, &str)> {
    // Thirteen digits and a dot: checked by position (the plugin reads 100,000 of these).
    if name.as_bytes().get(13) != Some(&b'.') {
        return None;
    }
    let (ms, enc) = (&name[..13], &name[14..]);
    if !ms.bytes().all(|b| b.is_ascii_digit()) || !is_encoded_key(enc) {
        return None;
    }
    Some((Timestamp::from_millis(ms.parse().ok()?), enc))
}

/// The store layout version this binary writes.
pub const STORE_FORMAT: u32 = 2;

/// Delivery order: the incident's own sequence, then the id.
pub fn sort_queue(queue: &mut [OutboxEntry]) {
    queue.sort_by(|a, b| (a.order, &a.id).cmp(&(b.order, &b.id)));
}

fn to_json<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(io::Error::other)
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

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Timeout => f.write_str("another process held the lock until the deadline"),
            LockError::Store(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::Timeout => None,
            LockError::Store(e) => Some(e),
        }
    }
}

/// The store rooted at `state_dir`.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
    read_only: bool,
    /// The queue files (name, key) this process wrote, moved or removed since its first
    /// `scan_outbox`: an `OutboxScan` stats these again (`refresh_scan`) instead of listing
    /// `outbox/` anew. `None` (nothing noted) in a process that never scans, such as `watch`.
    touched: Arc<Mutex<Option<BTreeMap<String, String>>>>,
    /// How many `open/` markers this process made or removed: a listing of `open/` taken
    /// when this was `n` still holds while it is `n`, but for other processes' changes.
    open_changes: Arc<AtomicU64>,
    /// The cycle list this process wrote or last read (`start_cycle`, `cycle_slice`): the
    /// plugin's two passes share it, so a run lists the store and reads the list once.
    cycle_list: Arc<Mutex<Option<CycleList>>>,
    /// Keys whose re-fire, as read, gave the incident a first firing other than its record's:
    /// the next re-fire must carry it on (`save_refire`).
    refire_first: Arc<Mutex<BTreeSet<String>>>,
}

/// A cycle's list of record files as this process knows it.
#[derive(Debug)]
struct CycleList {
    /// Its text, as written to `meta/records-cycle`.
    text: Arc<String>,
    /// Written by this process (a second pass starting a cycle in the same run takes it).
    listed_here: Option<(Timestamp, usize)>,
}

/// One listing of `outbox/` with one `stat` per queue file, taken once by a plugin run and
/// shared by its delivery ordering (`pending_keys_due_in`) and its health summary
/// (`queue_summary_of`, after `refresh_scan`). See docs/store.md.
#[derive(Debug, Default)]
pub struct OutboxScan {
    /// Queue file name -> (incident key, its identity (`queue_index`), `None` when it could
    /// not be read).
    files: BTreeMap<String, (String, Option<queue_index::FileId>)>,
    /// Format-1 entries (`<id>.<key>.json`): (key, path).
    legacy: Vec<(String, PathBuf)>,
    /// `outbox/`'s identity when the scan started (`None`: it could not be read, or a
    /// queue file is a symlink).
    dir: Option<fsutil::DirStamp>,
}

impl OutboxScan {
    /// How many incidents have a queue file.
    pub fn incidents(&self) -> usize {
        self.files.len()
    }
}

/// The names of the record files of one slice of a pass over every record (see `slices`,
/// `Store::start_cycle` and `Store::cycle_slice`).
#[derive(Debug, Default)]
pub struct RecordSlice {
    /// The slice's first bucket.
    pub from: u32,
    /// The bucket after its last (`slices::BUCKETS` for the cycle's last slice).
    pub end: u32,
    /// How many record files the cycle's list holds in all.
    pub total: usize,
    /// File stems of the slice's current records (under `outbox/`, `incidents/` or both).
    current: Vec<String>,
    /// Names of the slice's files under `history/`.
    history: Vec<String>,
    /// Temporary files (`.tmp-*`) the listing of `incidents/` came across (a new cycle's).
    temps: Vec<String>,
}

/// How a new cycle of a pass over every record starts (`Store::start_cycle`).
#[derive(Debug)]
pub enum CycleStart {
    /// The store is one slice: here it is, whole; no list was written.
    Whole(RecordSlice),
    /// The list of `total` record files of the cycle that started at `started` (this pass's,
    /// or the one the other pass started earlier in this run) was written; the slices follow
    /// in the next runs.
    Listed { started: Timestamp, total: usize },
}

impl RecordSlice {
    /// How many record files the slice names (current and superseded).
    pub fn files(&self) -> usize {
        self.current.len() + self.history.len()
    }
}

/// The first line of a cycle's list of record files (`Store::start_cycle`).
const CYCLE_LIST: &str = "pandora-ilert record files";

/// The cycle list's name under `meta/`, shared by the plugin's passes over every record.
const CYCLE_LIST_META: &str = "records-cycle";

/// Each pass's own list, before the passes shared one: removed when a list is written.
const OLD_CYCLE_LISTS: [&str; 2] = ["prune-cycle", "archive-cycle"];

/// Appends `n` in decimal.
fn push_decimal(text: &mut String, n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    text.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// The first line of the list of the cycle that started at `started`.
fn cycle_list_header(started: Timestamp) -> String {
    format!("{CYCLE_LIST} {}", started.rfc3339_millis())
}

/// The slice from bucket `from` of a cycle's list of record files (`Store::start_cycle`):
/// `None` unless its first line names the cycle that started at `started` and its last
/// line closes the count of the lines between. One pass over the text: every bucket's
/// records counted, the names from the slice's first bucket on kept.
fn parse_slice(text: &str, started: Timestamp, from: u32, limit: usize) -> Option<RecordSlice> {
    let (header, body) = text.split_once('\n')?;
    if header != cycle_list_header(started) {
        return None;
    }
    // `<bucket> <c|h> <name>`, read by hand: a run parses the whole list (100,000 lines for
    // as many incidents) to count the buckets, and a generic split cost ~0.1 us a line.
    fn parse(line: &str) -> Option<(u32, bool, &str)> {
        let (b, rest) = line.split_at(line.find(' ')?);
        let b: u32 = b.parse().ok().filter(|b| *b < slices::BUCKETS)?;
        let current = match rest.as_bytes().get(1..3)? {
            b"c " => true,
            b"h " => false,
            _ => return None,
        };
        Some((b, current, &rest[3..]))
    }
    // One pass: every line counted, those from the slice's first bucket on kept (the slice's
    // end is known only once every bucket is counted).
    let mut counts = vec![0u32; slices::BUCKETS as usize];
    let mut total = 0usize;
    let mut kept: Vec<(u32, bool, &str)> = Vec::new();
    let mut closed = false;
    for line in body.lines() {
        if closed {
            return None;
        }
        match parse(line) {
            Some(entry) => {
                counts[entry.0 as usize] += 1;
                total += 1;
                if entry.0 >= from {
                    kept.push(entry);
                }
            }
            None if line.strip_prefix("end ") == Some(total.to_string().as_str()) => {
                closed = true;
            }
            None => return None,
        }
    }
    if !closed {
        return None;
    }
    let end = slices::slice_end(&counts, from, limit);
    let (mut current, mut history) = (Vec::new(), Vec::new());
    for (_, is_current, name) in kept.into_iter().filter(|(b, _, _)| *b < end) {
        if is_current {
            current.push(name.to_string());
        } else {
            history.push(name.to_string());
        }
    }
    Some(RecordSlice {
        from,
        end,
        total,
        current,
        history,
        temps: Vec::new(),
    })
}

/// A history file's key part (`<key>.<seq>.json`), the name itself for anything else: a
/// superseded record falls in its key's bucket.
fn history_key_part(name: &str) -> &str {
    name.strip_suffix(".json")
        .and_then(|s| s.split_once('.'))
        .map_or(name, |(k, _)| k)
}

/// How many incidents the `open/` index counts, and its oldest markers (`(name, opened at)`,
/// oldest first), from one listing (`Store::open_index_head`).
#[derive(Clone, Debug, Default)]
pub struct OpenIndexHead {
    /// Markers in `open/` (stale ones too, until a reader drops them).
    pub count: usize,
    /// The oldest markers, oldest first.
    pub oldest: Vec<(String, Timestamp)>,
    /// The markers of some buckets, for the housekeeping slice of the same run
    /// (`Store::repair_open_index`), when asked for.
    pub slice_markers: Option<SliceMarkers>,
}

/// Where a housekeeping slice finds the `open/` markers of its buckets.
#[derive(Clone, Debug)]
pub enum SliceMarkers {
    /// The markers of `buckets`, from one listing taken earlier in the run.
    Listed {
        buckets: std::ops::Range<u32>,
        names: Vec<String>,
    },
    /// `open/` is as it was at a listing of an earlier run (`Store::open_index_head_cached`):
    /// each record of the slice has its own marker checked by name, nothing listed.
    ByRecord,
}

impl SliceMarkers {
    /// The markers of the buckets `range`, if this listing holds them all.
    fn of(&self, range: std::ops::Range<u32>) -> Option<impl Iterator<Item = &str>> {
        let SliceMarkers::Listed { buckets, names } = self else {
            return None;
        };
        (buckets.start <= range.start && range.end <= buckets.end).then(|| {
            names.iter().map(String::as_str).filter(move |n| {
                parse_marker(n).is_some_and(|(_, enc)| range.contains(&slices::bucket(enc)))
            })
        })
    }
}

/// The store's subdirectories (created by `open`, checked by `doctor`).
pub const DIRS: [&str; 10] = [
    "incidents",
    "history",
    "events",
    "inbox",
    "outbox",
    "dead",
    "quarantine",
    "locks",
    "meta",
    "open",
];

impl Store {
    /// Opens the store, creating its directories (mode 0750 under a 0750 root) if needed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store {
            root: root.to_path_buf(),
            read_only: false,
            touched: Arc::default(),
            open_changes: Arc::default(),
            cycle_list: Arc::default(),
            refire_first: Arc::default(),
        };
        let format = store.read_meta("store-format");
        if format.as_deref() == Some("2") && root.join("open").join(OPEN_INDEX_READY).exists() {
            return Ok(store);
        }
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
        // A store written by format 1 keeps one outbox file per delivery: adopt them into
        // their incidents' queues before anything else reads the outbox.
        let left = store.adopt_legacy_entries(Instant::now() + Duration::from_secs(2));
        store.rebuild_open_index();
        if left == 0 {
            let p = store.dir("meta").join("store-format");
            ctx(
                "write",
                &p,
                write_atomic(&p, STORE_FORMAT.to_string().as_bytes()),
            )?;
        }
        Ok(store)
    }

    /// Checks the store the way an alert uses it: a file made and written where records and
    /// queues are committed (`fsutil::probe_dir`: an unnamed file where the filesystem has
    /// them, so the directories keep their identity, which the plugin's caches are keyed by).
    /// A read-only mount, a full filesystem or a directory owned by another user fails here,
    /// with the path and the OS error. Nothing is flushed: the plugin runs this every time,
    /// and a flush proves nothing these calls do not.
    pub fn probe_writable(&self) -> Result<(), StoreError> {
        for d in ["outbox", "incidents", "inbox"] {
            let dir = self.dir(d);
            ctx("write a test file in", &dir, fsutil::probe_dir(&dir))?;
        }
        Ok(())
    }

    /// A read-only view that creates nothing (for `--dry-run` and `status` on a fresh box).
    pub fn open_read_only(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
            read_only: true,
            touched: Arc::default(),
            open_changes: Arc::default(),
            cycle_list: Arc::default(),
            refire_first: Arc::default(),
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

    /// Where incident `name`'s (an encoded key) lock is taken: its byte of the shared
    /// `locks/incidents` file (`range_lock`), opened anew so the lock is this open's alone.
    fn lock_site(&self, name: &str) -> Result<LockSite, StoreError> {
        LockSite::open(
            self.dir("locks").join(SHARED_LOCK_FILE),
            Some(range_lock::byte_of(name)),
        )
    }

    /// The lock file of incident `name`'s own, for a kernel or filesystem without OFD locks
    /// (and the only kind before them): never deleted, as another process may hold it.
    fn own_lock_site(&self, name: &str) -> Result<LockSite, StoreError> {
        LockSite::open(self.dir("locks").join(format!("{name}.lock")), None)
    }

    /// One attempt at incident `name`'s lock, falling back to its own lock file where byte
    /// locks are unsupported; `None` when another process holds it.
    fn try_lock_name(&self, name: &str) -> Result<Option<IncidentLock>, StoreError> {
        let site = self.lock_site(name)?;
        match site.try_take() {
            Ok(taken) => Ok(taken.then(|| site.held())),
            Err(e) if range_lock::unsupported(&e) => {
                LockSite::attempt(&mut Some(self.own_lock_site(name)?))
            }
            Err(e) => Err(StoreError {
                action: "lock",
                path: site.path,
                source: e,
            }),
        }
    }

    /// Waits for the incident's lock until `deadline`.
    pub fn lock_incident(&self, key: &str, deadline: Instant) -> Result<IncidentLock, LockError> {
        let name = encode_key(key);
        wait_for_lock(deadline, || self.try_lock_name(&name))
    }

    /// Waits for a route's storm lock until `deadline`; every change to the route's storm
    /// state (admission, delivery to the storm channel, the end of a storm) happens under it.
    pub fn lock_storm(&self, route: &str, deadline: Instant) -> Result<IncidentLock, LockError> {
        let name = format!("storm-{route}");
        let p = self.dir("meta").join(format!("{}.lock", encode_key(&name)));
        let mut site = Some(LockSite::open(p, None).map_err(LockError::Store)?);
        wait_for_lock(deadline, || LockSite::attempt(&mut site))
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
        let bytes = ctx("serialise storm state", &p, to_json(state))?;
        ctx("write storm state", &p, write_atomic(&p, &bytes))
    }

    /// Takes the incident's lock if it is free.
    pub fn try_lock_incident(&self, key: &str) -> Result<Option<IncidentLock>, StoreError> {
        self.try_lock_name(&encode_key(key))
    }

    /// Takes a named store-wide lock (e.g. `plugin`) if it is free.
    pub fn try_lock_named(&self, name: &str) -> Result<Option<IncidentLock>, StoreError> {
        let p = self.dir("meta").join(format!("{name}.lock"));
        LockSite::attempt(&mut Some(LockSite::open(p, None)?))
    }

    // ----- inbox -------------------------------------------------------------------------

    /// Saves an alert durably before anything else happens to it.
    pub fn inbox_put(&self, entry: &InboxEntry) -> Result<(), StoreError> {
        let p = self.dir("inbox").join(format!(
            "{}.{}.json",
            entry.id,
            encode_key(&entry.alert.key)
        ));
        let bytes = ctx("serialise inbox entry", &p, to_json(entry))?;
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
        ctx("remove inbox entry", &p, fsutil::remove(&p))
    }

    // ----- incident records and their queues ----------------------------------------------

    fn record_path(&self, key: &str) -> PathBuf {
        self.dir("incidents")
            .join(format!("{}.json", encode_key(key)))
    }

    fn queued_record_path(&self, key: &str) -> PathBuf {
        self.dir("outbox").join(format!("{}.json", encode_key(key)))
    }

    /// Notes that this process changes `key`'s queue file (see `refresh_scan`).
    fn touch_queue(&self, key: &str) {
        if let Some(touched) = self
            .touched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_mut()
        {
            touched.insert(format!("{}.json", encode_key(key)), key.to_string());
        }
    }

    /// The incident's record and queue, as the last committed write left them (see
    /// docs/store.md: a copy under `outbox/` is always the newer one). Unreadable files are
    /// quarantined; an unreadable queued copy falls back to the older settled one.
    pub fn load_record(&self, key: &str) -> Record {
        self.load_record_named(&encode_key(key))
    }

    /// `load_record` by file name (`encode_key` of the key): index entries carry the name, and
    /// a long key's name is a hash that does not decode back to the key.
    fn load_record_named(&self, name: &str) -> Record {
        let file = format!("{name}.json");
        let mut record = match self.read_record(&self.dir("outbox").join(&file)) {
            Some(r) => r,
            // A record under incidents/ has nothing pending, whatever its `queue` says (a
            // drained queue file is moved there as it is, see `update_record`): the queue is
            // skipped, not parsed.
            None => Record {
                incident: self.read_incident(&self.dir("incidents").join(&file)),
                queue: Vec::new(),
            },
        };
        if let Some(incident) = record.incident.as_mut().filter(|i| i.is_open()) {
            if let Some(bump) = self.read_refire(&marker_name(incident)) {
                if bump.apply_to(incident) {
                    self.refire_first
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(incident.key.clone());
                }
            }
        }
        record
    }

    /// The open incident whose `open/` marker is `marker` (from `open_index`), if it is open.
    pub fn open_incident_named(&self, marker: &str) -> Option<Incident> {
        let (_, name) = parse_marker(marker)?;
        self.load_record_named(name)
            .incident
            .filter(|i| i.is_open() && marker_name(i) == marker)
    }

    /// `read_record`'s incident alone: the queue is skipped, not built (passes over every
    /// record read only the incident).
    fn read_incident(&self, path: &Path) -> Option<Incident> {
        self.read_record_file::<serde::de::IgnoredAny>(path)
            .and_then(|f| f.incident)
    }

    fn read_record(&self, path: &Path) -> Option<Record> {
        self.read_record_file(path).map(|f| Record {
            incident: f.incident,
            queue: f.queue,
        })
    }

    /// A record file with its queue read as `Q`; a format-1 bare incident (under
    /// `incidents/`, its queue in legacy outbox files) as that incident with an empty queue;
    /// anything else quarantined.
    fn read_record_file<Q: serde::de::DeserializeOwned + Default>(
        &self,
        path: &Path,
    ) -> Option<RecordFile<Q>> {
        let bytes = self.read_bytes(path)?;
        match serde_json::from_slice::<RecordFile<Q>>(&bytes) {
            Ok(f) => Some(f),
            Err(_) => match serde_json::from_slice::<Incident>(&bytes) {
                Ok(i) => Some(RecordFile {
                    _store_format: 1,
                    incident: Some(i),
                    queue: Q::default(),
                }),
                Err(e) => {
                    self.quarantine(path, &format!("not a valid incident record: {e}"));
                    None
                }
            },
        }
    }

    /// Writes the incident's record and queue in one atomic write: the commit point of every
    /// decision. A non-empty queue lives under `outbox/` (so listing that directory finds all
    /// pending work); an empty one moves the record back under `incidents/`.
    pub fn save_record(
        &self,
        key: &str,
        record: &Record,
        durability: Durability,
    ) -> Result<(), StoreError> {
        // The open index is only ever ahead of the records: the marker is made before an
        // incident opens and removed after it resolves, so a crash leaves a stale marker
        // (dropped by `open_incidents`), never a missing one. A marker that cannot be made
        // fails the write: committing without it would hide an open incident from `status`,
        // the plugin and chat commands until the hourly rebuild.
        match &record.incident {
            Some(i) if i.is_open() => self.mark_open(i)?,
            _ => {}
        }
        self.write_record(key, record, durability)?;
        match &record.incident {
            Some(i) if !i.is_open() => {
                let marker = self.dir("open").join(marker_name(i));
                if marker.exists() {
                    self.note_open_change();
                    if let Err(e) = fsutil::remove(&marker) {
                        log::warn!("cannot remove {}: {e}", marker.display());
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn mark_open(&self, incident: &Incident) -> Result<(), StoreError> {
        let marker = self.dir("open").join(marker_name(incident));
        if marker.exists() {
            return Ok(());
        }
        self.note_open_change();
        let made = fsutil::fault_point("create", &marker).and_then(|()| self.make_marker(&marker));
        ctx("create open-index marker", &marker, made)
    }

    /// A marker is a name: it is made as one more link to the open index's empty
    /// `.by-opening-time` file, which takes no inode (creating a file was the costliest step
    /// of a new alert, see `range_lock`). Where that cannot be (the file is missing, 65,000
    /// links on ext4, a filesystem without hard links) the marker is an empty file of its
    /// own. A re-fire gives a linked marker a file of its own before writing to it
    /// (`save_refire`).
    fn make_marker(&self, marker: &Path) -> io::Result<()> {
        match fs::hard_link(self.dir("open").join(OPEN_INDEX_READY), marker) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(_) => OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(marker)
                .map(drop),
        }
    }

    fn write_record(
        &self,
        key: &str,
        record: &Record,
        durability: Durability,
    ) -> Result<(), StoreError> {
        let queued = self.queued_record_path(key);
        let settled = self.record_path(key);
        self.touch_queue(key);
        let bytes = to_json(&RecordFileOut {
            store_format: STORE_FORMAT,
            incident: &record.incident,
            queue: &record.queue,
        });
        let bytes = ctx("serialise incident record", &queued, bytes)?;
        if let Some(due) = record.queue.iter().map(OutboxEntry::due).min() {
            // The due time in milliseconds; below them a nonce, so that each version of a
            // queue file is told apart by its identity (see `queue_index`).
            static WRITES: AtomicU32 = AtomicU32::new(0);
            let clock = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos();
            let nonce = (u64::from(std::process::id()).wrapping_mul(7919)
                + u64::from(WRITES.fetch_add(1, Ordering::Relaxed)).wrapping_mul(104_729)
                + u64::from(clock))
                % 1_000_000;
            let due = due.system_time() + Duration::from_nanos(nonce);
            return ctx(
                "write incident record and queue",
                &queued,
                fsutil::write_file_dated(&queued, &bytes, durability, Some(due)),
            );
        }
        if record.incident.is_none() {
            return ctx("remove drained queue", &queued, fsutil::remove(&queued));
        }
        if queued.exists() {
            // Drained: the empty queue is written in place first, so a kill before the move
            // leaves a copy that already says "nothing pending".
            ctx(
                "write incident record",
                &queued,
                write_file(&queued, &bytes, Durability::Progress),
            )?;
            return ctx(
                "move drained record",
                &settled,
                fsutil::rename(&queued, &settled, durability),
            );
        }
        ctx(
            "write incident record",
            &settled,
            write_file(&settled, &bytes, durability),
        )
    }

    /// Applies `change` to the incident's stored record and queue and writes it back.
    ///
    /// When the change only empties the queue (the last delivery done), the queue file is
    /// moved under `incidents/` as it is, without writing it again: its data reached the disk
    /// when it was written (every write under `outbox/` flushes its data before it returns),
    /// and a record under `incidents/` has nothing pending by definition. A power cut that
    /// undoes the move leaves the queue file, whose entries are then sent once more.
    pub fn update_record(
        &self,
        key: &str,
        durability: Durability,
        change: impl FnOnce(&mut Record),
    ) -> Result<(), StoreError> {
        let before = self.load_record(key);
        self.update_loaded(key, &before, durability, change)
            .map(drop)
    }

    /// `update_record` for a caller that holds the incident's lock and has its record as
    /// `load_record` returned it (or this function did): saves one read. Returns the record
    /// as written.
    pub fn update_loaded(
        &self,
        key: &str,
        before: &Record,
        durability: Durability,
        change: impl FnOnce(&mut Record),
    ) -> Result<Record, StoreError> {
        let mut record = before.clone();
        change(&mut record);
        let drained = record.queue.is_empty()
            && !before.queue.is_empty()
            && record.incident.is_some()
            && record.incident == before.incident;
        self.settle_or_save(key, record, drained, durability)
    }

    /// Takes a delivered entry off the queue of the record `load_record` or a write of this
    /// store returned (the caller holds the incident's lock). As `update_loaded`, without
    /// copying the record: only the queue changes, so emptying it moves the file unwritten.
    pub fn remove_delivered(
        &self,
        key: &str,
        mut record: Record,
        id: &str,
        durability: Durability,
    ) -> Result<Record, StoreError> {
        let had_queue = !record.queue.is_empty();
        record.queue.retain(|e| e.id != id);
        let drained = record.queue.is_empty() && had_queue && record.incident.is_some();
        self.settle_or_save(key, record, drained, durability)
    }

    /// Writes `record`, or, when its queue has just `drained` and nothing else changed, moves
    /// its queue file under `incidents/` as it is (invariant 2).
    fn settle_or_save(
        &self,
        key: &str,
        record: Record,
        drained: bool,
        durability: Durability,
    ) -> Result<Record, StoreError> {
        if drained {
            let queued = self.queued_record_path(key);
            let settled = self.record_path(key);
            self.touch_queue(key);
            ctx(
                "move drained record",
                &settled,
                fsutil::rename(&queued, &settled, durability),
            )?;
        } else {
            self.save_record(key, &record, durability)?;
        }
        Ok(record)
    }

    // ----- re-fires inside the dedupe window ---------------------------------------------

    /// Records a re-fire inside the dedupe window (nothing to deliver) in the incident's
    /// `open/` marker instead of rewriting its record: written in place, no temporary file,
    /// no fsync. Readers of the record
    /// apply it (`load_record`), so the next write of the record carries it. A power cut may
    /// lose it or leave it torn (its checksum then fails and it is ignored): the count and
    /// the latest value go back to the last written record; nothing is paged either way.
    ///
    /// `first_backfilled`: this re-fire changed the first firing's data. The marker carries
    /// the first firing only then, or when the re-fire it replaces carried one.
    pub fn save_refire(
        &self,
        incident: &Incident,
        first_backfilled: bool,
    ) -> Result<(), StoreError> {
        use std::io::Write;
        let marker = self.dir("open").join(marker_name(incident));
        let with_first = first_backfilled
            || self
                .refire_first
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&incident.key);
        let bump = RefireBumpOut::of(incident, with_first);
        let json = ctx("serialise re-fire", &marker, to_json(&bump))?;
        let mut line = format!("{} ", fnv1a_hex(&json)).into_bytes();
        line.extend_from_slice(&json);
        line.push(b'\n');
        // Creates the marker if it is missing (a power cut took it).
        self.note_open_change();
        let result = (|| {
            fsutil::fault_point("write", &marker)?;
            // Longer old content after the newline is ignored by `read_refire`.
            let mut file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&marker)?;
            if !own_file(&file)? {
                // A marker linked to the shared empty file (`make_marker`) gets a file of
                // its own, put in its place by a rename: the marker is never missing. The
                // temporary file is made in `meta/`, where housekeeping sweeps orphans.
                drop(file);
                return fsutil::replace_quick_via(&self.dir("meta"), &marker, &line);
            }
            file.write_all(&line)
        })();
        ctx("record re-fire in", &marker, result)
    }

    /// The re-fire recorded in an `open/` marker, if it is whole.
    fn read_refire(&self, name: &str) -> Option<RefireBump> {
        use std::io::Read;
        let mut file = File::open(self.dir("open").join(name)).ok()?;
        // A linked marker has nothing of its own to say, whatever the shared file holds.
        if !own_file(&file).ok()? {
            return None;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        let line = bytes.split(|b| *b == b'\n').next()?;
        let space = line.iter().position(|b| *b == b' ')?;
        let (sum, json) = (&line[..space], &line[space + 1..]);
        if sum != fnv1a_hex(json).as_bytes() {
            return None;
        }
        serde_json::from_slice(json).ok()
    }

    /// The incident record, or `None`. A corrupt record is quarantined and treated as absent.
    pub fn load_incident(&self, key: &str) -> Option<Incident> {
        self.load_record(key).incident
    }

    /// The record of incident number `seq` of `key`: the current one, or a superseded one
    /// kept under `history/` (its chat steps may still be queued).
    pub fn load_incident_seq(&self, key: &str, seq: u32) -> Option<Incident> {
        match self.load_incident(key) {
            Some(i) if seq == 0 || i.seq == seq => Some(i),
            _ => self.read_json(&self.history_path(key, seq)),
        }
    }

    /// Saves an incident where it lives: the current record (keeping its queue), or its
    /// history record when a later incident of the same alert has replaced it.
    pub fn save_incident(&self, incident: &Incident) -> Result<(), StoreError> {
        let mut record = self.load_record(&incident.key);
        if record
            .incident
            .as_ref()
            .is_some_and(|cur| cur.seq > incident.seq)
        {
            return self.save_history(incident);
        }
        record.incident = Some(incident.clone());
        self.save_record(&incident.key, &record, Durability::Commit)
    }

    fn history_path(&self, key: &str, seq: u32) -> PathBuf {
        self.dir("history")
            .join(format!("{}.{seq}.json", encode_key(key)))
    }

    /// Keeps a superseded incident (its chat channel may still need archiving).
    pub fn save_history(&self, incident: &Incident) -> Result<(), StoreError> {
        let p = self.history_path(&incident.key, incident.seq);
        let bytes = ctx("serialise history record", &p, to_json(incident))?;
        ctx("write history record", &p, write_atomic(&p, &bytes))
    }

    /// Every current incident record (the ilert sync's hourly pass, `timeline`, `doctor`),
    /// read one at a time: only the file names of the store are held. Corrupt ones are
    /// quarantined.
    pub fn incidents(&self) -> impl Iterator<Item = Incident> + '_ {
        let RecordSlice { current, .. } = self.all_record_files();
        current
            .into_iter()
            .filter_map(move |stem| self.read_current(&stem))
    }

    /// A current record's incident by file stem: the `outbox/` copy, else the `incidents/`
    /// one (as `load_record` reads it, without the queue).
    fn read_current(&self, stem: &str) -> Option<Incident> {
        let file = format!("{stem}.json");
        self.read_incident(&self.dir("outbox").join(&file))
            .or_else(|| self.read_incident(&self.dir("incidents").join(&file)))
    }

    /// Lists every record file once (`outbox/`, `incidents/`, `history/`), handing each to
    /// `each` as `(bucket, true for a current record's stem / false for a history file's
    /// name, name)`, a current record once even when it has copies in both directories.
    /// Anything in `incidents/` or `outbox/` that is not a record file is quarantined, as by
    /// every listing. Returns the temporary files of `incidents/`.
    fn for_each_record_file(&self, mut each: impl FnMut(u32, bool, &str)) -> Vec<String> {
        let queued: std::collections::HashSet<String> = self
            .list_records("outbox")
            .into_iter()
            .filter_map(|(_, p)| Some(p.file_stem()?.to_str()?.to_string()))
            .collect();
        for stem in &queued {
            each(slices::bucket(stem), true, stem);
        }
        let mut temps = Vec::new();
        if let Ok(rd) = fs::read_dir(self.dir("incidents")) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if name.starts_with(".tmp-") {
                    temps.push(name.into_owned());
                    continue;
                }
                if name.starts_with('.') {
                    continue;
                }
                match name.strip_suffix(".json").filter(|s| is_encoded_key(s)) {
                    Some(stem) if queued.contains(stem) => {}
                    Some(stem) => each(slices::bucket(stem), true, stem),
                    None => self.quarantine(&e.path(), "not a file this store writes"),
                }
            }
        }
        if let Ok(rd) = fs::read_dir(self.dir("history")) {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                if !name.starts_with('.') {
                    each(slices::bucket(history_key_part(&name)), false, &name);
                }
            }
        }
        temps
    }

    /// Every record file as one slice (no list written): `incidents()`, the index rebuild.
    fn all_record_files(&self) -> RecordSlice {
        let (mut current, mut history) = (Vec::new(), Vec::new());
        let temps = self.for_each_record_file(|_, is_current, name| {
            if is_current {
                current.push(name.to_string());
            } else {
                history.push(name.to_string());
            }
        });
        RecordSlice {
            from: 0,
            end: slices::BUCKETS,
            total: current.len() + history.len(),
            current,
            history,
            temps,
        }
    }

    /// Starts a cycle of a pass over every record: lists the record files once. A store of
    /// at most `limit` of them is one slice, returned whole; a larger one's list (one line
    /// per file, in listing order) is written to `meta/records-cycle` without `fsync` (a list
    /// a power cut damaged is found out by `cycle_slice` and the cycle starts again), for the
    /// following runs to take their slices from without listing the store again. The
    /// plugin's two passes (housekeeping, archiving) share the list: a pass that starts a
    /// cycle in a run where the other one already listed the store joins that cycle.
    pub fn start_cycle(&self, started: Timestamp, limit: usize) -> CycleStart {
        use std::fmt::Write as _;
        let mut memo = self.cycle_list.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((started, total)) = memo.as_ref().and_then(|m| m.listed_here) {
            return CycleStart::Listed { started, total };
        }
        let mut text = cycle_list_header(started);
        text.push('\n');
        let mut total = 0usize;
        let temps = self.for_each_record_file(|b, is_current, name| {
            // By hand rather than `writeln!`: a tenth of the run that lists 100,000 names.
            push_decimal(&mut text, b);
            text.push_str(if is_current { " c " } else { " h " });
            text.push_str(name);
            text.push('\n');
            total += 1;
        });
        let _ = writeln!(text, "end {total}");
        if total <= limit {
            let mut slice = parse_slice(&text, started, 0, usize::MAX).unwrap_or_default();
            slice.temps = temps;
            return CycleStart::Whole(slice);
        }
        self.write_meta_quick(CYCLE_LIST_META, &text);
        for old in OLD_CYCLE_LISTS {
            if self.dir("meta").join(old).exists() {
                self.remove_meta(old);
            }
        }
        *memo = Some(CycleList {
            text: Arc::new(text),
            listed_here: Some((started, total)),
        });
        // Temporary files of `incidents/` are swept here, as a slice would.
        sweep_old(temps.iter().map(|n| self.dir("incidents").join(n)), started);
        CycleStart::Listed { started, total }
    }

    /// The slice from bucket `from` of the cycle that started at `started`, from its list
    /// (`start_cycle`): whole buckets, about `limit` records. `None` when the list is
    /// missing, of another cycle, or not whole. The list is read once per process while it
    /// stays the same cycle's.
    pub fn cycle_slice(&self, started: Timestamp, from: u32, limit: usize) -> Option<RecordSlice> {
        let mut memo = self.cycle_list.lock().unwrap_or_else(|p| p.into_inner());
        let header = cycle_list_header(started);
        let known = memo
            .as_ref()
            .map(|m| m.text.clone())
            .filter(|t| t.lines().next() == Some(header.as_str()));
        let text = match known {
            Some(text) => text,
            None => {
                let text =
                    Arc::new(fs::read_to_string(self.dir("meta").join(CYCLE_LIST_META)).ok()?);
                *memo = Some(CycleList {
                    text: text.clone(),
                    listed_here: None,
                });
                text
            }
        };
        parse_slice(&text, started, from, limit)
    }

    /// Removes the list of the cycle that started at `started`, once no pass needs it.
    pub fn end_cycle(&self, started: Timestamp) {
        let path = self.dir("meta").join(CYCLE_LIST_META);
        let header = cycle_list_header(started);
        let ours = fs::File::open(&path).ok().is_some_and(|f| {
            let mut first = String::new();
            io::BufRead::read_line(&mut io::BufReader::new(f), &mut first).is_ok()
                && first.trim_end() == header
        });
        if ours {
            self.remove_meta(CYCLE_LIST_META);
        }
        *self.cycle_list.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The current incident records of a slice, read one at a time (a queued copy under
    /// `outbox/` wins over the settled one, as for every reader).
    pub fn slice_incidents<'a>(
        &'a self,
        slice: &'a RecordSlice,
    ) -> impl Iterator<Item = Incident> + 'a {
        slice
            .current
            .iter()
            .filter_map(move |stem| self.read_current(stem))
    }

    /// The superseded records of a slice, read one at a time.
    pub fn slice_history<'a>(
        &'a self,
        slice: &'a RecordSlice,
    ) -> impl Iterator<Item = (PathBuf, Incident)> + 'a {
        slice.history.iter().filter_map(move |name| {
            let path = self.dir("history").join(name);
            self.read_json(&path).map(|i| (path, i))
        })
    }

    /// The open incidents, from the `open/` index: reads only their records, so it costs the
    /// same with 100 or 100,000 closed incidents in the store. Stale markers (a crash between
    /// a record's resolution and its marker's removal) are dropped here.
    pub fn open_incidents(&self) -> Vec<Incident> {
        let mut out: Vec<Incident> = Vec::new();
        for (marker, _) in self.open_index() {
            match self.open_incident_named(&marker) {
                Some(i) => out.push(i),
                None => self.drop_stale_marker(&marker),
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Removes a marker whose incident is not open, under the incident's lock: a marker is
    /// made before its incident's opening is committed, so one seen without an open record
    /// may belong to an opening in progress (its lock is held then).
    fn drop_stale_marker(&self, marker: &str) {
        let Some((_, name)) = parse_marker(marker) else {
            return;
        };
        if self.read_only {
            return;
        }
        // Held until the marker is gone.
        let Ok(Some(_lock)) = self.try_lock_name(name) else {
            return;
        };
        if self.open_incident_named(marker).is_some() {
            return;
        }
        let p = self.dir("open").join(marker);
        self.note_open_change();
        if let Err(e) = fsutil::remove(&p) {
            log::warn!("cannot remove {}: {e}", p.display());
        }
    }

    /// Notes that this process makes or removes an `open/` marker (see `open_changes`).
    fn note_open_change(&self) {
        self.open_changes.fetch_add(1, Ordering::Relaxed);
    }

    /// How many `open/` markers this process has made or removed so far: an `OpenIndexHead`
    /// listed while this was `n` is this process's view of `open/` as long as it is `n`.
    pub fn open_changes(&self) -> u64 {
        self.open_changes.load(Ordering::Relaxed)
    }

    /// The open incidents' markers (see `open_incident_named`) and when each incident opened,
    /// oldest first: one directory listing, no `stat`, no record read. Counts a stale marker
    /// until a reader drops it or the hourly rebuild does. Holds every marker's name: readers
    /// that need only the oldest few take `open_index_head`.
    pub fn open_index(&self) -> Vec<(String, Timestamp)> {
        let head = self.open_index_head(usize::MAX, None);
        head.oldest
    }

    /// How many markers `open/` holds and the `keep` oldest, in one listing that holds only
    /// those `keep` names (the names start with the opening time, zero-padded: their order is
    /// the time's, so no marker is parsed beyond its name and nothing is sorted but them).
    /// With `slice`, the same listing also keeps the markers of those buckets (for this
    /// run's housekeeping slice).
    pub fn open_index_head(
        &self,
        keep: usize,
        slice: Option<std::ops::Range<u32>>,
    ) -> OpenIndexHead {
        use std::collections::BinaryHeap;
        let mut count = 0;
        let mut oldest: BinaryHeap<String> = BinaryHeap::new();
        let mut in_slice = Vec::new();
        if let Ok(rd) = fs::read_dir(self.dir("open")) {
            for e in rd.flatten() {
                let name = e.file_name();
                let Some((name, enc)) = name
                    .to_str()
                    .and_then(|n| parse_marker(n).map(|(_, enc)| (n, enc)))
                else {
                    continue;
                };
                count += 1;
                if oldest.len() < keep {
                    oldest.push(name.to_string());
                } else if oldest.peek().is_some_and(|top| name < top.as_str()) {
                    oldest.pop();
                    oldest.push(name.to_string());
                }
                if slice
                    .as_ref()
                    .is_some_and(|r| r.contains(&slices::bucket(enc)))
                {
                    in_slice.push(name.to_string());
                }
            }
        }
        OpenIndexHead {
            count,
            oldest: oldest
                .into_sorted_vec()
                .into_iter()
                .filter_map(|n| Some((parse_marker(&n)?.0, n)))
                .map(|(at, n)| (n, at))
                .collect(),
            slice_markers: slice.map(|buckets| SliceMarkers::Listed {
                buckets,
                names: in_slice,
            }),
        }
    }

    /// Rebuilds the `open/` index from every record (a store from before the index, or one
    /// restored from a backup): see `repair_open_index`. Returns how many are open.
    pub fn rebuild_open_index(&self) -> usize {
        self.repair_open_index(&self.all_record_files(), None, |_| ())
    }

    /// Repairs the `open/` index for the records of one slice (the plugin's pass over every
    /// record does a slice per run; markers a power cut took or left stale): adds the
    /// missing markers and removes those of the slice's keys whose incident is not open
    /// (under their locks, see `drop_stale_marker`). Each record of the slice is read once,
    /// and handed to `visit` too (housekeeping reads nothing else). The slice's markers come
    /// from `listed` when that listing of `open/` (taken earlier in the run) holds them all,
    /// else from a new listing: a marker made since is one of an open incident, and one
    /// removed since is simply gone. With `SliceMarkers::ByRecord` (`open/` unchanged since
    /// an earlier run listed it) nothing is listed: each record's own marker is checked by
    /// name, so a closed incident's marker is still dropped; a marker with no record, or
    /// of an earlier opening of the same key, waits for a run that lists `open/` (any run
    /// after `open/` changed). Returns how many of the slice are open.
    pub fn repair_open_index(
        &self,
        slice: &RecordSlice,
        listed: Option<&SliceMarkers>,
        mut visit: impl FnMut(Incident),
    ) -> usize {
        let range = slice.from..slice.end;
        let by_record = matches!(listed, Some(SliceMarkers::ByRecord));
        let listed: Option<std::collections::HashSet<&str>> = listed
            .and_then(|l| l.of(range.clone()))
            .map(Iterator::collect);
        let mut open: std::collections::HashSet<String> = std::collections::HashSet::new();
        for i in self.slice_incidents(slice) {
            if i.is_open() {
                let marker = marker_name(&i);
                // Listed earlier in this run: there (only a resolution removes a marker, and
                // that record would not read open now). No `stat` for it, then.
                let known = listed.as_ref().is_some_and(|l| l.contains(marker.as_str()));
                if !known {
                    if let Err(e) = self.mark_open(&i) {
                        log::warn!("{e}");
                    }
                }
                open.insert(marker);
            } else if by_record {
                // The marker a crash left after this incident's resolution was committed.
                let marker = marker_name(&i);
                if self.dir("open").join(&marker).exists() {
                    self.drop_stale_marker(&marker);
                }
            }
            visit(i);
        }
        if let Some(names) = listed {
            for name in names.into_iter().filter(|n| !open.contains(*n)) {
                self.drop_stale_marker(name);
            }
        } else if let Some(rd) = (!by_record)
            .then(|| fs::read_dir(self.dir("open")).ok())
            .flatten()
        {
            for e in rd.flatten() {
                let name = e.file_name();
                let name = name.to_string_lossy();
                let name: &str = &name;
                if name.starts_with('.') || open.contains(name) {
                    continue;
                }
                match parse_marker(name) {
                    Some((_, enc)) if range.contains(&slices::bucket(enc)) => {
                        self.drop_stale_marker(name)
                    }
                    Some(_) => {}
                    None if range.contains(&slices::bucket(name)) => {
                        // A marker of the earlier `<key>` form.
                        self.note_open_change();
                        if let Err(err) = fsutil::remove(&e.path()) {
                            log::warn!("cannot remove {}: {err}", e.path().display());
                        }
                    }
                    None => {}
                }
            }
        }
        let ready = self.dir("open").join(OPEN_INDEX_READY);
        if !ready.exists() {
            let made =
                fsutil::fault_point("create", &ready).and_then(|()| File::create(&ready).map(drop));
            if let Err(e) = made {
                log::warn!("cannot write {}: {e}", ready.display());
            }
        }
        open.len()
    }

    /// Superseded records (`archive`, `timeline`), read one at a time.
    pub fn history(&self) -> impl Iterator<Item = (PathBuf, Incident)> + '_ {
        let names: Vec<String> = self
            .list_all("history")
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        names.into_iter().filter_map(move |name| {
            let path = self.dir("history").join(name);
            self.read_json(&path).map(|i| (path, i))
        })
    }

    /// Removes a record file (pruning).
    pub fn remove_file(&self, path: &Path) -> Result<(), StoreError> {
        ctx("remove", path, fsutil::remove(path))
    }

    /// Removes an incident's record and event log (pruning, under its lock, with nothing
    /// queued). Its incident number is remembered, so the next incident of the alert does not
    /// reuse an old channel name. The lock file stays: deleting a lock file another process
    /// may hold is unsafe.
    pub fn remove_incident(&self, key: &str, seq: u32) -> Result<(), StoreError> {
        let enc = encode_key(key);
        let p = self.dir("meta").join(format!("last-seq-{enc}"));
        ctx("write", &p, write_atomic(&p, seq.to_string().as_bytes()))?;
        for p in [
            self.record_path(key),
            self.dir("events").join(format!("{enc}.jsonl")),
        ] {
            ctx("remove", &p, fsutil::remove(&p))?;
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

    fn dead_path(&self, entry: &OutboxEntry) -> PathBuf {
        self.dir("dead")
            .join(format!("{}.{}.json", entry.id, encode_key(&entry.key)))
    }

    /// Queues a delivery durably behind the incident's others. Re-queuing an id already
    /// queued replaces it (idempotent replay). The caller holds the incident lock.
    pub fn enqueue(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        self.update_record(&entry.key, Durability::Commit, |r| {
            r.queue.retain(|e| e.id != entry.id);
            r.queue.push(entry.clone());
        })
    }

    /// Pending deliveries of one incident in delivery order.
    pub fn pending_for(&self, key: &str) -> Vec<OutboxEntry> {
        let mut out = self.load_record(key).queue;
        sort_queue(&mut out);
        out
    }

    /// Incident keys with pending deliveries and when the first of them is due, earliest
    /// first (a queue file's modification time is its earliest due entry's, see
    /// `save_record`): one directory listing, no file read.
    pub fn pending_keys_due_in(&self, scan: &OutboxScan) -> Vec<(String, Timestamp)> {
        let mut keyed: Vec<(Timestamp, &str)> = scan
            .files
            .values()
            .map(|(k, id)| {
                let modified_ms = id.map_or(0, |id| queue_index::modified_ns(&id) / 1_000_000);
                (Timestamp::from_millis(modified_ms.max(0)), k.as_str())
            })
            .collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(t, k)| (k.to_string(), t)).collect()
    }

    /// Lists `outbox/` once, with one `stat` per queue file (relative to the open directory,
    /// no path walk per file); or, while `outbox/` is as `meta/queue-index` last described it
    /// whole, takes the files and their identities from there (`Store::indexed_scan`).
    pub fn scan_outbox(&self) -> OutboxScan {
        // From now on this process notes the queue files it changes (see `refresh_scan`);
        // what an earlier scan is still owed stays noted.
        self.touched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_or_insert_with(BTreeMap::new);
        let dir = fsutil::DirStamp::take(&self.dir("outbox"));
        if let Some(files) = dir.as_ref().and_then(|d| self.indexed_scan(d)) {
            return OutboxScan {
                files,
                legacy: Vec::new(),
                dir,
            };
        }
        let mut legacy = Vec::new();
        let mut linked = false;
        let files = self
            .list_records_with("outbox", Some(&mut legacy), outbox_meta)
            .into_iter()
            .filter_map(|(k, p, (meta, symlink))| {
                linked |= symlink;
                let name = p.file_name()?.to_str()?.to_string();
                Some((name, (k, meta.map(|m| queue_index::identity(&m)))))
            })
            .collect();
        OutboxScan {
            files,
            legacy,
            // A symlink's target can change with no change to `outbox/`.
            dir: dir.filter(|_| !linked),
        }
    }

    /// Brings `scan` up to date with what this process has done to the queue files since
    /// it was taken: the files it wrote, moved or removed are stat'ed again, one each. Files
    /// other processes wrote meanwhile are not seen (the next scan sees them).
    pub fn refresh_scan(&self, scan: &mut OutboxScan) {
        let touched = std::mem::take(
            self.touched
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get_or_insert_with(BTreeMap::new),
        );
        for (name, key) in touched {
            let p = self.dir("outbox").join(&name);
            match fs::metadata(&p) {
                Ok(meta) => {
                    scan.files
                        .insert(name, (key, Some(queue_index::identity(&meta))));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    scan.files.remove(&name);
                }
                Err(_) => {
                    scan.files.insert(name, (key, None));
                }
            }
        }
    }

    /// Every pending entry (status).
    pub fn pending_all(&self) -> Vec<OutboxEntry> {
        self.list_records("outbox")
            .into_iter()
            .filter_map(|(_, p)| self.read_record(&p))
            .flat_map(|r| r.queue)
            .collect()
    }

    /// Keeps a refused entry under `dead/` with the reason (the caller then takes it out of
    /// the queue); it is kept, never deleted.
    pub fn keep_dead_letter(
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
        let p = self.dead_path(entry);
        let bytes = ctx("serialise dead letter", &p, to_json(&dead))?;
        ctx("write dead letter", &p, write_atomic(&p, &bytes))
    }

    /// Every dead letter.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.read_dir_json("dead")
    }

    /// Moves dead letters back into their incidents' queues (after fixing a key, say).
    /// Returns how many. Each incident is changed under its lock.
    pub fn requeue_dead(&self, deadline: Instant) -> Result<usize, StoreError> {
        let mut n = 0;
        for (_, path) in self.list_all("dead") {
            let Some(dead) = self.read_json::<DeadLetter>(&path) else {
                continue;
            };
            let mut entry = dead.entry;
            entry.attempts = 0;
            entry.not_before = None;
            entry.backoff_until = None;
            let _lock = match self.lock_incident(&entry.key, deadline) {
                Ok(lock) => lock,
                Err(LockError::Timeout) => {
                    log::warn!(
                        "incident {} is busy; its dead letter stays for now",
                        entry.key
                    );
                    continue;
                }
                Err(LockError::Store(e)) => return Err(e),
            };
            self.enqueue(&entry)?;
            ctx("remove dead letter", &path, fsutil::remove(&path))?;
            n += 1;
        }
        Ok(n)
    }

    /// Moves format-1 outbox entries (`outbox/<id>.<key>.json`, one file per delivery) into
    /// their incidents' queues, once, after an upgrade. Returns how many are left (busy).
    pub fn adopt_legacy_entries(&self, deadline: Instant) -> usize {
        self.adopt_legacy(self.list("outbox", None), deadline)
    }

    /// `adopt_legacy_entries` for the format-1 entries a scan found.
    pub fn adopt_legacy_in(&self, scan: &OutboxScan, deadline: Instant) -> usize {
        self.adopt_legacy(scan.legacy.clone(), deadline)
    }

    fn adopt_legacy(&self, entries: Vec<(String, PathBuf)>, deadline: Instant) -> usize {
        let mut left = 0;
        for (key, path) in entries {
            let _lock = match self.lock_incident(&key, deadline) {
                Ok(lock) => lock,
                Err(e) => {
                    if let LockError::Store(e) = e {
                        log::error!("{e}; the legacy outbox entry of {key} stays for now");
                    }
                    left += 1;
                    continue;
                }
            };
            let Some(entry) = self.read_json::<OutboxEntry>(&path) else {
                continue;
            };
            let adopted = self.update_record(&key, Durability::Commit, |r| {
                if !r.queue.iter().any(|e| e.id == entry.id) {
                    r.queue.push(entry.clone());
                }
            });
            match adopted.and_then(|()| ctx("remove", &path, fsutil::remove(&path))) {
                Ok(()) => {}
                Err(e) => {
                    log::error!("{e}");
                    left += 1;
                }
            }
        }
        left
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
            let line = serde_json::to_string(l).map_err(io::Error::other);
            text.push_str(&ctx("serialise event log", &p, line)?);
            text.push('\n');
        }
        ctx("rewrite event log", &p, write_atomic(&p, text.as_bytes()))?;
        Ok(dropped)
    }

    /// Remembers a successful delivery on a lane (`ilert`, `chat:slack`), to within
    /// `SUCCESS_RESOLUTION`: in a storm each alert would otherwise rewrite the file.
    ///
    /// The file's modification time is set to the time it holds, so the check is one `stat`
    /// (every alert that delivers makes it), not an open, a read and a parse.
    pub fn mark_success(&self, lane: &str, now: Timestamp) {
        // A statistic, not an event: no fsync.
        let p = self
            .dir("meta")
            .join(format!("last-success-{}", encode_key(lane)));
        let written = fs::metadata(&p)
            .and_then(|m| m.modified())
            .ok()
            .and_then(Timestamp::from_system);
        let recent = written.is_some_and(|t| t <= now && now.since(t) < SUCCESS_RESOLUTION);
        if recent {
            return;
        }
        let stamp = now.rfc3339_millis();
        if let Err(e) = fsutil::replace_quick_dated(&p, stamp.as_bytes(), now.system_time()) {
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

    /// Removes a value under `meta/`, if there (failures are logged).
    pub fn remove_meta(&self, name: &str) {
        let p = self.dir("meta").join(name);
        if let Err(e) = fsutil::remove(&p) {
            log::warn!("cannot remove {}: {e}", p.display());
        }
    }

    /// `write_meta` without `fsync`: for a value a power cut may take back (a pass's cursor).
    pub fn write_meta_quick(&self, name: &str, value: &str) {
        let p = self.dir("meta").join(name);
        if let Err(e) = fsutil::replace_quick(&p, value.as_bytes()) {
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
        match fsutil::rename(path, &dest, Durability::Progress) {
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

    /// Reads a store file. A missing file is `None`; one that exists but cannot be read (a
    /// directory, a symlink loop, no permission, an I/O error) is quarantined, so it is
    /// counted and shown instead of blocking the queue on every run.
    fn read_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        match fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => {
                self.quarantine(path, &format!("cannot be read: {e}"));
                None
            }
        }
    }

    /// Reads JSON; a file that does not parse or cannot be read is quarantined.
    pub fn read_json<T: serde::de::DeserializeOwned>(&self, path: &Path) -> Option<T> {
        let bytes = self.read_bytes(path)?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                self.quarantine(path, &format!("not valid JSON for its kind: {e}"));
                None
            }
        }
    }

    /// `(key, path)` of the incident record files (`<key>.json`) in `dir`. Anything else there
    /// that is not a temporary file or a format-1 outbox entry is quarantined.
    fn list_records(&self, dir: &str) -> Vec<(String, PathBuf)> {
        self.list_records_with(dir, None, |_| ())
            .into_iter()
            .map(|(k, p, ())| (k, p))
            .collect()
    }

    fn list_records_with<T>(
        &self,
        dir: &str,
        mut legacy: Option<&mut Vec<(String, PathBuf)>>,
        mut with: impl FnMut(&fs::DirEntry) -> T,
    ) -> Vec<(String, PathBuf, T)> {
        let Ok(rd) = fs::read_dir(self.dir(dir)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            match name.strip_suffix(".json") {
                Some(enc) if is_encoded_key(enc) => {
                    let extra = with(&e);
                    out.push((decode_key(enc), e.path(), extra));
                }
                // A format-1 outbox entry: adopted by `adopt_legacy_entries`.
                Some(stem)
                    if dir == "outbox"
                        && stem.split_once('.').is_some_and(|(_, k)| is_encoded_key(k)) =>
                {
                    if let (Some(legacy), Some((_, k))) =
                        (legacy.as_deref_mut(), stem.split_once('.'))
                    {
                        legacy.push((decode_key(k), e.path()));
                    }
                }
                _ => self.quarantine(&e.path(), "not a file this store writes"),
            }
        }
        out
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
        self.sweep_temp_files_in(&DIRS, now)
    }

    /// `sweep_temp_files` in some of the store's directories (the plugin sweeps one at a time).
    pub fn sweep_temp_files_in(&self, dirs: &[&str], now: Timestamp) -> usize {
        let mut n = 0;
        for d in dirs.iter().copied() {
            let Ok(rd) = fs::read_dir(self.dir(d)) else {
                continue;
            };
            let temps = rd
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
                .map(|e| e.path());
            n += sweep_old(temps, now);
        }
        n
    }

    /// Removes the temporary files older than an hour that a slice's listing of `incidents/`
    /// came across (see `record_slice`).
    pub fn sweep_slice_temps(&self, slice: &RecordSlice, now: Timestamp) -> usize {
        sweep_old(
            slice.temps.iter().map(|n| self.dir("incidents").join(n)),
            now,
        )
    }
}

/// Removes those of `paths` last modified more than an hour before `now`.
fn sweep_old(paths: impl Iterator<Item = PathBuf>, now: Timestamp) -> usize {
    let mut n = 0;
    for path in paths {
        let old = fs::symlink_metadata(&path)
            .and_then(|m| m.modified())
            .map(|m| Timestamp::from_system(m).unwrap_or(Timestamp::from_millis(0)))
            .is_ok_and(|m| now.since(m) > Duration::from_secs(3600));
        if old && fs::remove_file(&path).is_ok() {
            n += 1;
        }
    }
    n
}

/// A queue file's metadata from its directory entry (a symlink's target's: what the readers
/// read; `None` when it cannot be read), and whether it is a symlink.
fn outbox_meta(e: &fs::DirEntry) -> (Option<fs::Metadata>, bool) {
    if e.file_type().is_ok_and(|t| t.is_symlink()) {
        (fs::metadata(e.path()).ok(), true)
    } else {
        (e.metadata().ok(), false)
    }
}

/// The shared lock file under `locks/` whose bytes are the incidents' locks (`range_lock`).
const SHARED_LOCK_FILE: &str = "incidents";

/// Whether an open marker is a file of its own (one link), not one more name of the shared
/// empty file (`Store::make_marker`).
fn own_file(file: &File) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    Ok(file.metadata()?.nlink() <= 1)
}

/// An open lock file and what of it stands for the incident: a byte of the shared file, or
/// (`None`) the whole of the incident's own file.
struct LockSite {
    file: File,
    byte: Option<u64>,
    path: PathBuf,
}

impl LockSite {
    /// Opens (creating it if missing) the lock file at `path`; `byte`: see `LockSite`.
    fn open(path: PathBuf, byte: Option<u64>) -> Result<LockSite, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path);
        Ok(LockSite {
            file: ctx("open lock file", &path, file)?,
            byte,
            path,
        })
    }

    /// `Ok(false)` when another open holds it.
    fn try_take(&self) -> io::Result<bool> {
        match self.byte {
            Some(byte) => range_lock::try_lock_byte(&self.file, byte),
            None => match self.file.try_lock() {
                Ok(()) => Ok(true),
                Err(fs::TryLockError::WouldBlock) => Ok(false),
                Err(fs::TryLockError::Error(e)) => Err(e),
            },
        }
    }

    /// One attempt on the site in `slot`, which it keeps for the next attempt while another
    /// process holds the lock.
    fn attempt(slot: &mut Option<LockSite>) -> Result<Option<IncidentLock>, StoreError> {
        let Some(site) = slot.as_ref() else {
            return Ok(None);
        };
        match site.try_take() {
            Ok(false) => Ok(None),
            Ok(true) => Ok(slot.take().map(LockSite::held)),
            Err(e) => match slot.take() {
                Some(site) => site.unlocked_if_unsupported(e).map(Some),
                None => Ok(None),
            },
        }
    }

    fn held(self) -> IncidentLock {
        IncidentLock { _file: self.file }
    }

    /// A lock call that failed for another reason than "held": on a filesystem without
    /// locks (some NFS) carry on unlocked with a warning, as cargo does; any other error
    /// (EIO, a permission problem) fails with the path, since carrying on would race other
    /// processes.
    fn unlocked_if_unsupported(self, e: io::Error) -> Result<IncidentLock, StoreError> {
        if range_lock::no_locks_here(&e) {
            log::warn!(
                "file locking is not supported for {} ({e}); continuing without the lock",
                self.path.display()
            );
            return Ok(self.held());
        }
        Err(StoreError {
            action: "lock",
            path: self.path,
            source: e,
        })
    }
}

/// Runs `try_once` with a short backoff until it takes the lock or `deadline` passes.
fn wait_for_lock(
    deadline: Instant,
    mut try_once: impl FnMut() -> Result<Option<IncidentLock>, StoreError>,
) -> Result<IncidentLock, LockError> {
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(lock) = try_once().map_err(LockError::Store)? {
            return Ok(lock);
        }
        if Instant::now() + pause >= deadline {
            return Err(LockError::Timeout);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(25));
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

/// True for names `encode_key` can produce.
fn is_encoded_key(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'%' | b'~'))
}

/// Reverses `encode_key` (hashed long keys stay as they are; records carry the full key).
pub fn decode_key(enc: &str) -> String {
    let bytes = enc.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        // Hex digits are ASCII, so a file name with other bytes after `%` (`1.%aé.json`) is
        // compared byte by byte, never sliced inside a character.
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| char::from(b).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_incident(key: &str) -> Incident {
        use crate::pandora::AlertInput;
        let alert = Alert::from_input(
            &AlertInput {
                event: Some("alert".into()),
                alert_id: Some("7".into()),
                ..AlertInput::default()
            },
            "",
        )
        .unwrap();
        Incident {
            key: key.to_string(),
            outbox_seq: 0,
            ..Incident::example(alert, Timestamp::from_millis(0))
        }
    }

    #[test]
    fn a_cycle_list_gives_its_slices_and_is_refused_when_torn_or_foreign() {
        let started = Timestamp::from_millis(1_700_000_000_000);
        let header = cycle_list_header(started);
        // Buckets 5 (two records), 7 (one record, one superseded), 4000 (one).
        let body = "7 c k7\n5 c k5a\n4000 c k4000\n7 h k7.1.json\n5 c k5b\n";
        let list = format!("{header}\n{body}end 5\n");
        let slice = parse_slice(&list, started, 0, 2).unwrap();
        // Empty buckets cost nothing: a slice runs on to the bucket that would overfill it.
        assert_eq!((slice.from, slice.end, slice.total), (0, 7, 5));
        assert_eq!(slice.current, ["k5a", "k5b"]);
        let slice = parse_slice(&list, started, 7, 2).unwrap();
        assert_eq!((slice.from, slice.end), (7, 4000));
        assert_eq!(
            (slice.current, slice.history),
            (vec!["k7".to_string()], vec!["k7.1.json".to_string()])
        );
        let last = parse_slice(&list, started, 4000, 2).unwrap();
        assert_eq!(
            (last.end, last.current),
            (slices::BUCKETS, vec!["k4000".to_string()])
        );
        let whole = parse_slice(&list, started, 0, usize::MAX).unwrap();
        assert_eq!(whole.current.len() + whole.history.len(), 5);

        let other = Timestamp::from_millis(1_700_000_000_001);
        assert!(
            parse_slice(&list, other, 0, 2).is_none(),
            "another cycle's list"
        );
        let torn = format!("{header}\n{}", &body[..body.len() - 4]);
        assert!(
            parse_slice(&torn, started, 0, 2).is_none(),
            "cut before its end line"
        );
        for bad in [
            format!("{header}\n{body}end 4\n"),
            format!("{header}\n{body}end 5\n9 c late\n"),
            format!("{header}\n5 x k5\nend 1\n"),
            format!("{header}\n4096 c k\nend 1\n"),
            format!("{header}\n5c k\nend 1\n"),
        ] {
            assert!(parse_slice(&bad, started, 0, 2).is_none(), "{bad:?}");
        }
    }

    /// A queued chat step of incident 1 of `key` (a re-fire update), with delivery id `id`.
    fn refire_step(key: &str, id: &str) -> OutboxEntry {
        OutboxEntry::new(
            id.into(),
            key,
            1,
            1,
            Timestamp::from_millis(0),
            crate::lifecycle::chat_action(
                crate::config::ChatPlatform::Slack,
                crate::lifecycle::ChatChange::Refire,
            ),
        )
    }

    /// An open incident of `key` with a queued re-fire step for each of `ids`.
    fn record_with_steps(key: &str, ids: &[&str]) -> Record {
        Record {
            incident: Some(open_incident(key)),
            queue: ids.iter().map(|id| refire_step(key, id)).collect(),
        }
    }

    /// Invariant 2: a drained queue file `written` was moved under `incidents/` as it was,
    /// and nothing of `key` is pending.
    fn assert_drained_unwritten(store: &Store, key: &str, written: &[u8]) {
        assert!(!store.queued_record_path(key).exists());
        assert_eq!(
            fs::read(store.record_path(key)).unwrap(),
            written,
            "moved, not rewritten"
        );
        assert!(store.pending_for(key).is_empty());
    }

    fn temp_store(name: &str) -> (PathBuf, Store) {
        let dir = std::env::temp_dir().join(format!("pi-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        (dir, store)
    }

    /// A temporary store with open incident `key` committed: the store, the incident and
    /// its `open/` marker's path.
    fn store_with_open(name: &str, key: &str) -> (PathBuf, Store, Incident, PathBuf) {
        let (dir, store) = temp_store(name);
        let incident = open_incident(key);
        let record = Record {
            incident: Some(incident.clone()),
            queue: vec![],
        };
        store.save_record(key, &record, Durability::Commit).unwrap();
        let marker = store.dir("open").join(marker_name(&incident));
        (dir, store, incident, marker)
    }

    /// A store of `n` incidents, every third one closed, opened a second apart.
    fn store_of(name: &str, n: usize) -> (PathBuf, Store) {
        let (dir, store) = temp_store(name);
        for k in 0..n {
            let mut i = open_incident(&format!("k{k}"));
            i.opened_at = Timestamp::from_millis(1_000 * (n - k) as i64);
            if k % 3 == 0 {
                i.state = crate::incident::IncidentState::Resolved;
                i.resolved_at = Some(i.opened_at);
            }
            let record = Record {
                incident: Some(i),
                queue: Vec::new(),
            };
            store
                .save_record(&format!("k{k}"), &record, Durability::Progress)
                .unwrap();
        }
        (dir, store)
    }

    /// The plugin's listing of `open/` keeps only the oldest few, and they are the same as
    /// the full index's.
    #[test]
    fn the_head_of_the_open_index_is_the_full_index_cut_short() {
        let (dir, store) = store_of("open-head", 60);
        let full = store.open_index();
        assert_eq!(full.len(), 40);
        for keep in [0, 1, 5, 13, 40, 100] {
            let head = store.open_index_head(keep, None);
            assert_eq!(head.count, 40);
            assert_eq!(head.oldest, full[..keep.min(40)], "keep {keep}");
        }
        assert!(full.windows(2).all(|w| w[0].1 <= w[1].1), "oldest first");
        let _ = fs::remove_dir_all(dir);
    }

    /// One cycle of small slices repairs the whole index: every missing marker is put back
    /// and every stale one removed, each by the slice its key falls in, and every record is
    /// read once.
    #[test]
    fn a_cycle_of_slices_repairs_every_marker_and_reads_every_record_once() {
        let (dir, store) = store_of("slice-repair", 300);
        let open = dir.join("open");
        let markers = || -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&open)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| !n.starts_with('.'))
                .collect();
            v.sort();
            v
        };
        let before = markers();
        assert_eq!(before.len(), 200);
        // A power cut took some markers; a crash left some stale ones.
        for m in before.iter().step_by(7) {
            fs::remove_file(open.join(m)).unwrap();
        }
        for k in (0..300).step_by(30) {
            fs::write(open.join(format!("{:013}.k{k}", 5)), b"").unwrap();
        }
        fs::write(open.join("0000000000007.gone"), b"").unwrap();
        assert_ne!(markers(), before);
        let started = Timestamp::from_millis(1_000);
        match store.start_cycle(started, 20) {
            CycleStart::Listed { started: s, total } => assert_eq!((s, total), (started, 300)),
            CycleStart::Whole(_) => panic!("300 records are more than one slice of 20"),
        }
        // A second pass starting a cycle in the same run joins this one.
        match store.start_cycle(Timestamp::from_millis(1_500), 20) {
            CycleStart::Listed { started: s, total } => assert_eq!((s, total), (started, 300)),
            CycleStart::Whole(_) => panic!("300 records are more than one slice of 20"),
        }
        let later = Timestamp::from_millis(2_000);
        assert!(
            store.cycle_slice(later, 0, 20).is_none(),
            "another cycle's list"
        );
        let (mut from, mut runs, mut read) = (0, 0, 0);
        while from < slices::BUCKETS {
            let slice = store.cycle_slice(started, from, 20).unwrap();
            assert_eq!(slice.total, 300);
            assert!(slice.end > from);
            read += store.slice_incidents(&slice).count();
            // Every other slice takes its markers from an earlier listing of `open/` (the
            // plugin's report's), the others list `open/` themselves.
            let listed = store
                .open_index_head(5, Some(from..slice.end))
                .slice_markers;
            let listed = listed.as_ref().filter(|_| runs % 2 == 0);
            let mut visited = 0;
            store.repair_open_index(&slice, listed, |_| visited += 1);
            assert_eq!(visited, slice.files(), "each record handed on once");
            from = slice.end;
            runs += 1;
        }
        assert_eq!(read, 300, "every record once");
        assert!(runs >= 15, "{runs} runs");
        assert_eq!(markers(), before);
        // A list a power cut cut short is not used (by the next run: a new process).
        let list = dir.join("meta/records-cycle");
        let text = fs::read_to_string(&list).unwrap();
        fs::write(&list, &text[..text.len() / 2]).unwrap();
        let next_run = Store::open(&dir).unwrap();
        assert!(next_run.cycle_slice(started, 0, 20).is_none());
        // The end of another cycle leaves the list; the end of its own removes it.
        next_run.end_cycle(later);
        assert!(list.exists());
        next_run.end_cycle(started);
        assert!(!list.exists());
        match next_run.start_cycle(started, 1000) {
            CycleStart::Whole(slice) => assert_eq!(slice.files(), 300),
            CycleStart::Listed { .. } => panic!("one slice"),
        }
        assert!(!list.exists());
        let _ = fs::remove_dir_all(dir);
    }

    /// A slice run that found `open/` as an earlier run listed it (`SliceMarkers::ByRecord`)
    /// lists nothing: it puts back its open records' missing markers and drops the markers
    /// its closed records left; a marker with no record or of another opening waits for a
    /// run that lists `open/`.
    #[test]
    fn a_slice_without_a_listing_checks_each_records_own_marker() {
        let (dir, store) = store_of("slice-by-record", 60);
        let open = dir.join("open");
        let markers = || -> BTreeSet<String> {
            fs::read_dir(&open)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .filter(|n| !n.starts_with('.'))
                .collect()
        };
        let before = markers();
        assert_eq!(before.len(), 40);
        let taken: Vec<String> = before.iter().step_by(5).cloned().collect();
        for m in &taken {
            fs::remove_file(open.join(m)).unwrap();
        }
        // A crash between a resolution's commit and its marker's removal.
        let closed = store.load_incident("k3").unwrap();
        assert!(!closed.is_open());
        let left = marker_name(&closed);
        fs::write(open.join(&left), b"").unwrap();
        let orphan = "0000000000007.gone".to_string();
        fs::write(open.join(&orphan), b"").unwrap();
        let whole = store.all_record_files();
        let mut visited = 0;
        let open_count =
            store.repair_open_index(&whole, Some(&SliceMarkers::ByRecord), |_| visited += 1);
        assert_eq!((open_count, visited), (40, 60));
        let after = markers();
        assert!(
            taken.iter().all(|m| after.contains(m)),
            "missing markers put back"
        );
        assert!(!after.contains(&left), "a closed record's marker dropped");
        assert!(after.contains(&orphan), "left for a run that lists open/");
        store.repair_open_index(&whole, None, |_| ());
        assert_eq!(markers(), before);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn push_decimal_writes_what_display_writes() {
        for n in [0, 7, 10, 4095, 4096, 65_535, u32::MAX] {
            let mut text = String::from("x");
            push_decimal(&mut text, n);
            assert_eq!(text, format!("x{n}"));
        }
    }

    /// An open incident whose key is long enough for its file name to be a hash stays in the
    /// `open/` index through reads and rebuilds (the name does not decode back to the key).
    #[test]
    fn marker_names_are_thirteen_digits_a_dot_and_an_encoded_key() {
        assert_eq!(
            parse_marker("1796040463568.abc-1"),
            Some((Timestamp::from_millis(1_796_040_463_568), "abc-1"))
        );
        for bad in [
            "",
            "1796040463568",
            "1796040463568.",
            "179604046356.abc",
            "17960404635689.abc",
            "179604046356x.abc",
            "1796040463568.a.b",
            "1796040463568.é",
            "é796040463568.abc",
            ".by-opening-time",
            "abc",
        ] {
            assert_eq!(parse_marker(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn last_success_is_rewritten_at_most_every_resolution() {
        let (_dir, store) = temp_store("last-success");
        let t0 = Timestamp::from_millis(1_800_000_000_000);
        store.mark_success("ilert", t0);
        store.mark_success("ilert", t0.plus(Duration::from_secs(5)));
        assert_eq!(
            store.last_success("ilert"),
            Some(t0),
            "a storm keeps the file"
        );
        let later = t0.plus(SUCCESS_RESOLUTION);
        store.mark_success("ilert", later);
        assert_eq!(store.last_success("ilert"), Some(later));
        // A stored time in the future (a clock set back) is replaced at once.
        let earlier = t0;
        store.mark_success("ilert", earlier);
        assert_eq!(store.last_success("ilert"), Some(earlier));
    }

    #[test]
    fn open_index_keeps_incidents_with_hashed_file_names() {
        let (dir, store) = temp_store("open-index");
        let key = format!("am-{}", "x/".repeat(100));
        assert!(encode_key(&key).contains('~'), "the name is hashed");
        let record = Record {
            incident: Some(open_incident(&key)),
            queue: vec![],
        };
        store
            .save_record(&key, &record, Durability::Commit)
            .unwrap();
        assert_eq!(store.open_index().len(), 1);
        assert_eq!(store.open_incidents().len(), 1, "not dropped as stale");
        assert_eq!(store.rebuild_open_index(), 1);
        assert_eq!(store.open_index().len(), 1, "not removed by the rebuild");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The last delivery moves the queue file to incidents/ unwritten; what it still lists
    /// there is not pending.
    #[test]
    fn a_drained_queue_file_is_moved_as_it_is_and_lists_nothing_pending() {
        let (dir, store) = temp_store("drain");
        let key = "drain-1";
        let record = record_with_steps(key, &["1-00"]);
        store.save_record(key, &record, Durability::Commit).unwrap();
        let queued = store.queued_record_path(key);
        let written = fs::read(&queued).unwrap();
        store
            .update_record(key, Durability::Progress, |r| r.queue.clear())
            .unwrap();
        assert_drained_unwritten(&store, key, &written);
        assert!(store.pending_keys_due_in(&store.scan_outbox()).is_empty());
        assert_eq!(store.load_incident(key), record.incident);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A format-1 record (a bare incident under `incidents/`, from before the queue moved into
    /// the record file) is read as its incident by every reader, whole or incident-only.
    #[test]
    fn a_format_1_bare_incident_is_read_by_every_reader() {
        let (dir, store) = temp_store("format-1");
        let key = "f1-1";
        let incident = open_incident(key);
        let path = store.record_path(key);
        fs::write(&path, serde_json::to_vec(&incident).unwrap()).unwrap();
        assert_eq!(
            store.load_incident(key).map(|i| i.key),
            Some(key.to_string())
        );
        assert_eq!(
            store.read_incident(&path).map(|i| i.key),
            Some(key.to_string())
        );
        assert!(store.quarantined().is_empty(), "{:?}", store.quarantined());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Taking delivered entries off a loaded record: the file is rewritten while entries
    /// are left, moved unwritten when the last one goes, and the record returned is what the
    /// store then holds.
    #[test]
    fn removing_delivered_entries_rewrites_then_moves_the_queue_file() {
        let (dir, store) = temp_store("remove-delivered");
        let key = "rd-1";
        let record = record_with_steps(key, &["1-00", "2-00"]);
        store.save_record(key, &record, Durability::Commit).unwrap();
        let queued = store.queued_record_path(key);

        let left = store
            .remove_delivered(key, record.clone(), "1-00", Durability::Progress)
            .unwrap();
        let ids = |r: &Record| r.queue.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&left), ["2-00"]);
        assert_eq!(ids(&store.load_record(key)), ["2-00"], "written back");
        let written = fs::read(&queued).unwrap();

        let done = store
            .remove_delivered(key, left, "2-00", Durability::Progress)
            .unwrap();
        assert!(done.queue.is_empty());
        assert_drained_unwritten(&store, key, &written);
        assert_eq!(store.load_incident(key), record.incident);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A scan taken before this process wrote, drained and created queue files, once
    /// refreshed, says what a new listing says (file by file, metadata included), with one
    /// `stat` per file it touched; a file another process wrote is left to the next scan.
    #[test]
    fn a_refreshed_scan_matches_a_new_listing_after_this_process_writes() {
        let (dir, store) = temp_store("scan");
        let entry = |key: &str, at: i64| {
            OutboxEntry::new(
                format!("{at}-00"),
                key,
                1,
                1,
                Timestamp::from_millis(at),
                crate::lifecycle::chat_action(
                    crate::config::ChatPlatform::Slack,
                    crate::lifecycle::ChatChange::Refire,
                ),
            )
        };
        let queue = |key: &str, at: i64| Record {
            incident: Some(open_incident(key)),
            queue: vec![entry(key, at)],
        };
        for key in ["kept", "drained", "rewritten"] {
            store
                .save_record(key, &queue(key, 1_000), Durability::Commit)
                .unwrap();
        }
        let mut scan = store.scan_outbox();
        assert_eq!(scan.incidents(), 3);
        store
            .update_record("drained", Durability::Progress, |r| r.queue.clear())
            .unwrap();
        store
            .save_record("rewritten", &queue("rewritten", 9_000), Durability::Commit)
            .unwrap();
        store
            .save_record("new", &queue("new", 5_000), Durability::Commit)
            .unwrap();
        // Another process's write: a copy this process did not make.
        let other = dir.join("outbox").join("other.json");
        fs::copy(store.queued_record_path("kept"), &other).unwrap();
        store.refresh_scan(&mut scan);
        let _ = fs::remove_file(&other);
        let fresh = store.scan_outbox();
        // Each file's name and identity (inode, change and modification times).
        let ids = |s: &OutboxScan| -> Vec<String> {
            s.files
                .iter()
                .map(|(n, (_, id))| format!("{n} {id:?}"))
                .collect()
        };
        assert_eq!(ids(&scan), ids(&fresh));
        assert_eq!(
            store.pending_keys_due_in(&scan),
            store.pending_keys_due_in(&fresh)
        );
        assert_eq!(
            store
                .pending_keys_due_in(&scan)
                .into_iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>(),
            ["kept", "new", "rewritten"]
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// Without the shared empty file (a store whose index is being rebuilt) a marker is an
    /// empty file of its own, and the incident is still listed.
    #[test]
    fn a_marker_is_a_file_of_its_own_when_it_cannot_be_a_link() {
        use std::os::unix::fs::MetadataExt;
        let (dir, store) = temp_store("marker-file");
        fs::remove_file(store.dir("open").join(OPEN_INDEX_READY)).unwrap();
        let incident = open_incident("m-1");
        let record = Record {
            incident: Some(incident.clone()),
            queue: vec![],
        };
        store
            .save_record("m-1", &record, Durability::Commit)
            .unwrap();
        let marker = fs::metadata(store.dir("open").join(marker_name(&incident))).unwrap();
        assert_eq!((marker.nlink(), marker.len()), (1, 0));
        assert_eq!(store.open_incidents().len(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A re-fire carries the first firing only when one backfilled it (the record lacks that
    /// data), and every later re-fire carries it on, in later processes too; others write
    /// only the latest firing.
    #[test]
    fn a_refire_carries_the_first_firing_only_once_it_was_backfilled() {
        let key = "refire-first-1";
        let (dir, store, mut incident, marker) = store_with_open("refire-first", key);
        let carries_first = || {
            String::from_utf8(fs::read(&marker).unwrap())
                .unwrap()
                .contains("\"first\"")
        };
        incident.times_fired = 2;
        store.save_refire(&incident, false).unwrap();
        assert!(!carries_first());
        assert_eq!(store.load_incident(key).unwrap().times_fired, 2);
        // A re-fire backfills the first firing's summary.
        incident.times_fired = 3;
        incident.first.summary = Some("backfilled".into());
        store.save_refire(&incident, true).unwrap();
        assert!(carries_first());
        // The next re-fire, in another process (a store opened anew), backfills nothing.
        let later = Store::open(&dir).unwrap();
        let mut read = later.load_incident(key).unwrap();
        assert_eq!(read.first.summary.as_deref(), Some("backfilled"));
        read.times_fired = 4;
        later.save_refire(&read, false).unwrap();
        assert!(carries_first(), "the backfilled first firing is carried on");
        let again = Store::open(&dir).unwrap().load_incident(key).unwrap();
        assert_eq!(
            (again.times_fired, again.first.summary.as_deref()),
            (4, Some("backfilled"))
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A re-fire's counters live in the open/ marker until the record is next
    /// written; a torn one is ignored.
    #[test]
    fn refire_counters_in_the_marker_are_read_back_and_a_torn_one_is_ignored() {
        let key = "refire-1";
        let (dir, store, mut incident, marker) = store_with_open("refire", key);
        use std::os::unix::fs::MetadataExt;
        // The marker is one more name of the shared empty file, no inode of its own ...
        let shared = store.dir("open").join(OPEN_INDEX_READY);
        let inode = |p: &Path| fs::metadata(p).map(|m| (m.ino(), m.nlink())).unwrap();
        assert_eq!(inode(&marker), (inode(&shared).0, 2));
        // ... and another open incident's marker too.
        let other = open_incident("refire-2");
        store
            .save_record(
                "refire-2",
                &Record {
                    incident: Some(other.clone()),
                    queue: vec![],
                },
                Durability::Commit,
            )
            .unwrap();
        let other_marker = store.dir("open").join(marker_name(&other));
        assert_eq!(inode(&other_marker), (inode(&shared).0, 3));
        incident.times_fired = 7;
        incident.last_seen = Timestamp::from_millis(5_000);
        store.save_refire(&incident, false).unwrap();
        // The first re-fire gave the marker a file of its own; the shared file stays empty
        // and the other marker says nothing of it.
        assert_ne!(inode(&marker).0, inode(&shared).0);
        assert_eq!(inode(&marker).1, 1);
        assert_eq!(fs::metadata(&shared).unwrap().len(), 0);
        assert_eq!(store.load_incident("refire-2").unwrap().times_fired, 1);
        assert!(fs::read_dir(store.dir("meta")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".tmp-")));
        assert_eq!(store.load_incident(key).unwrap().times_fired, 7);
        assert_eq!(store.open_incidents()[0].times_fired, 7);
        // A later bump written over the first one.
        incident.times_fired = 8;
        store.save_refire(&incident, false).unwrap();
        assert_eq!(store.load_incident(key).unwrap().times_fired, 8);
        // Torn: one byte changed inside the checksummed text.
        let mut bytes = fs::read(&marker).unwrap();
        let at = bytes.iter().position(|b| *b == b'8').unwrap();
        bytes[at] = b'9';
        fs::write(&marker, &bytes).unwrap();
        assert_eq!(store.load_incident(key).unwrap().times_fired, 1);
        // A bump older than the record changes nothing.
        incident.times_fired = 12;
        store
            .save_record(
                key,
                &Record {
                    incident: Some(incident.clone()),
                    queue: vec![],
                },
                Durability::Commit,
            )
            .unwrap();
        incident.times_fired = 10;
        store.save_refire(&incident, false).unwrap();
        assert_eq!(store.load_incident(key).unwrap().times_fired, 12);
        fs::remove_dir_all(&dir).unwrap();
    }

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

    #[test]
    fn odd_file_names_decode_without_panicking() {
        assert_eq!(decode_key("1.%aé"), "1.%aé");
        assert_eq!(decode_key("%é%"), "%é%");
        assert_eq!(decode_key("%4"), "%4");
        assert_eq!(decode_key("%C3%A9"), "é");
    }

    /// A lock that cannot be taken for another reason than "held" (here: the shared lock
    /// file is a directory) stops the requeue with the path, instead of moving the dead
    /// letter unlocked.
    #[test]
    fn a_broken_lock_file_fails_requeue_with_its_path() {
        use crate::config::ChatPlatform;
        use crate::lifecycle::{chat_action, ChatChange};
        let dir = std::env::temp_dir().join(format!("pi-broken-lock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = Store::open(&dir).unwrap();
        let now = Timestamp::from_millis(0);
        let action = chat_action(ChatPlatform::Slack, ChatChange::Open);
        let entry = OutboxEntry::new("e1".into(), "k1", 1, 1, now, action);
        store.keep_dead_letter(&entry, "refused", now).unwrap();
        let shared = store.dir("locks").join(SHARED_LOCK_FILE);
        let _ = fs::remove_file(&shared);
        fs::create_dir_all(&shared).unwrap();
        let e = store
            .requeue_dead(Instant::now() + Duration::from_secs(1))
            .unwrap_err();
        assert!(e.to_string().contains("locks/incidents"), "{e}");
        assert_eq!(store.dead_letters().len(), 1, "the dead letter stays");
        let _ = fs::remove_dir_all(&dir);
    }

    /// No serialisation in the store falls back to a default: a failed one would replace a
    /// file with an empty one. (The needles are split so this test does not find itself.)
    #[test]
    fn no_serialisation_in_the_store_falls_back_to_empty() {
        let files = [
            ("mod.rs", include_str!("mod.rs")),
            ("events.rs", include_str!("events.rs")),
            ("fsutil.rs", include_str!("fsutil.rs")),
            ("pacing.rs", include_str!("pacing.rs")),
        ];
        let calls = [
            concat!("serde_json::", "to_vec("),
            concat!("serde_json::", "to_string("),
            concat!("serde_json::", "to_string_pretty("),
        ];
        let fallbacks = [
            concat!(".unwrap_or", "_default()"),
            concat!(".unwrap_or", "("),
        ];
        for (name, text) in files {
            let flat: String = text.split_whitespace().collect();
            for call in calls {
                for (at, _) in flat.match_indices(call) {
                    let statement = flat[at..].split([';', '{', '}']).next().unwrap_or_default();
                    assert!(
                        !fallbacks.iter().any(|f| statement.contains(f)),
                        "src/store/{name}: {statement}"
                    );
                }
            }
        }
    }
}
