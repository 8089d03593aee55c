//! The incident record: what we remember about one Pandora alert between invocations.
//! One JSON file per incident key in the store (see `store`), replaced atomically.

use serde::{Deserialize, Serialize};

use crate::config::ChatPlatform;
use crate::pandora::Alert;
use crate::time::Timestamp;

/// Version of the on-disk record format, so later versions can migrate it.
pub const RECORD_FORMAT: u32 = 1;

/// Open or resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentState {
    /// Firing; re-fires are deduplicated.
    Open,
    /// Recovered; the next firing opens a new incident.
    Resolved,
}

/// `ChatState::backend` as the record holds it: the platform's name, or `""` for none.
mod platform_or_empty {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::config::ChatPlatform;

    pub fn serialize<S: Serializer>(p: &Option<ChatPlatform>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.map_or("", ChatPlatform::as_str))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ChatPlatform>, D::Error> {
        let name = String::deserialize(d)?;
        if name.is_empty() {
            return Ok(None);
        }
        ChatPlatform::parse(&name)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("unknown chat platform {name:?}")))
    }
}

/// Where the incident's chat channel stands. Written after each successful chat call, so a
/// retry never creates a second channel or a second pinned message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatState {
    /// The platform; `None` only in a storm state whose channel is not open yet (written as
    /// `""`, as earlier versions did).
    #[serde(with = "platform_or_empty")]
    pub backend: Option<ChatPlatform>,
    /// Platform id of the incident channel / room.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// Channel name or alias as created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_name: Option<String>,
    /// Link to the channel, for stakeholder lines and the ilert event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_url: Option<String>,
    /// Id of the pinned alert message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// True once the alert message is pinned.
    #[serde(default)]
    pub pinned: bool,
    /// The topic last set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Users already invited.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invited: Vec<String>,
    /// Fire count shown by the pinned message as last rendered.
    #[serde(default)]
    pub rendered_fires: u32,
    /// True once the pinned message shows the recovery.
    #[serde(default)]
    pub rendered_resolved: bool,
    /// Id of the recovery message, once posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_message_id: Option<String>,
    /// When the channel was archived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    /// Backend-specific values (e.g. a Matrix transaction counter).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub extra: std::collections::BTreeMap<String, String>,
}

/// One incident of one Pandora alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// Record format version.
    pub format: u32,
    /// Incident key (the ilert alertKey).
    pub key: String,
    /// Pandora alert id.
    pub alert_id: String,
    /// Counts the incidents of this alert: a firing after recovery opens number `seq + 1`.
    pub seq: u32,
    /// Open or resolved.
    pub state: IncidentState,
    /// Route chosen at opening; recovery goes the same way.
    pub route: String,
    /// A drill from `pandora-ilert test`.
    #[serde(default)]
    pub drill: bool,
    /// Opened as a private (sensitive) incident.
    #[serde(default)]
    pub private: bool,
    /// Opened during an alert storm: summarised in the route's storm channel, no own channel.
    #[serde(default)]
    pub storm: bool,
    /// First firing.
    pub opened_at: Timestamp,
    /// Last firing or recovery seen.
    pub last_seen: Timestamp,
    /// When it recovered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<Timestamp>,
    /// Firings seen while open (1 = only the first).
    pub times_fired: u32,
    /// When an ALERT was last queued for ilert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_alert_sent: Option<Timestamp>,
    /// The first firing as received.
    pub first: Alert,
    /// The latest firing or recovery as received.
    pub last: Alert,
    /// Orders this incident's outbox entries.
    #[serde(default)]
    pub outbox_seq: u64,
    /// Inbox entries applied most recently (newest last), so an entry replayed after a crash
    /// between "record saved" and "inbox entry removed" is not applied twice. Ids are not
    /// compared by order: an older id can arrive after a newer one was applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applied: Vec<String>,
    /// Chat channel state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<ChatState>,
    /// ilert's alert id or number, when an API told us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ilert_alert: Option<String>,
    /// The ilert alert behind this incident, found through the REST API, and its state as last
    /// mirrored into chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ilert_mirror: Option<IlertMirror>,
}

/// What we know of the ilert alert behind an incident (REST API, `[ilert] api_token`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IlertMirror {
    /// ilert's numeric alert id; 0 until the alert is found.
    pub id: i64,
    /// `PENDING`, `ACCEPTED` or `RESOLVED`, as last seen (or caused by us).
    pub status: String,
    /// Who accepted it, as last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
    /// The escalation level reached (1 = the policy's first rule), as last seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<u32>,
    /// ilert's responders ("First Last"), as last seen; `None` until seen, or after a change we
    /// caused whose outcome we did not see (the next sighting is then taken silently).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub responders: Option<Vec<String>>,
}

/// How many applied inbox ids a record remembers.
pub const APPLIED_MEMORY: usize = 32;

