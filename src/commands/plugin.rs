//! `pandora-ilert plugin`: the run the Pandora agent starts on its schedule (`module_plugin`).
//!
//! One run, within `[plugin] deadline`: deliver the outbox (oldest first, honouring our own
//! backoff), housekeeping, the ilert heartbeat ping, a look at Pandora's `data_in` folder, then
//! pandora-ilert's health printed as `<module>` blocks.
//!
//! The agent drops everything a plugin prints when it exits non-zero, and the Debian 4.1 agent
//! waits forever for a plugin (reference §3.1, tests/harness/README.md). So this command
//! always exits 0, prints nothing but modules on stdout (even with a broken config), and keeps
//! its own deadline with a watchdog: the work runs on a thread, and if it is not done in time
//! the main thread prints the modules published so far and returns, which ends the process.
//! Every store write is atomic, so stopping mid-way loses nothing.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::archive;
use crate::chatops;
use crate::config::{ChatPlatform, Config};
use crate::data_in;
use crate::deadline::Deadline;
use crate::exit::Exit;
use crate::health::{self, DataIn, Evidence};
use crate::housekeeping;
use crate::http::Http;
use crate::ilert;
use crate::incident::Incident;
use crate::pacing::Budget;
use crate::pandora::module_xml::{self, Module};
use crate::store::slices::{self, Cursor, Plan};
use crate::store::{CycleStart, OpenIndexHead, OutboxScan, RecordSlice, SliceMarkers, Store};
use crate::time::Timestamp;

use super::flush_all;
use crate::status::{collect_summary, open_head, QueueFigures};

/// Module prefix used when the config (and its `module_prefix`) cannot be read.
const DEFAULT_PREFIX: &str = "pandora-ilert";
/// Kept back from delivery for heartbeat, housekeeping, data_in and printing (at most a
/// quarter of the deadline).
const AFTER_DELIVERY: Duration = Duration::from_secs(5);
/// The watchdog prints this long before the deadline.
const PRINT_MARGIN: Duration = Duration::from_millis(300);
/// Meta file holding the last heartbeat result, for runs that do not ping.
const HEARTBEAT_META: &str = "heartbeat-last.json";
/// Meta file holding the newest rejected data file already logged.
const REJECTED_META: &str = "data-in-rejected-newest";

/// How the run's work ended, as the watchdog saw it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ending {
    Done,
    Overran,
    Crashed,
}

/// Runs the plugin; never fails (problems become module states).
pub fn run(config_path: &Path, verbose: bool) -> Exit {
    let started = Instant::now();
    let config = match Config::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            print_modules(&[health::config_error(DEFAULT_PREFIX, &e.to_string())]);
            return Exit::Ok;
        }
    };
    crate::logging::init(&config, verbose);
    let total = config.plugin.deadline;
    let deadline = Deadline::after(total);
    let published: Arc<Mutex<Vec<Module>>> = Arc::default();
    let (done_tx, done_rx) = mpsc::channel::<()>();

    let spawned = {
        let (config, published) = (config.clone(), published.clone());
        std::thread::Builder::new()
            .name("plugin-run".into())
            .spawn(move || {
                work(&config, deadline, &published);
                let _ = done_tx.send(());
            })
    };
    let ending = match spawned {
        Ok(_) => match done_rx.recv_timeout(deadline.remaining().saturating_sub(PRINT_MARGIN)) {
            Ok(()) => Ending::Done,
            Err(RecvTimeoutError::Timeout) => {
                log::error!(
                    "plugin: the run reached its {}s deadline; printing the modules computed so far",
                    total.as_secs()
                );
                Ending::Overran
            }
            Err(RecvTimeoutError::Disconnected) => {
                log::error!(
                    "plugin: internal error in the run; printing the modules computed so far"
                );
                Ending::Crashed
            }
        },
        Err(e) => {
            log::error!("plugin: cannot start the run thread ({e}); running without a watchdog");
            work(&config, deadline, &published);
            Ending::Done
        }
    };

    let mut modules = published
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    let prefix = config.plugin.module_prefix.as_str();
    let mut timing = health::run_time(prefix, started.elapsed(), total, ending == Ending::Overran);
    if ending == Ending::Crashed {
        timing.status = Some(module_xml::Status::Critical);
        timing.description = "the plugin run stopped on an internal error (see the log); the \
                              modules shown were computed before it"
            .into();
    }
    modules.push(timing);
    print_modules(&modules);
    log::info!(
        "plugin: printed {} modules in {}ms",
        modules.len(),
        started.elapsed().as_millis()
    );
    Exit::Ok
}

