//! The ilert alert behind each incident, when `[ilert] api_token` is set: find it once its
//! ALERT was accepted (right away in the alert command, within a short bounded wait, else on
//! the next plugin or watch pass), keep its id and link on the record, put the link into the
//! pinned chat message, and mirror ilert's state into the incident channel: acknowledged by
//! whom, resolved, the escalation level and the current responders, one line per change. A
//! change we caused is never echoed back: `!ack` / `!resolve` record ilert's answer as seen
//! when we make them, and a resolve that follows Pandora's recovery is taken silently. A pass
//! lists each alert source's open alerts once for all its incidents. Without a token nothing
//! here runs and no request is made.

use std::collections::HashMap;
use std::time::Duration;

use crate::chat::{self, message, ChannelRef, ChatMessage, Context};
use crate::config::{ChatPlatform, Config, Route};
use crate::deadline::{Deadline, MARGIN};
use crate::http::Http;
use crate::ilert::IlertEventType;
use crate::ilert_api::{match_alert_key, ApiError, IlertApi, RestAlert};
use crate::incident::{IlertMirror, Incident};
use crate::lifecycle::Action;
use crate::pacing::{Budget, REST_LOOKUPS_PACE};
use crate::store::pacing::pace_name;
use crate::store::{Durability, EventKind, Store};
use crate::text::fnv1a_hex;
use crate::time::Timestamp;

/// Incidents looked at per run at most (a pass lists each alert source once; an alert no
/// longer open costs one more request).
const MAX_PER_RUN: usize = 50;

/// Meta file: the time of the last pass that read every record (`full <rfc3339>`), then the
/// keys the next pass must look at besides the open incidents (closed ones whose ilert alert
/// was last seen unresolved, and those this pass did not reach).
const RECHECK_META: &str = "ilert-recheck";
/// How often a pass reads every record anyway: an incident that opened and closed between
/// two passes is in neither the `open/` index nor the list.
const FULL_PASS_EVERY: Duration = Duration::from_secs(3600);

/// The longest the alert command looks for the new ilert alert (the first chat card waits).
const FIND_AT_ONCE_MAX: Duration = Duration::from_millis(1500);
/// ilert creates alerts asynchronously: one more look after this pause, then the next pass.
const FIND_RETRY_AFTER: Duration = Duration::from_millis(500);

/// The chat lines for what changed in ilert since `seen`, one per change. Pure.
///
/// A resolved alert tells only that, and nothing when the incident had recovered (our
/// RESOLVE did it). Responders first seen (`seen.responders` is `None`) are taken silently:
/// the pinned message shows them. People added by accepting are named by the acknowledgement
/// line alone.
pub fn mirror_lines(seen: &IlertMirror, alert: &RestAlert, incident_open: bool) -> Vec<String> {
    let mut out = Vec::new();
    let before = match seen.status.as_str() {
        "" => "PENDING",
        s => s,
    };
    let status_changed = before != alert.status;
    // Resolved in ilert after Pandora's recovery: our RESOLVE did that, the channel has told.
    let ours = !incident_open && alert.status == "RESOLVED";
    if status_changed && !ours {
        out.push(match alert.status.as_str() {
            "ACCEPTED" => match alert.accepted_by() {
                Some(who) => format!("Acknowledged in ilert by {who}."),
                None => "Acknowledged in ilert.".to_string(),
            },
            "RESOLVED" => "Resolved in ilert.".to_string(),
            "PENDING" => "Pending again in ilert: nobody has it acknowledged.".to_string(),
            other => format!("ilert alert is now {other}."),
        });
    }
    if alert.status == "RESOLVED" {
        return out;
    }
    if let Some(level) = alert.escalation_level() {
        if level != seen.level.unwrap_or(1) {
            out.push(format!("Escalated in ilert to level {level}."));
        }
    }
    if let Some(before) = &seen.responders {
        let now = alert.responder_names();
        let added: Vec<&String> = now.iter().filter(|n| !before.contains(n)).collect();
        let removed = before.iter().any(|n| !now.contains(n));
        let acceptors = alert.acceptors();
        let by_accepting = status_changed && added.iter().all(|n| acceptors.contains(n));
        if removed || (!added.is_empty() && !by_accepting) {
            out.push(if now.is_empty() {
                "No responders in ilert now.".to_string()
            } else {
                format!("Responders in ilert: {}.", now.join(", "))
            });
        }
    }
    out
}

