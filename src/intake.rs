//! Intake: turn received alerts (inbox entries) into incident records and queued deliveries,
//! under the incident's lock. Replaying an entry after a crash produces the same outbox entry
//! names, so nothing is queued twice and nothing is lost.

use std::time::{Duration, Instant};

use crate::config::{ChatRoute, Config, Route};
use crate::lifecycle::{self, Action, ChatChange, ChatUpdate, Decision, Plan};
use crate::pandora::Alert;
use crate::routing;
use crate::store::{Durability, EventLogLine, InboxEntry, OutboxEntry, Record, Store, StoreError};
use crate::storm::{self, Admission};
use crate::time::Timestamp;

/// Longest wait for a route's storm lock.
const STORM_LOCK_WAIT: Duration = Duration::from_secs(5);

/// What applying one inbox entry decided.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The lifecycle decision.
    pub decision: Decision,
    /// Route taken.
    pub route: String,
}

/// What applying an incident's inbox entries left behind.
#[derive(Clone, Debug, Default)]
pub struct Intake {
    /// One per entry applied, oldest first.
    pub applied: Vec<Applied>,
    /// The incident's record as the last commit left it: what `Store::load_record` would
    /// read now (a record under incidents/ has an empty queue), without reading it.
    pub record: Record,
}

/// The route for an alert: a forced one, the incident's own while it is open, else the rules.
pub fn route_for<'c>(
    config: &'c Config,
    entry: &InboxEntry,
    open_route: Option<&str>,
) -> Option<&'c Route> {
    if let Some(name) = &entry.route {
        return config.route(name);
    }
    open_route
        .and_then(|r| config.route(r))
        .or_else(|| routing::select(config, &entry.alert, None))
}

/// Applies every inbox entry of `key`, oldest first. The caller holds the incident lock.
pub fn apply_inbox(config: &Config, store: &Store, key: &str) -> Result<Intake, StoreError> {
    let entries = store
        .inbox_for(key)
        .into_iter()
        .map(|e| (e, true))
        .collect();
    apply(config, store, key, entries)
}

/// Applies `received` (an alert that never went through the inbox because its lock was free
/// at once) together with any inbox entries of its incident, oldest first. The caller holds
/// the incident lock. The outbox write is then the first durable point, as early as an inbox
/// write would have been; the inbox only covers the wait for a busy lock.
pub fn apply_with_inbox(
    config: &Config,
    store: &Store,
    received: InboxEntry,
) -> Result<Intake, StoreError> {
    let key = received.alert.key.clone();
    let mut entries: Vec<(InboxEntry, bool)> = store
        .inbox_for(&key)
        .into_iter()
        .map(|e| (e, true))
        .collect();
    entries.push((received, false));
    entries.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    apply(config, store, &key, entries)
}