/// Writes the modules to stdout; a closed stdout is only logged.
fn print_modules(modules: &[Module]) {
    let text = module_xml::render(modules);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        log::warn!("plugin: cannot write the modules to stdout: {e}");
    }
}

/// Runs one step; a panic inside it is logged and the run goes on with the next step.
fn step<T>(name: &str, f: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Some(v),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            log::error!("plugin: the {name} step failed ({why}); continuing with the next step");
            None
        }
    }
}

fn publish(published: &Mutex<Vec<Module>>, modules: Vec<Module>) {
    *published
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = modules;
}

/// The run's work. Publishes the modules twice: first from the store as it was (the fallback
/// the watchdog prints if a step hangs), then the final ones.
fn work(config: &Config, deadline: Deadline, published: &Mutex<Vec<Module>>) {
    let store = Store::open(&config.state_dir).and_then(|s| s.probe_writable().map(|()| s));
    let mut heartbeat = store.as_ref().ok().and_then(|s| last_heartbeat(config, s));
    let not_scanned = if config.plugin.data_in.as_os_str().is_empty() {
        DataIn::Disabled
    } else {
        DataIn::NotScanned
    };
    // One listing of `open/` serves both reports unless this process changes a marker in
    // between (docs/store.md, "The plugin's reports").
    // The same listing keeps the markers of this run's housekeeping slice, when a cycle is
    // under way (its slice is read from the cycle's list now, without writing anything; a
    // new cycle of a large store reads no record in its first run, and a small store's
    // `open/` is small).
    let planned = store
        .as_ref()
        .ok()
        .and_then(|s| match closed_plan(config, s, "prune") {
            Plan::From { started, from } => s
                .cycle_slice(started, from, slices::RECORDS_PER_SLICE)
                .map(|slice| (started, slice)),
            Plan::Start { .. } | Plan::Idle => None,
        });
    let mut open_head = store.as_ref().ok().map(|s| {
        let buckets = planned.as_ref().map(|(_, slice)| slice.from..slice.end);
        (
            s.open_changes(),
            open_head(s, crate::health::LISTED, buckets),
        )
    });
    if let Some(ms) = step("status", || {
        health_modules(
            config,
            &store,
            open_head.as_ref().map(|(_, h)| h),
            heartbeat.clone(),
            &not_scanned,
            QueueFigures::AsIndexed,
        )
    }) {
        publish(published, ms);
    }

    let mut outbox: Option<OutboxScan> = None;
    if let Ok(store) = &store {
        match store.try_lock_named("plugin") {
            Ok(Some(_lock)) => {
                // One listing of `outbox/`, one `stat` per queue file, for the delivery order
                // and the health summary both (docs/store.md).
                let scan = outbox.insert(store.scan_outbox());
                step("delivery", || deliver(config, store, deadline, scan));
                if let Some(Some(hb)) = step("heartbeat", || ping(config, store, deadline)) {
                    heartbeat = Some(hb);
                }
                step("chat commands", || {
                    chat_poll(config, store, deadline, false)
                });
                step("ilert sync", || {
                    crate::ilert_sync::sync(config, store, &Http::new(config.scrubber()), deadline)
                });
                step("storm", || {
                    let http = Http::new(config.scrubber());
                    chatops::end_quiet_storms(config, store, &http, deadline);
                    chatops::open_after_storms(config, store, &http, deadline);
                });
                let listed = open_head
                    .as_ref()
                    .and_then(|(_, h)| h.slice_markers.as_ref());
                step("archive and housekeeping", || {
                    archive_and_prune(config, store, deadline, planned, listed)
                });
            }
            Ok(None) => log::info!(
                "plugin: another plugin run holds the plugin lock; this run only reports"
            ),
            Err(e) => log::error!("plugin: {e}; delivery and housekeeping skipped this run"),
        }
    }

    let data_in = step("data_in", || scan_data_in(config, &store, deadline)).unwrap_or(not_scanned);
    if let (Ok(s), Some((seen, head))) = (&store, open_head.as_mut()) {
        if s.open_changes() != *seen {
            (*seen, *head) = (
                s.open_changes(),
                self::open_head(s, crate::health::LISTED, None),
            );
        }
    }
    if let Some(ms) = step("status", || {
        let queue = match outbox.as_mut() {
            Some(scan) => QueueFigures::Scanned(scan),
            None => QueueFigures::Listed,
        };
        health_modules(
            config,
            &store,
            open_head.as_ref().map(|(_, h)| h),
            heartbeat,
            &data_in,
            queue,
        )
    }) {
        publish(published, ms);
    }
}

