//! `pandora-ilert flush` and `requeue`: deliver what is queued, and give dead letters another go.

use crate::config::Config;
use crate::deadline::Deadline;
use crate::delivery::{Deliverer, Outcome};
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::intake;
use crate::pacing;
use crate::store::{OutboxScan, Store};
use crate::time::Timestamp;

/// Runs `flush`.
pub fn run(config: &Config) -> Result<Exit, AppError> {
    let store = Store::open(&config.state_dir)?;
    store.sweep_temp_files(Timestamp::now());
    let http = Http::new(config.scrubber());
    let outcome = flush_all(
        config,
        &store,
        &http,
        Deadline::after(config.flush_deadline),
        false,
        &mut store.scan_outbox(),
    );
    let pending = store.queue_summary().entries;
    let inbox = store.inbox_keys().len();
    eprintln!(
        "flush: delivered {}, still queued {pending}{}, dead letters {}{}",
        outcome.delivered,
        if inbox > 0 {
            format!(" (+{inbox} incidents busy or in the inbox)")
        } else {
            String::new()
        },
        outcome.dead,
        outcome
            .last_error
            .as_deref()
            .map(|e| format!("; last error: {e}"))
            .unwrap_or_default()
    );
    log::info!(
        "flush delivered={} queued={pending} dead={}",
        outcome.delivered,
        outcome.dead
    );
    Ok(if pending > 0 || inbox > 0 {
        Exit::Queued
    } else {
        Exit::Ok
    })
}

/// Applies leftover inbox entries and delivers every incident's queue, longest waiting first.
/// Incidents locked by a running `alert` are skipped: that process delivers them. `scan` is
/// `outbox/` as listed at the start (`Store::scan_outbox`).
pub fn flush_all(
    config: &Config,
    store: &Store,
    http: &Http,
    deadline: Deadline,
    honour_backoff: bool,
    scan: &mut OutboxScan,
) -> Outcome {
    store.adopt_legacy_in(
        scan,
        std::time::Instant::now() + std::time::Duration::from_millis(200),
    );
    for key in store.inbox_keys() {
        match store.try_lock_incident(&key) {
            Ok(Some(_lock)) => {
                if let Err(e) = intake::apply_inbox(config, store, &key) {
                    log::error!("incident {key}: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => log::error!("incident {key}: {e}"),
        }
    }
    let mut deliverer = Deliverer::new(config, store, http, deadline, honour_backoff);
    let mut total = Outcome::default();
    let now = Timestamp::now();
    // Due first (then what waits in our own backoff, tried only once a destination is back).
    // Adopted format-1 entries and applied inbox entries wrote queue files the scan has not
    // seen: this process did, so it knows which.
    store.refresh_scan(scan);
    let (due, waiting): (Vec<_>, Vec<_>) = store
        .pending_keys_due_in(scan)
        .into_iter()
        .partition(|(_, t)| !honour_backoff || *t <= now);
    // A due backlog larger than ilert's budget goes out RESOLVEs of paged incidents and HIGH
    // ALERTs first; a smaller one (or any, with no budget) all goes now, so nothing needs
    // reading to order it.
    let budget = config.events_per_window as usize;
    let mut keys = if budget > 0 && due.len() > budget {
        pacing::urgent_first(due, |(k, _)| {
            pacing::head_is_urgent(store.pending_for(k).iter().map(|e| &e.action))
        })
    } else {
        due
    };
    keys.extend(waiting);
    for (key, due) in keys {
        if deadline.remaining().as_millis() < 500 {
            log::warn!("flush: deadline reached; the rest stays queued");
            break;
        }
        if deliverer.all_lanes_broken() {
            log::warn!("flush: every destination keeps failing in this run; the rest stays queued");
            break;
        }
        // Nothing of this incident is due yet (the queue file's time says so): skip it without
        // reading it, unless a destination came back in this run, which ends our backoff.
        if honour_backoff && due > now && !deliverer.any_recovered() {
            continue;
        }
        match store.try_lock_incident(&key) {
            Ok(Some(_lock)) => total.add(deliverer.deliver_incident(&key, usize::MAX)),
            Ok(None) => log::debug!("incident {key} is busy in another process; skipped"),
            Err(e) => log::error!("incident {key}: {e}"),
        }
    }
    total
}

/// Runs `requeue`.
pub fn requeue(config: &Config) -> Result<Exit, AppError> {
    let store = Store::open(&config.state_dir)?;
    let n = store.requeue_dead(std::time::Instant::now() + std::time::Duration::from_secs(10))?;
    eprintln!("requeue: {n} dead letter(s) moved back to the outbox; run `pandora-ilert flush` to send them");
    Ok(Exit::Ok)
}
