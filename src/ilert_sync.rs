//! The ilert alert behind each incident, when `[ilert] api_token` is set (plugin run): find it
//! once its ALERT was accepted, keep its id and link on the record, put the link into the
//! pinned chat message, and mirror ilert's state into the incident channel, one line per
//! change. A change we caused (`!ack` / `!resolve`) is recorded as seen when we make it, so it
//! is never echoed back. Without a token nothing here runs.

use std::time::Duration;

use crate::chat::{self, message, ChannelRef, ChatMessage, Context};
use crate::config::{ChatPlatform, Config};
use crate::deadline::Deadline;
use crate::http::Http;
use crate::ilert::IlertEventType;
use crate::ilert_api::{IlertApi, RestAlert};
use crate::incident::{IlertMirror, Incident};
use crate::lifecycle::Action;
use crate::store::{EventKind, Store};
use crate::text::fnv1a_hex;
use crate::time::Timestamp;

/// Incidents looked at per run at most (each costs one or a few REST calls).
const MAX_PER_RUN: usize = 50;

/// The chat line for a change of the ilert alert's state, if it changed. Pure.
pub fn mirror_line(previous: Option<&str>, alert: &RestAlert) -> Option<String> {
    let before = previous.unwrap_or("PENDING");
    if before == alert.status {
        return None;
    }
    Some(match alert.status.as_str() {
        "ACCEPTED" => match alert.accepted_by() {
            Some(who) => format!("Acknowledged in ilert by {who}."),
            None => "Acknowledged in ilert.".to_string(),
        },
        "RESOLVED" => "Resolved in ilert.".to_string(),
        "PENDING" => "Pending again in ilert: nobody has it acknowledged.".to_string(),
        other => format!("ilert alert is now {other}."),
    })
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

/// One pass over the incidents (the plugin's `ilert sync` step).
pub fn sync(config: &Config, store: &Store, http: &Http, deadline: Deadline) {
    let timeout = config.request_timeout.min(deadline.remaining() / 2);
    let Some(api) = IlertApi::new(config, http, timeout) else {
        return;
    };
    let candidates: Vec<String> = store
        .incidents()
        .into_iter()
        .filter(|i| {
            i.is_open()
                || i.ilert_mirror
                    .as_ref()
                    .is_some_and(|m| m.status != "RESOLVED")
        })
        .map(|i| i.key)
        .take(MAX_PER_RUN)
        .collect();
    for key in candidates {
        if deadline.remaining() < Duration::from_secs(2) {
            log::info!("ilert sync: no time left; the rest waits for the next run");
            break;
        }
        let _lock = match store.try_lock_incident(&key) {
            Ok(Some(lock)) => lock,
            Ok(None) => continue,
            Err(e) => {
                log::warn!("ilert sync: {e}; incident {key} waits for the next run");
                continue;
            }
        };
        let Some(mut incident) = store.load_incident(&key) else {
            continue;
        };
        if let Err(e) = sync_incident(config, store, http, &api, &mut incident, deadline) {
            log::warn!("ilert sync: incident {key}: {e}");
        }
    }
}

fn sync_incident(
    config: &Config,
    store: &Store,
    http: &Http,
    api: &IlertApi<'_>,
    incident: &mut Incident,
    deadline: Deadline,
) -> Result<(), String> {
    let before = incident.clone();
    let alert = match &incident.ilert_mirror {
        Some(m) if m.id > 0 => api.alert(m.id).map_err(|e| e.to_string())?,
        _ => {
            // Only once ilert has our ALERT: nothing of this incident's is queued for ilert.
            let alert_queued = store.pending_for(&incident.key).iter().any(|e| {
                matches!(&e.action, Action::Ilert(ev) if ev.event_type == IlertEventType::Alert)
            });
            if !incident.is_open() || alert_queued {
                return Ok(());
            }
            let Some(route) = config.route(&incident.route) else {
                return Ok(());
            };
            let cache = source_cache(route.source.key.expose());
            let source_id = match store.read_meta(&cache).and_then(|t| t.parse().ok()) {
                Some(id) => id,
                None => {
                    let s = api.source(&route.source.key).map_err(|e| e.to_string())?;
                    store.write_meta(&cache, &s.id.to_string());
                    s.id
                }
            };
            match api
                .find_open_alert(source_id, &incident.key)
                .map_err(|e| e.to_string())?
            {
                Some(a) => {
                    log::info!("incident {}: ilert alert {}", incident.key, a.id);
                    incident.ilert_alert = alert_link(config, a.id);
                    // A `!ack` typed before we knew the alert recorded what it expects.
                    let seen = incident.ilert_mirror.take().unwrap_or(IlertMirror {
                        id: 0,
                        status: "PENDING".into(),
                        accepted_by: None,
                    });
                    incident.ilert_mirror = Some(IlertMirror { id: a.id, ..seen });
                    a
                }
                None => {
                    log::debug!(
                        "incident {}: no open ilert alert with this alertKey yet \
                         (or the alert source groups alerts)",
                        incident.key
                    );
                    return Ok(());
                }
            }
        }
    };
    let previous = incident.ilert_mirror.as_ref().map(|m| m.status.clone());
    if let Some(line) = mirror_line(previous.as_deref(), &alert) {
        post_line(config, store, http, incident, &line, deadline)?;
        store.log_event(
            &incident.key,
            &crate::store::EventLogLine::ours(incident.seq, EventKind::IlertState, line),
        );
    }
    if let Some(m) = incident.ilert_mirror.as_mut() {
        m.status = alert.status.clone();
        m.accepted_by = alert.accepted_by();
    }
    if *incident != before {
        rerender_pinned(config, store, http, incident, deadline);
    }
    store.save_incident(incident).map_err(|e| e.to_string())
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

/// Posts one line in the incident channel. An error leaves the state unrecorded, so the next
/// run posts it instead.
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
    let msg = ChatMessage::build(
        message::MessageKind::Stakeholder,
        line.to_string(),
        Vec::new(),
        Vec::new(),
    );
    b.post(&ch, &msg).map(|_| ()).map_err(|e| e.to_string())
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
    let result = chat::backend(backend, &ctx).and_then(|mut b| {
        let caps = b.capabilities();
        if caps.update {
            b.update(
                &ch,
                &message_id,
                &message::alert_message(incident, config.console_url.as_deref()),
            )
            .map_err(|e| e.to_string())?;
        }
        if caps.topic && topic_stale {
            b.set_topic(&ch, &topic).map_err(|e| e.to_string())?;
            return Ok(true);
        }
        Ok(false)
    });
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
                mirror.accepted_by = a.accepted_by();
                true
            }
            Err(e) => {
                log::warn!("incident {}: {e}; sending the event instead", incident.key);
                false
            }
        },
        None => false,
    };
    mirror.status = expected.to_string();
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(status: &str) -> RestAlert {
        RestAlert {
            id: 9,
            alert_key: Some("k".into()),
            status: status.into(),
            responders: Vec::new(),
        }
    }

    #[test]
    fn one_line_per_change_and_none_without_one() {
        assert_eq!(mirror_line(None, &alert("PENDING")), None);
        assert_eq!(
            mirror_line(Some("PENDING"), &alert("ACCEPTED")).as_deref(),
            Some("Acknowledged in ilert.")
        );
        assert_eq!(mirror_line(Some("ACCEPTED"), &alert("ACCEPTED")), None);
        assert_eq!(
            mirror_line(Some("ACCEPTED"), &alert("RESOLVED")).as_deref(),
            Some("Resolved in ilert.")
        );
        assert!(mirror_line(Some("ACCEPTED"), &alert("PENDING")).is_some());
    }
}