fn health_modules(
    config: &Config,
    store: &Result<Store, crate::store::StoreError>,
    open: Option<&OpenIndexHead>,
    heartbeat: Option<Evidence>,
    data_in: &DataIn,
    queue: QueueFigures<'_>,
) -> Vec<Module> {
    let now = Timestamp::now();
    let report = store.as_ref().map(|s| {
        let listed;
        let open = match open {
            Some(head) => head,
            None => {
                listed = open_head(s, crate::health::LISTED, None);
                &listed
            }
        };
        collect_summary(config, s, now, crate::health::LISTED, open, queue)
    });
    let backends: Vec<ChatPlatform> = [
        (ChatPlatform::Slack, config.slack.is_some()),
        (ChatPlatform::Teams, config.teams.is_some()),
        (ChatPlatform::Matrix, config.matrix.is_some()),
    ]
    .into_iter()
    .filter_map(|(p, on)| on.then_some(p))
    .collect();
    let config_path = config.path.display().to_string();
    health::modules(&health::Inputs {
        prefix: &config.plugin.module_prefix,
        now,
        config_path: &config_path,
        config_warnings: &config.warnings,
        report: report.as_ref().map_err(|e| e.to_string()),
        heartbeat,
        chat_backends: &backends,
        data_in,
    })
}

/// The delivery pass, leaving time for the steps after it.
fn deliver(config: &Config, store: &Store, deadline: Deadline, outbox: &mut OutboxScan) {
    let reserve = AFTER_DELIVERY.min(config.plugin.deadline / 4);
    let budget = Deadline::after(deadline.remaining().saturating_sub(reserve));
    let started = Instant::now();
    let outcome = flush_all(
        config,
        store,
        &Http::new(config.scrubber()),
        budget,
        true,
        outbox,
    );
    // The run's scan, not a read of every queue: the health modules count the entries.
    store.refresh_scan(outbox);
    let line = format!(
        "plugin: delivered {}, incidents with queued events {}, dead letters {} in {}ms",
        outcome.delivered,
        outbox.incidents(),
        outcome.dead,
        started.elapsed().as_millis()
    );
    match &outcome.last_error {
        Some(e) => log::warn!("{line}; last error: {e}"),
        None if outcome.delivered > 0 => log::info!("{line}"),
        None => log::debug!("{line}"),
    }
}

/// The last heartbeat result a run recorded, if a heartbeat is configured.
fn last_heartbeat(config: &Config, store: &Store) -> Option<Evidence> {
    config.heartbeat_key.as_ref()?;
    store
        .read_meta(HEARTBEAT_META)
        .and_then(|t| serde_json::from_str(&t).ok())
}

