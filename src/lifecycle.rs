//! The incident lifecycle: given what we know and what Pandora just said, decide what to do.
//! `plan` is a pure function; the caller persists its result and performs its actions.

use serde::{Deserialize, Serialize};

use crate::config::{ChatPlatform, Config, Route};
use crate::ilert::{self, IlertEvent, IlertEventType};
use crate::incident::{Incident, IncidentState, RECORD_FORMAT};
use crate::pandora::alert_details::backfill;
use crate::pandora::{Alert, AlertKind};
use crate::time::Timestamp;

/// What changed for the chat channel; the chat backend reconciles the channel to the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatChange {
    /// First firing: open the channel, post, pin, topic, invite.
    Open,
    /// Re-fire: update the pinned message in place.
    Refire,
    /// Recovery: post recovery, update pinned message and topic.
    Recover,
    /// Housekeeping: post a closing line and archive.
    Archive,
    /// Storm: summarise a new incident in the route's storm channel instead of its own.
    StormAdd,
    /// Storm: a summarised incident recovered.
    StormResolve,
    /// Storm: the storm passed; say so in the storm channel.
    StormEnd,
}

impl ChatChange {
    /// True for the changes that act on the route's storm channel.
    pub fn is_storm(self) -> bool {
        matches!(
            self,
            ChatChange::StormAdd | ChatChange::StormResolve | ChatChange::StormEnd
        )
    }
}

/// A chat delivery: bring the incident's channel on `backend` up to date after `change`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatUpdate {
    /// The platform.
    pub backend: ChatPlatform,
    /// What happened.
    pub change: ChatChange,
    /// The route, for storm changes not tied to one incident's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
}

/// One thing to deliver. Each action is a separate outbox entry; actions of one incident and
/// one destination ("lane") are delivered in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    /// An ilert event.
    Ilert(IlertEvent),
    /// A chat channel update.
    Chat(ChatUpdate),
}

/// An ordering lane: ilert, or one chat platform. A lane's entries are delivered in order; a
/// failure in one lane never holds up another (a chat outage must not delay paging).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// ilert events.
    Ilert,
    /// One chat platform's channel updates.
    Chat(ChatPlatform),
}

impl Lane {
    /// Every lane, ilert first.
    pub const ALL: [Lane; 4] = [
        Lane::Ilert,
        Lane::Chat(ChatPlatform::Slack),
        Lane::Chat(ChatPlatform::Teams),
        Lane::Chat(ChatPlatform::Matrix),
    ];

    /// The lane's name in the store and in `status`: `ilert`, `chat:slack`, `chat:teams`,
    /// `chat:matrix`.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Ilert => "ilert",
            Lane::Chat(ChatPlatform::Slack) => "chat:slack",
            Lane::Chat(ChatPlatform::Teams) => "chat:teams",
            Lane::Chat(ChatPlatform::Matrix) => "chat:matrix",
        }
    }
}

impl Action {
    /// The ordering lane this action is delivered in.
    pub fn lane(&self) -> Lane {
        match self {
            Action::Ilert(_) => Lane::Ilert,
            Action::Chat(c) => Lane::Chat(c.backend),
        }
    }

    /// A short label for logs: `ilert ALERT`, `chat:slack open`.
    pub fn label(&self) -> String {
        match self {
            Action::Ilert(e) => format!("ilert {}", e.event_type.as_str()),
            Action::Chat(c) => format!("{} {:?}", self.lane().name(), c.change).to_lowercase(),
        }
    }
}

/// What the lifecycle decided, for the log line and the exit status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A new incident: ALERT.
    Opened,
    /// A re-fire inside the window: recorded, no ALERT.
    Deduplicated,
    /// A re-fire after the window: ALERT again.
    Realerted,
    /// Recovery of an open incident: RESOLVE.
    Resolved,
    /// Recovery with no open incident (unknown or already resolved): RESOLVE anyway.
    ResolvedUnknown,
}

impl Decision {
    /// Lowercase name for logs and the event log.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Opened => "opened",
            Decision::Deduplicated => "deduplicated",
            Decision::Realerted => "re-alerted",
            Decision::Resolved => "resolved",
            Decision::ResolvedUnknown => "resolved-unknown",
        }
    }
}

/// The outcome of planning: the record to store and the actions to queue.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The new incident record.
    pub incident: Incident,
    /// The record being replaced when a new incident starts over a resolved one.
    pub superseded: Option<Incident>,
    /// Deliveries to queue, in order.
    pub actions: Vec<Action>,
    /// What happened.
    pub decision: Decision,
}

