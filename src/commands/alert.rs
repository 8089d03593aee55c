//! `pandora-ilert alert`: one firing or recovery from the Pandora server.
//!
//! Order of work (so that nothing is lost at any instant): take the incident lock (saving the
//! alert to the inbox first if the lock is busy), plan and queue deliveries durably, deliver
//! this incident's queue in order, and report. Anything not delivered stays on disk for `flush`.

use std::time::Instant;

use crate::cli::AlertArgs;
use crate::config::Config;
use crate::deadline::Deadline;
use crate::delivery::{Deliverer, Outcome};
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::ilert;
use crate::intake;
use crate::lifecycle::{self, Action};
use crate::pandora::Alert;
use crate::stdout::outln;
use crate::store::{InboxEntry, LockError, Store};
use crate::time::Timestamp;

/// Queued entries of the incident delivered inline at most (the rest waits for `flush`).
const INLINE_LIMIT: usize = 16;

/// Runs the alert command.
pub fn run(config: &Config, args: &AlertArgs) -> Result<Exit, AppError> {
    let started = Instant::now();
    let deadline = Deadline::after(config.alert_deadline);
    let now = Timestamp::now();
    let mut alert = match Alert::from_input(&args.input(), &config.alert_key_prefix) {
        Ok(a) => a,
        Err(e) => {
            keep_rejected(config, args, &e.to_string(), now);
            return Err(AppError::Input(e));
        }
    };
    if args.from_db {
        crate::pandora_db::complete(&config.pandora_db, &mut alert);
    }
    for w in &alert.warnings {
        log::warn!("incident {}: {w}", alert.key);
    }
    if let Some(r) = &args.route {
        if config.route(r).is_none() {
            let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
            return Err(AppError::Usage(format!(
                "--route {r:?} is not a route in {}{}",
                config.path.display(),
                crate::config::suggestion(r, &names)
            )));
        }
    }
    if args.dry_run {
        return dry_run(config, &alert, args.route.as_deref(), now);
    }

    let store = Store::open(&config.state_dir)?;
    let key = alert.key.clone();
    let kind = alert.kind;
    let http = Http::new(config.scrubber());
    let handled = match handle(
        config,
        &store,
        &http,
        alert,
        args.route.clone(),
        deadline,
        now,
    ) {
        Ok(h) => h,
        // The event is on disk already: the failure came after (removing its inbox copy,
        // say). Saying "could not be queued" now would be false.
        Err(e) if crate::signals::committed() => {
            log::error!("incident {key}: the event is queued, but then: {e}");
            return Ok(Exit::Queued);
        }
        Err(e) => return Err(e),
    };
    // The process ends after this command: dropping the HTTP agent (its pool, the open
    // connection) is work the kernel's exit does anyway (~40,000 instructions a new alert).
    std::mem::forget(http);
    let Some(Handled { applied, outcome }) = handled else {
        return Ok(Exit::Queued);
    };

    let decision = applied
        .last()
        .map_or("already applied", |a| a.decision.as_str());
    let route = applied.last().map_or("-", |a| a.route.as_str());
    let done = if outcome.done.is_empty() {
        "nothing".to_string()
    } else {
        let labels: Vec<String> = outcome.done.iter().map(Action::label).collect();
        labels.join(", ")
    };
    let line = format!(
        "alert key={key} event={kind:?} route={route} decision={decision} delivered=[{done}] queued={} dead={} in {}ms",
        outcome.pending,
        outcome.dead,
        started.elapsed().as_millis()
    )
    .to_lowercase();
    if outcome.pending > 0 || outcome.dead > 0 {
        log::warn!(
            "{line}; last error: {}",
            outcome.last_error.as_deref().unwrap_or("-")
        );
    } else {
        log::info!("{line}");
    }
    Ok(if outcome.dead > 0 {
        Exit::Config
    } else if outcome.pending > 0 {
        Exit::Queued
    } else {
        Exit::Ok
    })
}

/// What `handle` did with one alert.
pub struct Handled {
    /// Inbox entries of the incident applied under its lock (this alert and any left behind).
    pub applied: Vec<intake::Applied>,
    /// What delivering the incident's queue achieved.
    pub outcome: Outcome,
}

/// Takes one alert through the durable path shared by `alert` and `xml`: under the incident
/// lock planned into the outbox, then this incident's queue delivered in order. A free lock
/// plans at once; a busy one makes the alert durable in the inbox before waiting, so a kill or
/// a deadline during the wait loses nothing. `Ok(None)`: the incident stayed busy (or its lock
/// unusable) until the deadline; the alert is safe in the inbox and the next `flush` or plugin
/// run applies it.
pub fn handle(
    config: &Config,
    store: &Store,
    http: &Http,
    alert: Alert,
    route: Option<String>,
    deadline: Deadline,
    now: Timestamp,
) -> Result<Option<Handled>, AppError> {
    let mut deliverer = Deliverer::new(config, store, http, deadline, false);
    if config.api_token.is_some() {
        // The ilert alert right away, so the first chat card links it (bounded; else the
        // next pass finds it).
        deliverer.on_paged(|key, deadline| {
            crate::ilert_sync::find_after_alert(config, store, http, key, deadline);
        });
    }
    handle_with(config, store, &mut deliverer, alert, route, deadline, now)
}