/// Pings the ilert heartbeat, if configured, and records the result.
fn ping(config: &Config, store: &Store, deadline: Deadline) -> Option<Evidence> {
    let key = config.heartbeat_key.as_ref()?;
    let timeout = config
        .request_timeout
        .min(deadline.remaining().saturating_sub(Duration::from_secs(2)));
    if timeout < Duration::from_millis(200) {
        log::warn!("plugin: no time left for the heartbeat ping this run");
        return None;
    }
    // ilert takes 5 pings a minute per key: however often the agent runs us, stay under it.
    let pace = crate::store::pacing::pace_name("heartbeat", key.expose());
    if let Some(next) = store.take_slot(
        &pace,
        "heartbeat",
        Budget::HEARTBEAT,
        Timestamp::now(),
        true,
    ) {
        log::debug!(
            "plugin: heartbeat not pinged, 5 pings a minute already (next at {})",
            next.rfc3339()
        );
        return None;
    }
    let result = ilert::heartbeat(&Http::new(config.scrubber()), config, key, timeout);
    let (ok, detail) = match result {
        Ok(r) if (200..300).contains(&r.status) => {
            (true, format!("heartbeat accepted (HTTP {})", r.status))
        }
        Ok(r) => (
            false,
            format!(
                "heartbeat refused with HTTP {}{}",
                r.status,
                if matches!(r.status, 401 | 403 | 404) {
                    " (check heartbeat_key under [ilert])"
                } else {
                    ""
                }
            ),
        ),
        Err(e) => (false, format!("heartbeat not sent: {e}")),
    };
    if ok {
        log::debug!("plugin: {detail}");
    } else {
        log::warn!("plugin: {detail} (key {})", key.redacted());
    }
    let evidence = Evidence {
        at: Timestamp::now(),
        ok,
        detail,
    };
    store.write_meta(
        HEARTBEAT_META,
        &serde_json::to_string(&evidence).unwrap_or_default(),
    );
    Some(evidence)
}

/// `!incident` reports and `!ack` / `!resolve` commands read back from chat.
pub(crate) fn chat_poll(config: &Config, store: &Store, deadline: Deadline, paced: bool) {
    let http = Http::new(config.scrubber());
    let mut open = |alert: crate::pandora::Alert, route: &str| {
        let key = alert.key.clone();
        if let Err(e) = super::alert::handle(
            config,
            store,
            &http,
            alert,
            Some(route.to_string()),
            deadline,
            Timestamp::now(),
        ) {
            log::error!("plugin: chat report {key}: {e}");
        }
        store.load_incident(&key)
    };
    let r = chatops::poll(config, store, &http, deadline, paced, &mut open);
    if r.reports + r.commands > 0 {
        log::info!(
            "plugin: chat: {} report(s), {} command(s)",
            r.reports,
            r.commands
        );
    }
    for e in r.errors {
        log::warn!("plugin: chat: {e}");
    }
}

/// Archiving and pruning read every record, a slice per run: a cycle over the whole store
/// starts at most this often (and every run when `archive_after` or `prune_after` is
/// shorter), and goes on a slice per run until it has visited every record
/// (`store::slices`, docs/store.md), so a plugin run stays small however many incidents the
/// store keeps.
const CLOSED_SCAN_EVERY: Duration = Duration::from_secs(3600);

/// The slice of records the pass `what` reads this run, and when its cycle started; `None`
/// when its last cycle is complete and recent. The cursor is `meta/last-<what>-scan`.
/// A new cycle lists the store's record files: a store of one slice is handled at once; a
/// larger one's list is written and its slices follow, one per run, read from the list
/// (so a run lists `incidents/` once a cycle, not once a slice).
fn closed_slice(config: &Config, store: &Store, what: &str) -> Option<(Timestamp, RecordSlice)> {
    let limit = slices::RECORDS_PER_SLICE;
    let start = |started: Timestamp| match store.start_cycle(started, limit) {
        CycleStart::Whole(slice) => Some((started, slice)),
        CycleStart::Listed { started, total } => {
            log::debug!("plugin: {what} pass: a new cycle over {total} record files");
            let cursor = Cursor { started, next: 0 };
            store.write_meta_quick(&format!("last-{what}-scan"), &cursor.text());
            None
        }
    };
    match closed_plan(config, store, what) {
        Plan::Idle => None,
        Plan::Start { started } => start(started),
        Plan::From { started, from } => match store.cycle_slice(started, from, limit) {
            Some(slice) => Some((started, slice)),
            None => {
                log::info!(
                    "plugin: the {what} pass's list of record files is missing or damaged; a new cycle starts"
                );
                start(Timestamp::now())
            }
        },
    }
}

