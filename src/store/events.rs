//! An incident's event log, line by line: what happened (`EventKind`), and for the steps a
//! drill times (`Step`), which step it was, so nobody has to read the prose to find them.
//!
//! The on-disk form is one JSON object a line: `kind` as its kebab-case name (`dead-letter`),
//! `step` only on the lines that have one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ilert::IlertEventType;
use crate::lifecycle::Decision;
use crate::time::Timestamp;

/// One line of an incident's event log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogLine {
    /// When.
    pub at: Timestamp,
    /// Incident number of this alert.
    pub seq: u32,
    /// What happened.
    pub kind: EventKind,
    /// Human text.
    pub text: String,
    /// Who: `pandora`, `pandora-ilert`, or a chat user.
    pub by: String,
    /// The delivery step this line records, if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Step>,
}

impl EventLogLine {
    /// A line about something pandora-ilert did, stamped now.
    pub fn ours(seq: u32, kind: EventKind, text: String) -> Self {
        EventLogLine {
            at: Timestamp::now(),
            seq,
            kind,
            text,
            by: "pandora-ilert".into(),
            step: None,
        }
    }

    /// The same line, recording `step`.
    pub fn step(mut self, step: Step) -> Self {
        self.step = Some(step);
        self
    }
}

/// What an event-log line records. A name this build does not know (written by a newer
/// version) is kept as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum EventKind {
    /// An alert opened an incident.
    Opened,
    /// A re-fire inside the incident, nothing sent again.
    Deduplicated,
    /// A re-fire that sent the ALERT again.
    ReAlerted,
    /// A recovery resolved the incident.
    Resolved,
    /// A recovery for an incident nobody knew.
    ResolvedUnknown,
    /// A queued delivery succeeded.
    Delivered,
    /// A delivery failed and stays queued.
    Failed,
    /// A delivery was refused for good.
    DeadLetter,
    /// A step in the incident's chat channel.
    Chat,
    /// ilert's state of the alert, mirrored.
    IlertState,
    /// A `!note` typed in chat.
    Note,
    /// An ilert event someone asked for in chat (`!ack`, `!resolve`).
    FromChat(IlertEventType),
    /// A chat command refused.
    CommandRefused,
    /// A kind this build does not know.
    Other(String),
}

impl EventKind {
    /// The name written to the log.
    pub fn name(&self) -> String {
        match self {
            EventKind::FromChat(t) => format!("{}-from-chat", t.as_str().to_lowercase()),
            EventKind::Other(name) => name.clone(),
            simple => simple.simple_name().to_string(),
        }
    }

    fn simple_name(&self) -> &'static str {
        match self {
            EventKind::Opened => "opened",
            EventKind::Deduplicated => "deduplicated",
            EventKind::ReAlerted => "re-alerted",
            EventKind::Resolved => "resolved",
            EventKind::ResolvedUnknown => "resolved-unknown",
            EventKind::Delivered => "delivered",
            EventKind::Failed => "failed",
            EventKind::DeadLetter => "dead-letter",
            EventKind::Chat => "chat",
            EventKind::IlertState => "ilert-state",
            EventKind::Note => "note",
            EventKind::CommandRefused => "command-refused",
            EventKind::FromChat(_) | EventKind::Other(_) => "",
        }
    }
}

/// The kinds with a fixed name, for reading them back.
const SIMPLE: [EventKind; 12] = [
    EventKind::Opened,
    EventKind::Deduplicated,
    EventKind::ReAlerted,
    EventKind::Resolved,
    EventKind::ResolvedUnknown,
    EventKind::Delivered,
    EventKind::Failed,
    EventKind::DeadLetter,
    EventKind::Chat,
    EventKind::IlertState,
    EventKind::Note,
    EventKind::CommandRefused,
];