/// `handle` with a deliverer shared across many alerts (`xml`), so a lane that keeps failing
/// stops being tried for the rest of the run instead of costing every alert a timeout.
pub fn handle_with(
    config: &Config,
    store: &Store,
    deliverer: &mut Deliverer<'_>,
    alert: Alert,
    route: Option<String>,
    deadline: Deadline,
    now: Timestamp,
) -> Result<Option<Handled>, AppError> {
    let key = alert.key.clone();
    let entry = InboxEntry {
        id: Store::new_id(now),
        received_at: now,
        route,
        alert,
    };
    let (lock, intake) = match store.try_lock_incident(&key)? {
        Some(lock) => (lock, intake::apply_with_inbox(config, store, entry)?),
        None => {
            crate::signals::commit(|| store.inbox_put(&entry))?;
            let lock = match store.lock_incident(&key, deadline.instant()) {
                Ok(l) => l,
                Err(LockError::Timeout) => {
                    log::warn!("incident {key}: another invocation held the incident lock past the deadline; alert kept in the inbox for flush");
                    return Ok(None);
                }
                Err(LockError::Store(e)) => {
                    log::error!("incident {key}: {e}; alert kept in the inbox for flush");
                    return Ok(None);
                }
            };
            (lock, intake::apply_inbox(config, store, &key)?)
        }
    };
    // Delivery starts from the record intake just committed, not a second read of it; a
    // re-fire that left the queue empty has nothing to deliver.
    let outcome = if intake.record.queue.is_empty() {
        Outcome::default()
    } else {
        deliverer.deliver_loaded(&key, INLINE_LIMIT, intake.record)
    };
    drop(lock);
    Ok(Some(Handled {
        applied: intake.applied,
        outcome,
    }))
}

/// Prints what would be sent, changes nothing.
fn dry_run(
    config: &Config,
    alert: &Alert,
    forced: Option<&str>,
    now: Timestamp,
) -> Result<Exit, AppError> {
    let store = Store::open_read_only(&config.state_dir);
    let existing = store.load_incident(&alert.key);
    let entry = InboxEntry {
        id: String::new(),
        received_at: now,
        route: forced.map(str::to_string),
        alert: alert.clone(),
    };
    let open_route = existing
        .as_ref()
        .filter(|i| i.is_open())
        .map(|i| i.route.as_str());
    let route = intake::route_for(config, &entry, open_route).ok_or_else(|| {
        AppError::Internal("no route matched although a default route is required".into())
    })?;
    if super::config_check::is_placeholder(&route.source.key) {
        log::warn!(
            "route '{}' still has the example's placeholder key: a real run could not deliver \
             to ilert; {}",
            route.name,
            super::config_check::PLACEHOLDER_FIX
        );
    }
    // Config.warnings were logged when the config loaded; template names are checked here,
    // where the lists of placeholders live (a dry run is when a person looks).
    for w in super::config_check::placeholder_warnings(config) {
        log::warn!("config: {w}");
    }
    let plan = lifecycle::plan(existing.as_ref(), alert, route, config, now);
    outln!(
        "# dry run: incident {} via route '{}': {}",
        alert.key,
        route.name,
        plan.decision.as_str()
    );
    if plan.actions.is_empty() {
        outln!(
            "# nothing to send (re-fire inside the dedupe window; only the record would change)"
        );
    }
    for action in &plan.actions {
        match action {
            Action::Ilert(event) => {
                let source = config.source(&event.source).ok_or_else(|| {
                    AppError::Internal(format!("alert source {} vanished", event.source))
                })?;
                let (method, url, body) = ilert::redacted_request(config, source, event);
                outln!("{method} {url}");
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&body).unwrap_or_default()
                );
            }
            Action::Chat(update) => outln!("# then {} ({:?})", action.label(), update.change),
        }
    }
    Ok(Exit::Ok)
}

/// Keeps an alert we could not understand, so the administrator can see what Pandora sent.
fn keep_rejected(config: &Config, args: &AlertArgs, why: &str, now: Timestamp) {
    if args.dry_run {
        return;
    }
    let Ok(store) = Store::open(&config.state_dir) else {
        return;
    };
    let record = serde_json::json!({ "rejected_at": now, "reason": why, "input": args.input() });
    let path = store
        .root()
        .join("quarantine")
        .join(format!("rejected-alert-{}.json", Store::new_id(now)));
    match crate::store::fsutil::write_atomic(&path, record.to_string().as_bytes()) {
        // The reason itself goes to stderr once, as the command's error.
        Ok(()) => log::warn!("rejected alert input kept in {}", path.display()),
        Err(e) => log::warn!("rejected alert input could not be kept: {e}"),
    }
}