/// Records `alert` as seen: the mirror then holds ilert's state as of now.
fn record_seen(mirror: &mut IlertMirror, alert: &RestAlert) {
    mirror.id = alert.id;
    mirror.status = alert.status.clone();
    mirror.accepted_by = alert.accepted_by();
    mirror.level = alert.escalation_level();
    mirror.responders = Some(alert.responder_names());
}

/// Takes `alert` as the one behind `incident`: its id and link go on the record. What a
/// `!ack` typed before we knew the alert recorded as expected stays as seen.
fn adopt(config: &Config, incident: &mut Incident, alert: &RestAlert) {
    log::info!("incident {}: ilert alert {}", incident.key, alert.id);
    incident.ilert_alert = alert_link(config, alert.id);
    let seen = incident.ilert_mirror.take().unwrap_or(IlertMirror {
        status: "PENDING".into(),
        ..IlertMirror::default()
    });
    incident.ilert_mirror = Some(IlertMirror {
        id: alert.id,
        ..seen
    });
}

/// The link to an alert in ilert's web app, when the account's web address is configured.
/// ilert documents no alert URL in its API; `/alert/view?id=` is the web app's.
pub fn alert_link(config: &Config, id: i64) -> Option<String> {
    config
        .web_url
        .as_ref()
        .map(|w| format!("{w}/alert/view?id={id}"))
}

/// The meta name caching the alert source id of an integration key.
fn source_cache(key: &str) -> String {
    format!("ilert-source-{}", fnv1a_hex(key.as_bytes()))
}

/// The id of `route`'s alert source (looked up once by integration key, then cached).
fn source_id(api: &IlertApi<'_>, store: &Store, route: &Route) -> Result<i64, ApiError> {
    let cache = source_cache(route.source.key.expose());
    if let Some(id) = store.read_meta(&cache).and_then(|t| t.parse().ok()) {
        return Ok(id);
    }
    let s = api.source(&route.source.key)?;
    store.write_meta(&cache, &s.id.to_string());
    Ok(s.id)
}

/// Right after the alert command delivered an incident's ALERT (the caller holds the incident
/// lock): looks for the new ilert alert at once and, ilert creating alerts asynchronously,
/// once more after a short pause, all within `FIND_AT_ONCE_MAX` and the run's deadline, so the
/// first chat card already links it. Not found, over the lookup budget, or any error: the
/// next plugin or watch pass finds it; the command's outcome never depends on this. Only for
/// incidents with a channel of their own (nobody else looks at the link sooner).
pub fn find_after_alert(
    config: &Config,
    store: &Store,
    http: &Http,
    key: &str,
    deadline: Deadline,
) {
    let Some(token) = config.api_token.as_ref() else {
        return;
    };
    let Some(incident) = store.load_incident(key) else {
        return;
    };
    let known = incident.ilert_mirror.as_ref().is_some_and(|m| m.id > 0);
    if known || incident.storm || !incident.is_open() {
        return;
    }
    let Some(route) = config.route(&incident.route).filter(|r| r.chat.is_some()) else {
        return;
    };
    let window = Deadline::after(FIND_AT_ONCE_MAX.min(deadline.remaining() / 3));
    let budget = pace_name(REST_LOOKUPS_PACE, token.expose());
    let mut found = None;
    for attempt in 0..2 {
        if attempt > 0 {
            if window.remaining() < FIND_RETRY_AFTER + MARGIN {
                break;
            }
            std::thread::sleep(FIND_RETRY_AFTER);
        }
        let Some(timeout) = window.request_timeout(config.request_timeout) else {
            break;
        };
        let now = Timestamp::now();
        if store
            .take_slot(
                &budget,
                "REST API lookups",
                Budget::REST_LOOKUPS,
                now,
                false,
            )
            .is_some()
        {
            log::debug!(
                "incident {key}: REST lookup budget spent; the next pass finds the ilert alert"
            );
            break;
        }
        let Some(api) = IlertApi::new(config, http, timeout) else {
            return;
        };
        match source_id(&api, store, route).and_then(|id| api.find_open_alert(id, key)) {
            Ok(Some(a)) => {
                found = Some(a);
                break;
            }
            Ok(None) => {}
            Err(e) => {
                log::info!(
                    "incident {key}: ilert alert not looked up now ({e}); the next pass does"
                );
                break;
            }
        }
    }
    let Some(alert) = found else {
        log::debug!("incident {key}: the ilert alert is not listed yet; the next pass finds it");
        return;
    };
    let saved = store.update_record(key, Durability::Progress, |r| {
        let Some(inc) = r.incident.as_mut() else {
            return;
        };
        adopt(config, inc, &alert);
        // No channel yet: the first card shows ilert's state, there is no change to tell.
        let has_channel = inc.chat.as_ref().is_some_and(|c| c.channel_id.is_some());
        if let (false, Some(m)) = (has_channel, inc.ilert_mirror.as_mut()) {
            record_seen(m, &alert);
        }
    });
    if let Err(e) = saved {
        log::warn!(
            "incident {key}: ilert alert {} not recorded ({e}); the next pass finds it",
            alert.id
        );
    }
}