impl Incident {
    /// Remembers an applied inbox entry.
    pub fn mark_applied(&mut self, inbox_id: &str) {
        self.applied.push(inbox_id.to_string());
        if self.applied.len() > APPLIED_MEMORY {
            let excess = self.applied.len() - APPLIED_MEMORY;
            self.applied.drain(..excess);
        }
    }

    /// True when this inbox entry was applied already.
    pub fn has_applied(&self, inbox_id: &str) -> bool {
        self.applied.iter().any(|a| a == inbox_id)
    }

    /// True while firing.
    pub fn is_open(&self) -> bool {
        self.state == IncidentState::Open
    }

    /// The occasion (`ChatMessage::occasion`) of the next message posted for this incident,
    /// `what` naming the step: this incident (key and number: a later incident of the same
    /// alert is another one), the count of its messages posted so far as recorded in `chat`,
    /// and the step. A retry before the post is recorded gets the same occasion; once
    /// `ChatState::count_post` is saved with it, the next message gets a new one. Nothing
    /// local to this server is in it (not the time it saw the first firing): two Pandora
    /// servers sharing the bot's access token that fire at once post the first card with the
    /// same transaction id, and the homeserver keeps one.
    pub fn next_post(&self, chat: &ChatState, what: &str) -> String {
        format!("{}/{}#{} {what}", self.key, self.seq, chat.posts())
    }
}

/// The chat state's `extra` entry counting the messages posted and edits sent, as recorded.
const POSTS: &str = "posts";

impl ChatState {
    /// Messages posted and edits sent for this record so far (as recorded).
    pub fn posts(&self) -> u64 {
        self.extra
            .get(POSTS)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// Counts one more message posted or edit sent; saved with the step that records the post, so the
    /// next message's occasion differs from this one's (`Incident::next_post`).
    pub fn count_post(&mut self) {
        let n = self.posts() + 1;
        self.extra.insert(POSTS.into(), n.to_string());
    }
}

#[cfg(test)]
impl Incident {
    /// An open incident of `alert` (its key and id), opened and last seen at `at`: the base
    /// unit tests vary with struct update syntax.
    pub fn example(alert: Alert, at: Timestamp) -> Incident {
        Incident {
            format: RECORD_FORMAT,
            key: alert.key.clone(),
            alert_id: alert.alert_id.clone(),
            seq: 1,
            state: IncidentState::Open,
            route: "default".into(),
            drill: false,
            private: false,
            storm: false,
            opened_at: at,
            last_seen: at,
            resolved_at: None,
            times_fired: 1,
            last_alert_sent: None,
            first: alert.clone(),
            last: alert,
            outbox_seq: 1,
            applied: vec![],
            chat: None,
            ilert_alert: None,
            ilert_mirror: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The platform is written by its name, and a storm state's chat before its channel opens
    /// keeps the `""` earlier versions wrote; a name no build knows is refused, not guessed.
    #[test]
    fn chat_state_keeps_the_platform_name_on_disk() {
        let slack = ChatState {
            backend: Some(ChatPlatform::Slack),
            ..Default::default()
        };
        let text = serde_json::to_string(&slack).unwrap();
        assert!(text.starts_with(r#"{"backend":"slack","#), "{text}");
        assert_eq!(serde_json::from_str::<ChatState>(&text).unwrap(), slack);
        let none = serde_json::to_string(&ChatState::default()).unwrap();
        assert!(none.starts_with(r#"{"backend":"","#), "{none}");
        assert_eq!(
            serde_json::from_str::<ChatState>(&none).unwrap().backend,
            None
        );
        let matrix: ChatState = serde_json::from_str(r#"{"backend":"matrix"}"#).unwrap();
        assert_eq!(matrix.backend, Some(ChatPlatform::Matrix));
        assert!(serde_json::from_str::<ChatState>(r#"{"backend":"irc"}"#).is_err());
    }

    /// A message's occasion stays until its post is counted, then the next one differs; a
    /// later incident of the same alert starts its own.
    #[test]
    fn post_occasions_change_only_when_a_post_is_counted() {
        use crate::pandora::{Alert, AlertInput};
        let alert = Alert::from_input(
            &AlertInput {
                event: Some("alert".into()),
                alert_id: Some("7".into()),
                ..AlertInput::default()
            },
            "",
        )
        .unwrap();
        let inc = |seq: u32| Incident {
            seq,
            opened_at: Timestamp::from_millis(1000 * i64::from(seq)),
            ..Incident::example(alert.clone(), Timestamp::from_millis(0))
        };
        let first = inc(1);
        let mut chat = ChatState::default();
        let a = first.next_post(&chat, "paging");
        assert_eq!(a, first.next_post(&chat, "paging"));
        assert_ne!(a, first.next_post(&chat, "recovery"));
        chat.count_post();
        let b = first.next_post(&chat, "paging");
        assert_ne!(a, b);
        assert_eq!(chat.posts(), 1);
        assert_ne!(a, inc(2).next_post(&ChatState::default(), "paging"));
    }
}