/// Decides what a firing or recovery means for the incident.
pub fn plan(
    existing: Option<&Incident>,
    alert: &Alert,
    route: &Route,
    config: &Config,
    now: Timestamp,
) -> Plan {
    let open = existing.filter(|i| i.state == IncidentState::Open);
    match (alert.kind, open) {
        (AlertKind::Firing, None) => {
            let seq = existing.map_or(1, |i| i.seq + 1);
            let mut incident = Incident {
                format: RECORD_FORMAT,
                key: alert.key.clone(),
                alert_id: alert.alert_id.clone(),
                seq,
                state: IncidentState::Open,
                route: route.name.clone(),
                drill: alert.macros.contains_key("drill"),
                private: route.chat.as_ref().is_some_and(|c| c.private),
                storm: false,
                opened_at: now,
                last_seen: now,
                resolved_at: None,
                times_fired: 1,
                last_alert_sent: Some(now),
                first: alert.clone(),
                last: alert.clone(),
                outbox_seq: existing.map_or(0, |i| i.outbox_seq),
                applied: existing.map(|i| i.applied.clone()).unwrap_or_default(),
                chat: None,
                ilert_alert: None,
                ilert_mirror: None,
            };
            let mut actions = vec![Action::Ilert(ilert::render(
                IlertEventType::Alert,
                alert,
                &incident,
                route,
                config,
            ))];
            if let Some(chat) = &route.chat {
                incident.chat = Some(crate::incident::ChatState {
                    backend: Some(chat.backend),
                    ..Default::default()
                });
                actions.push(chat_action(chat.backend, ChatChange::Open));
            }
            Plan {
                incident,
                superseded: existing.cloned(),
                actions,
                decision: Decision::Opened,
            }
        }
        (AlertKind::Firing, Some(current)) => {
            let mut incident = current.clone();
            incident.times_fired += 1;
            backfill(&mut incident.first, alert);
            incident.last = alert.clone();
            incident.last_seen = now;
            let realert = match (config.refire_window, incident.last_alert_sent) {
                (Some(window), Some(sent)) => now.since(sent) >= window,
                (Some(_), None) => true,
                (None, _) => false,
            };
            let mut actions = Vec::new();
            if realert {
                incident.last_alert_sent = Some(now);
                actions.push(Action::Ilert(ilert::render(
                    IlertEventType::Alert,
                    alert,
                    &incident,
                    route,
                    config,
                )));
            }
            if let Some(backend) = current.chat.as_ref().and_then(|c| c.backend) {
                actions.push(chat_action(backend, ChatChange::Refire));
            }
            let decision = if realert {
                Decision::Realerted
            } else {
                Decision::Deduplicated
            };
            Plan {
                incident,
                superseded: None,
                actions,
                decision,
            }
        }
        (AlertKind::Recovery, Some(current)) => {
            let mut incident = current.clone();
            incident.state = IncidentState::Resolved;
            incident.resolved_at = Some(now);
            backfill(&mut incident.first, alert);
            incident.last = alert.clone();
            incident.last_seen = now;
            let mut actions = vec![Action::Ilert(ilert::render(
                IlertEventType::Resolve,
                alert,
                &incident,
                route,
                config,
            ))];
            if let Some(chat) = &current.chat {
                if let Some(backend) = chat.backend {
                    actions.push(chat_action(backend, ChatChange::Recover));
                }
            }
            // Summarised in a storm (and perhaps given its own channel since): the summary
            // counts it resolved too.
            if let (true, Some(chat)) = (current.storm, &route.chat) {
                actions.push(chat_action(chat.backend, ChatChange::StormResolve));
            }
            Plan {
                incident,
                superseded: None,
                actions,
                decision: Decision::Resolved,
            }
        }
        (AlertKind::Recovery, None) => {
            // Unknown (lost record, or opened before we were installed) or already resolved:
            // RESOLVE anyway, ilert ignores a key with no open alert.
            let incident = match existing {
                Some(prev) => {
                    let mut i = prev.clone();
                    i.last = alert.clone();
                    i.last_seen = now;
                    i
                }
                None => Incident {
                    format: RECORD_FORMAT,
                    key: alert.key.clone(),
                    alert_id: alert.alert_id.clone(),
                    seq: 1,
                    state: IncidentState::Resolved,
                    route: route.name.clone(),
                    drill: alert.macros.contains_key("drill"),
                    private: false,
                    storm: false,
                    opened_at: now,
                    last_seen: now,
                    resolved_at: Some(now),
                    times_fired: 0,
                    last_alert_sent: None,
                    first: alert.clone(),
                    last: alert.clone(),
                    outbox_seq: 0,
                    applied: Vec::new(),
                    chat: None,
                    ilert_alert: None,
                    ilert_mirror: None,
                },
            };
            let actions = vec![Action::Ilert(ilert::render(
                IlertEventType::Resolve,
                alert,
                &incident,
                route,
                config,
            ))];
            Plan {
                incident,
                superseded: None,
                actions,
                decision: Decision::ResolvedUnknown,
            }
        }
    }
}