/// The open alerts of each alert source as listed once in a pass (or why not), so a pass
/// costs a few list pages per source instead of a request per incident (ilert allows 120
/// requests a minute per API key, reference ilert.md §1).
type Listings = HashMap<i64, Result<Vec<RestAlert>, String>>;

/// One pass over the incidents (the plugin's and `watch`'s `ilert sync` step).
pub fn sync(config: &Config, store: &Store, http: &Http, deadline: Deadline) {
    let timeout = config.request_timeout.min(deadline.remaining() / 2);
    let Some(api) = IlertApi::new(config, http, timeout) else {
        return;
    };
    let now = Timestamp::now();
    let recheck = store.read_meta(RECHECK_META);
    let full = recheck
        .as_deref()
        .and_then(|t| t.lines().next())
        .and_then(|l| l.strip_prefix("full "))
        .and_then(Timestamp::parse_rfc3339)
        .filter(|t| *t <= now && now.since(*t) < FULL_PASS_EVERY);
    let (mut candidates, full_at): (Vec<String>, Timestamp) = match (&recheck, full) {
        // Open incidents from the `open/` index, and the closed ones the last pass left to
        // re-check: no read of every closed record.
        (Some(text), Some(at)) => {
            let mut incidents = store.open_incidents();
            let open: std::collections::HashSet<String> =
                incidents.iter().map(|i| i.key.clone()).collect();
            incidents.extend(
                text.lines()
                    .skip(1)
                    .filter(|k| !k.is_empty() && !open.contains(*k))
                    .filter_map(|k| store.load_incident(k)),
            );
            let keys = incidents
                .into_iter()
                .filter(needs_sync)
                .map(|i| i.key)
                .collect();
            (keys, at)
        }
        // No list yet, or its last full pass is an hour old: read every record once (one at
        // a time, keeping the keys that need a look).
        _ => (
            store
                .incidents()
                .filter(needs_sync)
                .map(|i| i.key)
                .collect(),
            now,
        ),
    };
    candidates.sort();
    let mut listings = Listings::new();
    let mut next: Vec<String> = Vec::new();
    for (n, key) in candidates.iter().enumerate() {
        if n >= MAX_PER_RUN {
            next.extend(candidates[n..].iter().cloned());
            break;
        }
        if deadline.remaining() < Duration::from_secs(2) {
            log::info!("ilert sync: no time left; the rest waits for the next run");
            next.extend(candidates[n..].iter().cloned());
            break;
        }
        let _lock = match store.try_lock_incident(key) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                next.push(key.clone());
                continue;
            }
            Err(e) => {
                log::warn!("ilert sync: {e}; incident {key} waits for the next run");
                next.push(key.clone());
                continue;
            }
        };
        let Some(mut incident) = store.load_incident(key) else {
            continue;
        };
        let pass = Pass {
            config,
            store,
            http,
            api: &api,
            deadline,
        };
        if let Err(e) = pass.sync_incident(&mut incident, &mut listings) {
            log::warn!("ilert sync: incident {key}: {e}");
        }
        if needs_sync(&incident) {
            next.push(incident.key);
        }
    }
    // A key with a line break cannot be listed: the next full pass finds it.
    let text = std::iter::once(format!("full {}", full_at.rfc3339_millis()))
        .chain(next.into_iter().filter(|k| !k.contains('\n')))
        .collect::<Vec<_>>()
        .join("\n");
    if recheck.as_deref() != Some(text.as_str()) {
        store.write_meta(RECHECK_META, &text);
    }
}