/// What the pass `what` does this run, from its cursor.
fn closed_plan(config: &Config, store: &Store, what: &str) -> Plan {
    let every = CLOSED_SCAN_EVERY
        .min(config.plugin.archive_after)
        .min(config.plugin.prune_after);
    let cursor = store
        .read_meta(&format!("last-{what}-scan"))
        .and_then(|t| Cursor::parse(&t));
    slices::plan(cursor, Timestamp::now(), every)
}

/// The plugin's other pass over every record: the two share a cycle's list of record files.
fn other_pass(what: &str) -> &'static str {
    if what == "prune" {
        "archive"
    } else {
        "prune"
    }
}

/// True while the pass `what` is inside the cycle that started at `started`: the cycle's
/// list stays for it.
fn still_listing(store: &Store, what: &str, started: Timestamp) -> bool {
    store
        .read_meta(&format!("last-{what}-scan"))
        .and_then(|t| Cursor::parse(&t))
        .is_some_and(|c| c.started == started && c.next < slices::BUCKETS)
}

/// Moves the pass's cursor past a slice it went through. Written without `fsync`: a cursor
/// a power cut takes back only makes a slice or a cycle be read again.
fn closed_slice_done(store: &Store, what: &str, started: Timestamp, slice: &RecordSlice) {
    let cursor = Cursor {
        started,
        next: slice.end,
    };
    store.write_meta_quick(&format!("last-{what}-scan"), &cursor.text());
    if slice.end >= slices::BUCKETS && !still_listing(store, other_pass(what), started) {
        store.end_cycle(started);
    }
    if slice.from > 0 || slice.end < slices::BUCKETS {
        log::debug!(
            "plugin: {what} pass: buckets {}..{} of {} ({} of {} records)",
            slice.from,
            slice.end,
            slices::BUCKETS,
            slice.files(),
            slice.total
        );
    }
}

/// True when a chat platform is configured: then archiving is a pass over every record too.
fn archiving(config: &Config) -> bool {
    config.slack.is_some() || config.teams.is_some() || config.matrix.is_some()
}

/// Archives the channels of incidents resolved longer ago than `archive_after`, among one
/// slice of the records (`watch`; the plugin goes through `archive_and_prune`).
pub(crate) fn archive_channels(config: &Config, store: &Store, deadline: Deadline) {
    if !archiving(config) {
        return;
    }
    let Some((started, slice)) = closed_slice(config, store, "archive") else {
        return;
    };
    read_and_archive_slice(config, store, deadline, started, &slice, Timestamp::now());
}

/// Reads a slice's records for archiving alone and archives what is due among them.
fn read_and_archive_slice(
    config: &Config,
    store: &Store,
    deadline: Deadline,
    started: Timestamp,
    slice: &RecordSlice,
    now: Timestamp,
) {
    let records = store
        .slice_incidents(slice)
        .map(|i| (archive::RecordLoc::Current, i))
        .chain(
            store
                .slice_history(slice)
                .map(|(p, i)| (archive::RecordLoc::History(p), i)),
        );
    let due = archive::due_among(records, config.plugin.archive_after, now);
    archive_slice(config, store, deadline, started, slice, due);
}