impl From<String> for EventKind {
    fn from(name: String) -> Self {
        if let Some(kind) = SIMPLE.iter().find(|k| k.simple_name() == name) {
            return kind.clone();
        }
        let from_chat = match name.strip_suffix("-from-chat") {
            Some("alert") => Some(IlertEventType::Alert),
            Some("accept") => Some(IlertEventType::Accept),
            Some("resolve") => Some(IlertEventType::Resolve),
            Some("comment") => Some(IlertEventType::Comment),
            _ => None,
        };
        from_chat.map_or(EventKind::Other(name), EventKind::FromChat)
    }
}

impl From<EventKind> for String {
    fn from(kind: EventKind) -> Self {
        kind.name()
    }
}

impl From<Decision> for EventKind {
    fn from(d: Decision) -> Self {
        match d {
            Decision::Opened => EventKind::Opened,
            Decision::Deduplicated => EventKind::Deduplicated,
            Decision::Realerted => EventKind::ReAlerted,
            Decision::Resolved => EventKind::Resolved,
            Decision::ResolvedUnknown => EventKind::ResolvedUnknown,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A step of an incident's delivery: ilert took an event, or the channel got one of its parts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// ilert took the ALERT.
    IlertAlert,
    /// ilert took the ACCEPT.
    IlertAccept,
    /// ilert took the RESOLVE.
    IlertResolve,
    /// ilert took a COMMENT.
    IlertComment,
    /// The incident channel was opened (or the configured one taken).
    ChannelOpened,
    /// Responders were invited.
    Invited,
    /// The alert message was posted (again, if it was deleted).
    AlertPosted,
    /// The alert message was pinned.
    Pinned,
    /// The topic was set.
    TopicSet,
    /// The pinned alert message was brought up to date.
    AlertUpdated,
    /// The channel was told whether ilert paged.
    PagingTold,
    /// The recovery message was posted.
    RecoveryPosted,
    /// A stakeholder line was posted.
    StakeholderLine,
    /// The closing line was posted before archiving.
    ClosingPosted,
    /// Invitations nobody accepted were withdrawn.
    InvitesWithdrawn,
    /// The channel was archived.
    Archived,
}

impl Step {
    /// The step of ilert taking an event of `t`.
    pub fn ilert(t: IlertEventType) -> Self {
        match t {
            IlertEventType::Alert => Step::IlertAlert,
            IlertEventType::Accept => Step::IlertAccept,
            IlertEventType::Resolve => Step::IlertResolve,
            IlertEventType::Comment => Step::IlertComment,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names on disk are the ones earlier versions wrote, and read back to the same kind;
    /// an unknown name survives a round trip.
    #[test]
    fn kinds_keep_their_names_on_disk() {
        let cases = [
            (EventKind::ReAlerted, "re-alerted"),
            (EventKind::DeadLetter, "dead-letter"),
            (EventKind::IlertState, "ilert-state"),
            (
                EventKind::FromChat(IlertEventType::Accept),
                "accept-from-chat",
            ),
            (EventKind::CommandRefused, "command-refused"),
            (EventKind::Other("snoozed".into()), "snoozed"),
        ];
        for (kind, name) in cases {
            assert_eq!(serde_json::to_value(&kind).unwrap(), name);
            assert_eq!(EventKind::from(name.to_string()), kind);
        }
        for kind in SIMPLE {
            assert_eq!(EventKind::from(kind.name()), kind);
        }
    }

    /// A line written before steps existed reads back without one; a line with a step keeps it.
    #[test]
    fn lines_read_with_and_without_a_step() {
        let old = r#"{"at":"2026-01-01T00:00:00.000Z","seq":1,"kind":"delivered","text":"ilert ALERT delivered","by":"pandora-ilert"}"#;
        let line: EventLogLine = serde_json::from_str(old).unwrap();
        assert_eq!((line.kind.clone(), line.step), (EventKind::Delivered, None));
        assert_eq!(serde_json::to_string(&line).unwrap(), old);
        let new = line.step(Step::IlertAlert);
        let text = serde_json::to_string(&new).unwrap();
        assert!(text.ends_with(r#","step":"ilert-alert"}"#), "{text}");
        assert_eq!(serde_json::from_str::<EventLogLine>(&text).unwrap(), new);
    }
}