/// An incident the pass looks at: open, or closed while its ilert alert was last seen
/// unresolved.
fn needs_sync(i: &Incident) -> bool {
    i.is_open()
        || i.ilert_mirror
            .as_ref()
            .is_some_and(|m| m.status != "RESOLVED")
}

/// What one pass works with.
struct Pass<'a> {
    config: &'a Config,
    store: &'a Store,
    http: &'a Http,
    api: &'a IlertApi<'a>,
    deadline: Deadline,
}

impl Pass<'_> {
    /// ilert's alert behind `incident` now, if there is one to mirror.
    fn current_alert(
        &self,
        incident: &mut Incident,
        listings: &mut Listings,
    ) -> Result<Option<RestAlert>, String> {
        let known = incident
            .ilert_mirror
            .as_ref()
            .map(|m| m.id)
            .filter(|id| *id > 0);
        if known.is_none() {
            // Only once ilert has our ALERT: nothing of this incident's is queued for ilert.
            let alert_queued = self.store.pending_for(&incident.key).iter().any(|e| {
                matches!(&e.action, Action::Ilert(ev) if ev.event_type == IlertEventType::Alert)
            });
            if !incident.is_open() || alert_queued {
                return Ok(None);
            }
        }
        let by_id = |id: i64| self.api.alert(id).map(Some).map_err(|e| e.to_string());
        let Some(route) = self.config.route(&incident.route) else {
            // The route left the config: a known alert is still followed by its id.
            return known.map_or(Ok(None), by_id);
        };
        let source_id = source_id(self.api, self.store, route).map_err(|e| e.to_string())?;
        let open = listings
            .entry(source_id)
            .or_insert_with(|| self.api.open_alerts(source_id).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)?;
        match known {
            // Not among the open ones: resolved (or past the pages listed).
            Some(id) => match open.iter().find(|a| a.id == id) {
                Some(a) => Ok(Some(a.clone())),
                None => by_id(id),
            },
            None => match match_alert_key(open, &incident.key) {
                Some(a) => {
                    adopt(self.config, incident, a);
                    Ok(Some(a.clone()))
                }
                None => {
                    log::debug!(
                        "incident {}: no open ilert alert with this alertKey yet \
                         (or the alert source groups alerts)",
                        incident.key
                    );
                    Ok(None)
                }
            },
        }
    }

    fn sync_incident(
        &self,
        incident: &mut Incident,
        listings: &mut Listings,
    ) -> Result<(), String> {
        let before = incident.clone();
        let Some(alert) = self.current_alert(incident, listings)? else {
            return Ok(());
        };
        let seen = incident.ilert_mirror.clone().unwrap_or_default();
        let lines = mirror_lines(&seen, &alert, incident.is_open());
        if !lines.is_empty() {
            // One message, one line per change: posted whole or not at all, so a failure
            // leaves the state unrecorded and the next run tells it again, once.
            let text = lines.join("\n");
            post_line(
                self.config,
                self.store,
                self.http,
                incident,
                &text,
                self.deadline,
            )?;
            if let Some(chat) = incident.chat.as_mut() {
                chat.count_post();
            }
            for line in lines {
                self.store.log_event(
                    &incident.key,
                    &crate::store::EventLogLine::ours(incident.seq, EventKind::IlertState, line),
                );
            }
        }
        if let Some(m) = incident.ilert_mirror.as_mut() {
            record_seen(m, &alert);
        }
        if *incident != before {
            rerender_pinned(self.config, self.store, self.http, incident, self.deadline);
        }
        self.store
            .save_incident(incident)
            .map_err(|e| e.to_string())
    }
}

/// The incident's channel, if it has one.
fn channel(incident: &Incident) -> Option<(ChatPlatform, ChannelRef)> {
    let st = incident.chat.as_ref()?;
    Some((
        st.backend?,
        ChannelRef {
            id: st.channel_id.clone()?,
            name: st.channel_name.clone().unwrap_or_default(),
            url: st.channel_url.clone(),
        },
    ))
}