/// Archiving, then housekeeping, each over its slice of the records this run. The two
/// passes share a cycle's list and go in step, so they are normally at the same slice: its
/// records are then read once for both (housekeeping's read hands each record to the
/// archiving check too; a channel due for archiving is never prunable, so deciding both
/// from the same read changes nothing).
fn archive_and_prune(
    config: &Config,
    store: &Store,
    deadline: Deadline,
    planned: Option<(Timestamp, RecordSlice)>,
    listed: Option<&SliceMarkers>,
) {
    let archive = if archiving(config) {
        closed_slice(config, store, "archive")
    } else {
        None
    };
    let prune = prune_slice(config, store, planned);
    let now = Timestamp::now();
    let older_than = config.plugin.archive_after;
    match (archive, prune) {
        (Some((a_started, a)), Some((started, slice)))
            if a_started == started && a.from == slice.from =>
        {
            log::debug!(
                "plugin: archiving and housekeeping read buckets {}..{} ({} record files) once",
                slice.from,
                slice.end,
                slice.files()
            );
            let mut due = Vec::new();
            let mut prunable = read_for_pruning(config, store, &slice, listed, now, |i| {
                let current = archive::RecordLoc::Current;
                due.extend(archive::due_one(current, i, older_than, now));
            });
            due.extend(store.slice_history(&slice).filter_map(|(p, i)| {
                archive::due_one(archive::RecordLoc::History(p), &i, older_than, now)
            }));
            archive::sort_due(&mut due);
            // A channel archived now may make its record prunable in this run, as when the
            // passes read the slice one after the other: those few records are read again.
            let keep = config.plugin.prune_after;
            let archived = archive_slice(config, store, deadline, started, &slice, due);
            for d in archived.iter().filter(|d| d.is_current()) {
                let again = store.load_incident(&d.key).filter(|i| i.seq == d.seq);
                prunable.extend(again.filter(|i| housekeeping::prunable(i, now, keep)));
            }
            prune_records(config, store, deadline, started, &slice, prunable, now);
        }
        (archive, prune) => {
            if let Some((started, slice)) = archive {
                read_and_archive_slice(config, store, deadline, started, &slice, now);
            }
            if let Some((started, slice)) = prune {
                let prunable = read_for_pruning(config, store, &slice, listed, now, |_| {});
                prune_records(config, store, deadline, started, &slice, prunable, now);
            }
        }
    }
}

/// Archives the channels `due` among a slice of the pass's cycle, and moves its cursor on.
/// Returns the channels archived.
fn archive_slice(
    config: &Config,
    store: &Store,
    deadline: Deadline,
    started: Timestamp,
    slice: &RecordSlice,
    due: Vec<archive::Due>,
) -> Vec<archive::Due> {
    let http = Http::new(config.scrubber());
    let r = archive::archive_due(config, store, &http, deadline, due, false);
    for d in &r.archived {
        log::info!("plugin: archived #{} (incident {})", d.channel, d.key);
    }
    for (channel, e) in &r.failed {
        log::warn!("plugin: could not archive #{channel}: {e}");
    }
    // A channel left for lack of time or a busy lock waits for the next cycle, as one the
    // platform refused does: the record still says it is not archived.
    closed_slice_done(store, "archive", started, slice);
    if slice.from == 0 && config.teams.as_ref().is_some_and(|t| t.graph()) {
        // Once a cycle: it reads every record, one at a time (only the channels to delete
        // are kept).
        archive::teams_upkeep(config, store, &http, deadline);
    }
    r.archived
}

/// The store directories housekeeping sweeps of temporary files, each in one slice of a
/// cycle. `incidents/` is swept through each slice's listing of it; nothing writes a
/// temporary file in `open/` or `locks/` (lock files and markers are made in place; a
/// marker's own file replaces its link from a temporary file in `meta/`).
fn swept_over_a_cycle() -> Vec<&'static str> {
    crate::store::DIRS
        .into_iter()
        .filter(|d| !matches!(*d, "incidents" | "open" | "locks"))
        .collect()
}

/// Housekeeping's slice this run. `planned`: the slice read before the run took the plugin
/// lock, used if the cursor still points at it.
fn prune_slice(
    config: &Config,
    store: &Store,
    planned: Option<(Timestamp, RecordSlice)>,
) -> Option<(Timestamp, RecordSlice)> {
    match (closed_plan(config, store, "prune"), planned) {
        (Plan::From { started, from }, Some((s, slice))) if s == started && slice.from == from => {
            Some((s, slice))
        }
        _ => closed_slice(config, store, "prune"),
    }
}