fn apply(
    config: &Config,
    store: &Store,
    key: &str,
    entries: Vec<(InboxEntry, bool)>,
) -> Result<Intake, StoreError> {
    let mut record = store.load_record(key);
    let mut applied = Vec::new();
    // `in_inbox`: the entry has a file under inbox/ to remove once it is applied.
    for (entry, in_inbox) in entries {
        if record
            .incident
            .as_ref()
            .is_some_and(|r| r.has_applied(&entry.id))
        {
            // Applied before a crash removed it from the inbox.
            store.inbox_remove(&entry)?;
            continue;
        }
        let open_route = record
            .incident
            .as_ref()
            .filter(|r| r.is_open())
            .map(|r| r.route.as_str());
        let Some(route) = route_for(config, &entry, open_route) else {
            log::error!(
                "incident {key}: route {:?} is not in the config; alert kept in the inbox",
                entry.route.as_deref().unwrap_or("?")
            );
            continue;
        };
        let mut plan = lifecycle::plan(
            record.incident.as_ref(),
            &entry.alert,
            route,
            config,
            entry.received_at,
        );
        if record.incident.is_none() {
            // A pruned earlier incident: keep counting, so names stay unique.
            plan.incident.seq += store.last_pruned_seq(key);
        }
        if let Some(chat) = &route.chat {
            storm_control(
                store,
                &route.name,
                chat,
                &mut plan,
                &entry.alert,
                entry.received_at,
            );
        }
        let mut incident = plan.incident;
        // A re-fire inside the window that queues nothing only bumps counters: losing them to
        // a power cut repeats nothing that matters, so they go into the incident's `open/`
        // marker without fsync. One from the inbox still writes the record, which carries
        // its applied id (a replay must recognise it).
        let counters_only = plan.decision == Decision::Deduplicated
            && !in_inbox
            && plan.actions.is_empty()
            && record.incident.as_ref().is_some_and(|i| i.is_open());
        // What the event log says of it (committing moves the incident into the record).
        let (seq, times_fired) = (incident.seq, incident.times_fired);
        if let Some(old) = &plan.superseded {
            // Before the commit, and idempotent: a kill between leaves the old record
            // current and an identical copy in history/.
            store.save_history(old)?;
        }
        if counters_only {
            incident.mark_applied(&entry.id);
            let backfilled = record
                .incident
                .as_ref()
                .is_some_and(|i| i.first != incident.first);
            crate::signals::commit(|| store.save_refire(&incident, backfilled))?;
            // The record itself is not rewritten: no copy of it either.
            record.incident = Some(incident);
        } else {
            let mut next = record.clone();
            for (i, action) in plan.actions.into_iter().enumerate() {
                incident.outbox_seq += 1;
                // Deterministic ids: replaying this inbox entry after a crash queues the
                // same entries, never a second copy.
                let id = format!("{}-{i:02}", entry.id);
                next.queue.retain(|e| e.id != id);
                next.queue.push(OutboxEntry::new(
                    id,
                    key,
                    incident.seq,
                    incident.outbox_seq,
                    entry.received_at,
                    action,
                ));
            }
            incident.mark_applied(&entry.id);
            next.incident = Some(incident);
            // The commit point. Any other re-fire inside the window skips the directory
            // flush, for the same reason.
            let durability = if plan.decision == Decision::Deduplicated {
                Durability::Progress
            } else {
                Durability::Commit
            };
            crate::signals::commit(|| store.save_record(key, &next, durability))?;
            record = next;
        }
        let a = &entry.alert;
        let text = match plan.decision {
            Decision::Opened => format!("fired: {} = {} ({})", a.subject(), a.value(), a.severity),
            Decision::Deduplicated | Decision::Realerted => {
                format!(
                    "re-fired ({} times): {} = {}",
                    times_fired,
                    a.subject(),
                    a.value()
                )
            }
            Decision::Resolved | Decision::ResolvedUnknown => {
                format!("recovered: {} = {}", a.subject(), a.value())
            }
        };
        store.log_event(
            key,
            &EventLogLine {
                at: entry.received_at,
                seq,
                kind: plan.decision.into(),
                text,
                by: "pandora".into(),
                step: None,
            },
        );
        if in_inbox {
            store.inbox_remove(&entry)?;
        }
        applied.push(Applied {
            decision: plan.decision,
            route: route.name.clone(),
        });
    }
    Ok(Intake { applied, record })
}

/// Storm control around a plan (route lock held briefly): a new incident over the route's
/// channel budget goes to the storm channel instead of its own, and a storm that has been
/// quiet long enough is ended (its end message rides on this incident's chat lane).
fn storm_control(
    store: &Store,
    route: &str,
    chat: &ChatRoute,
    plan: &mut Plan,
    alert: &Alert,
    now: Timestamp,
) {
    // Every admission must see every other one, or parallel alerts overrun the budget: wait
    // for the route's lock (held for a few milliseconds by each alert) rather than skip it.
    let lock = store.lock_storm(route, Instant::now() + STORM_LOCK_WAIT);
    if let Err(e) = &lock {
        log::warn!(
            "route {route}: storm state unavailable ({e}); storm control skipped for {}",
            alert.key
        );
        return;
    }
    let mut state = store.load_storm(route);
    let before = state.clone();
    // End a storm that has been quiet first, so this incident is judged on a calm route.
    if state.should_end(chat.storm_quiet, now) {
        state.end(now);
        plan.actions.push(Action::Chat(ChatUpdate {
            backend: chat.backend,
            change: ChatChange::StormEnd,
            route: Some(route.to_string()),
        }));
    }
    if plan.decision == Decision::Opened {
        let limit = match chat.storm_per_minute {
            0 => 0,
            n => n.min(storm::creation_limit(chat.backend)),
        };
        // The key in brackets: `!open KEY` in the storm channel gives it its own channel.
        let entry = storm::entry(&alert.subject(), &alert.key);
        if state.admit(limit, &alert.group, &entry, now) == Admission::Storm {
            plan.incident.chat = None;
            plan.incident.storm = true;
            for action in &mut plan.actions {
                if let Action::Chat(update) = action {
                    if update.change == ChatChange::Open {
                        update.change = ChatChange::StormAdd;
                    }
                }
            }
            log::warn!(
                "route {route}: alert storm, incident {} summarised in #{}",
                alert.key,
                storm::channel_name(route)
            );
        }
    } else if plan.decision == Decision::Resolved && plan.incident.storm {
        state.resolve(&alert.group, &alert.key);
    }
    if state != before {
        if let Err(e) = store.save_storm(&state) {
            log::error!("route {route}: {e}");
        }
    }
}