/// Posts one line in the incident channel, as a follow-up to the alert message (a reply in
/// its thread where the platform keeps incident updates there: a Teams bot). An error leaves
/// the state unrecorded, so the next run posts it instead; the caller counts the post
/// (`ChatState::count_post`) in the record it saves with the state.
fn post_line(
    config: &Config,
    store: &Store,
    http: &Http,
    incident: &Incident,
    line: &str,
    deadline: Deadline,
) -> Result<(), String> {
    let Some((backend, ch)) = channel(incident) else {
        return Ok(());
    };
    let ctx = Context {
        config,
        store,
        http,
        deadline,
        now: Timestamp::now(),
    };
    let mut b = chat::backend(backend, &ctx)?;
    let Some(chat) = incident.chat.as_ref() else {
        return Ok(());
    };
    // The same change can happen twice (acknowledged, pending again, acknowledged): the
    // record's post counter tells the two lines apart; the text is part of the occasion so a
    // retry whose lines changed meanwhile posts them instead of being taken for the first.
    let msg = ChatMessage::build(
        message::MessageKind::Stakeholder,
        line.to_string(),
        Vec::new(),
        Vec::new(),
    )
    .on(incident.next_post(chat, &format!("ilert: {line}")));
    let alert_message = chat.message_id.as_deref();
    b.follow_up(&ch, alert_message, &msg)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Re-renders the pinned message in place with the ilert link and state, and the topic
/// (`ACKNOWLEDGED by X`) when it changed (best effort: the next re-fire or recovery renders
/// them anyway).
fn rerender_pinned(
    config: &Config,
    store: &Store,
    http: &Http,
    incident: &mut Incident,
    deadline: Deadline,
) {
    let Some((backend, ch)) = channel(incident) else {
        return;
    };
    let Some(message_id) = incident.chat.as_ref().and_then(|c| c.message_id.clone()) else {
        return;
    };
    let ctx = Context {
        config,
        store,
        http,
        deadline,
        now: Timestamp::now(),
    };
    let topic = message::topic(incident);
    let topic_stale = incident
        .chat
        .as_ref()
        .is_some_and(|c| c.topic.as_deref() != Some(topic.as_str()));
    let Some(chat) = incident.chat.as_ref() else {
        return;
    };
    // An edit back to an earlier content (acknowledged, pending, acknowledged again) is an
    // edit all the same: the post counter tells it apart.
    let card = message::alert_message(incident, config.console_url.as_deref())
        .on(incident.next_post(chat, "edit"));
    let mut edited = false;
    let result = chat::backend(backend, &ctx).and_then(|mut b| {
        let caps = b.capabilities();
        // A message the platform cannot edit (a Teams card sent through the webhook) stays
        // as posted; the line above told the change.
        if caps.update && b.uneditable(&message_id).is_none() {
            b.update(&ch, &message_id, &card)
                .map_err(|e| e.to_string())?;
            edited = true;
        }
        if caps.topic && topic_stale {
            b.set_topic(&ch, &topic).map_err(|e| e.to_string())?;
            return Ok(true);
        }
        Ok(false)
    });
    if let (true, Some(c)) = (edited, incident.chat.as_mut()) {
        c.count_post();
    }
    match result {
        Ok(true) => {
            if let Some(c) = incident.chat.as_mut() {
                c.topic = Some(topic);
            }
        }
        Ok(false) => {}
        Err(e) => log::warn!(
            "incident {}: pinned message or topic not updated with ilert's state: {e}",
            incident.key
        ),
    }
}

/// `!ack` / `!resolve` through the REST API when the alert is known: `true` when ilert took it
/// (no event needs sending). Either way the expected state is recorded as seen, so the mirror
/// does not echo our own change.
pub fn command(
    config: &Config,
    http: &Http,
    incident: &mut Incident,
    resolve: bool,
    deadline: Deadline,
) -> bool {
    let expected = if resolve { "RESOLVED" } else { "ACCEPTED" };
    // Id 0: the alert is not found yet; the state we expect is remembered all the same.
    let mirror = incident
        .ilert_mirror
        .get_or_insert_with(IlertMirror::default);
    if mirror.id == 0 {
        mirror.status = expected.to_string();
        return false;
    }
    let timeout = config.request_timeout.min(deadline.remaining() / 2);
    let done = match IlertApi::new(config, http, timeout) {
        Some(api) => match api.set_state(mirror.id, resolve) {
            Ok(a) => {
                // ilert's answer is the state we caused (accepting adds us as a responder):
                // all of it is seen. The level stays as last seen, so an escalation that
                // happened meanwhile is still told.
                let level = mirror.level;
                record_seen(mirror, &a);
                mirror.level = level;
                true
            }
            Err(e) => {
                log::warn!("incident {}: {e}; sending the event instead", incident.key);
                false
            }
        },
        None => false,
    };
    if !done {
        // What the event changes in the responders is not known: take the next sighting
        // silently rather than echo it.
        mirror.responders = None;
    }
    mirror.status = expected.to_string();
    done
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ilert_api::{Responder, UserRel};

    fn person(name: &str, status: &str) -> Responder {
        let (first, last) = name.split_once(' ').unwrap_or((name, ""));
        Responder {
            user: Some(UserRel {
                first_name: first.into(),
                last_name: last.into(),
            }),
            status: status.into(),
        }
    }

    fn alert(status: &str) -> RestAlert {
        RestAlert {
            id: 9,
            alert_key: Some("k".into()),
            status: status.into(),
            ..RestAlert::default()
        }
    }

    fn seen(status: &str) -> IlertMirror {
        IlertMirror {
            id: 9,
            status: status.into(),
            ..IlertMirror::default()
        }
    }

    #[test]
    fn one_line_per_change_and_none_without_one() {
        assert!(mirror_lines(&IlertMirror::default(), &alert("PENDING"), true).is_empty());
        assert_eq!(
            mirror_lines(&seen("PENDING"), &alert("ACCEPTED"), true),
            ["Acknowledged in ilert."]
        );
        assert!(mirror_lines(&seen("ACCEPTED"), &alert("ACCEPTED"), true).is_empty());
        assert_eq!(
            mirror_lines(&seen("ACCEPTED"), &alert("RESOLVED"), true),
            ["Resolved in ilert."]
        );
        assert_eq!(
            mirror_lines(&seen("ACCEPTED"), &alert("PENDING"), true).len(),
            1
        );
    }

    #[test]
    fn an_escalation_and_new_responders_are_told_once_each() {
        let mut a = alert("PENDING");
        a.next_escalation_rule_index = Some(1.0);
        a.responders = vec![person("Jane Doe", "PENDING")];
        let mut m = seen("PENDING");
        // First sighting: nothing to tell (the pinned message shows it).
        assert!(mirror_lines(&m, &a, true).is_empty());
        record_seen(&mut m, &a);
        assert!(mirror_lines(&m, &a, true).is_empty(), "seen is not news");

        a.next_escalation_rule_index = Some(2.0);
        a.responders.push(person("Max Muster", "PENDING"));
        assert_eq!(
            mirror_lines(&m, &a, true),
            [
                "Escalated in ilert to level 2.",
                "Responders in ilert: Jane Doe, Max Muster."
            ]
        );
        record_seen(&mut m, &a);
        assert!(mirror_lines(&m, &a, true).is_empty());

        // Max accepts: one line, the acknowledgement.
        a.status = "ACCEPTED".into();
        a.responders[1].status = "ACCEPTED".into();
        assert_eq!(
            mirror_lines(&m, &a, true),
            ["Acknowledged in ilert by Max Muster."]
        );

        // Someone outside the responders accepts: named by the acknowledgement alone.
        a.responders.push(person("Ops Lead", "ACCEPTED"));
        assert_eq!(
            mirror_lines(&m, &a, true),
            ["Acknowledged in ilert by Max Muster, Ops Lead."]
        );

        // A reassignment while pending is told.
        let mut b = alert("PENDING");
        b.next_escalation_rule_index = Some(2.0);
        b.responders = vec![person("Kim Lee", "PENDING")];
        assert_eq!(
            mirror_lines(&m, &b, true),
            ["Responders in ilert: Kim Lee."]
        );
    }

    #[test]
    fn an_escalation_found_late_is_told_and_a_resolved_alert_tells_only_that() {
        let mut a = alert("PENDING");
        a.next_escalation_rule_index = Some(3.0);
        assert_eq!(
            mirror_lines(&seen("PENDING"), &a, true),
            ["Escalated in ilert to level 3."]
        );
        a.status = "RESOLVED".into();
        a.responders = vec![person("Jane Doe", "PENDING")];
        let mut m = seen("PENDING");
        m.responders = Some(Vec::new());
        assert_eq!(mirror_lines(&m, &a, true), ["Resolved in ilert."]);
        assert!(
            mirror_lines(&m, &a, false).is_empty(),
            "resolved after Pandora's recovery: our own RESOLVE, not told"
        );
    }
}