/// Housekeeping's read of a slice: the `open/` markers of its incidents repaired (`listed`:
/// the slice's markers from the run's listing of `open/`), each record handed to `visit`,
/// and the closed ones older than `prune_after` returned.
fn read_for_pruning(
    config: &Config,
    store: &Store,
    slice: &RecordSlice,
    listed: Option<&SliceMarkers>,
    now: Timestamp,
    mut visit: impl FnMut(&Incident),
) -> Vec<Incident> {
    // The `open/` index is written without fsync: after a power cut a marker may be missing.
    // This pass reads every record over a cycle anyway; it puts back what is missing.
    let keep = config.plugin.prune_after;
    let mut prunable = Vec::new();
    store.repair_open_index(slice, listed, |i| {
        visit(&i);
        if housekeeping::prunable(&i, now, keep) {
            prunable.push(i);
        }
    });
    prunable
}

/// Housekeeping over one slice of the records, after its read (`read_for_pruning`): its
/// `prunable` closed records and old superseded ones removed, and temporary files swept
/// from the store directories that fall to it; then the cursor moves on.
fn prune_records(
    config: &Config,
    store: &Store,
    deadline: Deadline,
    started: Timestamp,
    slice: &RecordSlice,
    prunable: Vec<Incident>,
    now: Timestamp,
) {
    let keep = config.plugin.prune_after;
    // Temporary files left by killed processes (those older than an hour): those the slice's
    // listing of `incidents/` came across, and one other directory at a time over the cycle.
    store.sweep_slice_temps(slice, now);
    let swept = swept_over_a_cycle();
    let dirs: Vec<&str> = swept
        .iter()
        .enumerate()
        .filter(|(n, _)| (slice.from..slice.end).contains(&slices::spread(*n, swept.len())))
        .map(|(_, d)| *d)
        .collect();
    store.sweep_temp_files_in(&dirs, now);
    let pruned = housekeeping::prune(
        store,
        prunable.into_iter(),
        store.slice_history(slice),
        now,
        keep,
        deadline,
    );
    match pruned {
        Ok((p, finished)) => {
            if p != housekeeping::Pruned::default() {
                log::info!(
                    "plugin: housekeeping removed {} closed incident(s), {} superseded record(s), {} event-log line(s); {} busy",
                    p.records,
                    p.history,
                    p.event_lines,
                    p.busy
                );
            }
            if finished {
                closed_slice_done(store, "prune", started, slice);
            }
        }
        Err(e) => {
            log::error!(
                "plugin: housekeeping stopped: {e}; the rest of its slice waits for the next cycle"
            );
            closed_slice_done(store, "prune", started, slice);
        }
    }
}

fn scan_data_in(
    config: &Config,
    store: &Result<Store, crate::store::StoreError>,
    deadline: Deadline,
) -> DataIn {
    let dir = &config.plugin.data_in;
    if dir.as_os_str().is_empty() {
        return DataIn::Disabled;
    }
    let shown = dir.display().to_string();
    let scan = match data_in::scan(dir, deadline) {
        Ok(s) => s,
        Err(e) => {
            log::warn!("plugin: cannot read data_in folder {shown}: {e}");
            return DataIn::Unreadable {
                dir: shown,
                error: e.to_string(),
            };
        }
    };
    // Say each newly rejected file once in the log; the modules repeat it every run.
    if let (Some(newest), Ok(store)) = (scan.rejected.first(), store) {
        let seen = store.read_meta(REJECTED_META);
        if seen.as_deref() != Some(newest.name.as_str()) {
            for r in &scan.rejected {
                if seen.as_deref() == Some(r.name.as_str()) {
                    break;
                }
                if let Some(d) = &r.diagnosis {
                    log::warn!(
                        "plugin: Pandora rejected data file {shown}/{} from agent {}: {}",
                        r.name,
                        d.agent.as_deref().unwrap_or("unknown"),
                        d.problem
                    );
                }
            }
            store.write_meta(REJECTED_META, &newest.name);
        }
    }
    DataIn::Scanned { dir: shown, scan }
}