/// A chat action for `backend`.
pub fn chat_action(backend: ChatPlatform, change: ChatChange) -> Action {
    Action::Chat(ChatUpdate {
        backend,
        change,
        route: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pandora::AlertInput;
    use std::path::Path;
    use std::time::Duration;

    #[test]
    fn lane_names_on_disk_are_ilert_and_chat_colon_platform() {
        let names: Vec<&str> = Lane::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(names, ["ilert", "chat:slack", "chat:teams", "chat:matrix"]);
        for p in ChatPlatform::ALL {
            assert_eq!(Lane::Chat(p).name(), format!("chat:{p}"));
        }
    }

    fn config(extra: &str) -> Config {
        let text = format!("{extra}\n[[route]]\nname = \"default\"\nilert_key = \"k\"\n");
        Config::parse(Path::new("t.toml"), &text).unwrap()
    }

    fn alert(event: &str) -> Alert {
        let input = AlertInput {
            event: Some(event.into()),
            alert_id: Some("42".into()),
            agent: Some("web-01".into()),
            module: Some("CPU".into()),
            data: Some("95".into()),
            ..Default::default()
        };
        Alert::from_input(&input, "").unwrap()
    }

    fn ilert_types(p: &Plan) -> Vec<&'static str> {
        p.actions
            .iter()
            .filter_map(|a| match a {
                Action::Ilert(e) => Some(e.event_type.as_str()),
                Action::Chat(_) => None,
            })
            .collect()
    }

    #[test]
    fn first_firing_opens_and_sends_alert() {
        let c = config("");
        let p = plan(
            None,
            &alert("alert"),
            &c.routes[0],
            &c,
            Timestamp::from_millis(0),
        );
        assert_eq!(p.decision, Decision::Opened);
        assert_eq!(ilert_types(&p), ["ALERT"]);
        assert!(p.incident.is_open());
    }

    #[test]
    fn refire_while_open_is_recorded_not_sent() {
        let c = config("");
        let t0 = Timestamp::from_millis(0);
        let first = plan(None, &alert("alert"), &c.routes[0], &c, t0);
        let p = plan(
            Some(&first.incident),
            &alert("alert"),
            &c.routes[0],
            &c,
            t0.plus(Duration::from_secs(3600)),
        );
        assert_eq!(p.decision, Decision::Deduplicated);
        assert!(ilert_types(&p).is_empty());
        assert_eq!(p.incident.times_fired, 2);
    }

    #[test]
    fn refire_after_window_sends_alert_again() {
        let c = config("refire_window = \"30m\"");
        let t0 = Timestamp::from_millis(0);
        let first = plan(None, &alert("alert"), &c.routes[0], &c, t0);
        let early = plan(
            Some(&first.incident),
            &alert("alert"),
            &c.routes[0],
            &c,
            t0.plus(Duration::from_secs(60)),
        );
        assert_eq!(early.decision, Decision::Deduplicated);
        let late = plan(
            Some(&early.incident),
            &alert("alert"),
            &c.routes[0],
            &c,
            t0.plus(Duration::from_secs(1801)),
        );
        assert_eq!(late.decision, Decision::Realerted);
        assert_eq!(ilert_types(&late), ["ALERT"]);
    }

    #[test]
    fn recovery_resolves_and_next_firing_opens_a_new_incident() {
        let c = config("");
        let t0 = Timestamp::from_millis(0);
        let open = plan(None, &alert("alert"), &c.routes[0], &c, t0);
        let rec = plan(
            Some(&open.incident),
            &alert("resolved"),
            &c.routes[0],
            &c,
            t0,
        );
        assert_eq!(rec.decision, Decision::Resolved);
        assert_eq!(ilert_types(&rec), ["RESOLVE"]);
        let again = plan(Some(&rec.incident), &alert("alert"), &c.routes[0], &c, t0);
        assert_eq!(again.decision, Decision::Opened);
        assert_eq!(again.incident.seq, 2);
        assert!(again.superseded.is_some());
    }

    #[test]
    fn recovery_of_unknown_incident_still_resolves() {
        let c = config("");
        let p = plan(
            None,
            &alert("resolved"),
            &c.routes[0],
            &c,
            Timestamp::from_millis(0),
        );
        assert_eq!(p.decision, Decision::ResolvedUnknown);
        assert_eq!(ilert_types(&p), ["RESOLVE"]);
    }
}
