//! The incident record: what we remember about one Pandora alert between invocations.
//! One JSON file per incident key in the store (see `store`), replaced atomically.

use serde::{Deserialize, Serialize};

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

/// Where the incident's chat channel stands. Written after each successful chat call, so a
/// retry never creates a second channel or a second pinned message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatState {
    /// Backend name (`slack`, `teams`, `matrix`).
    pub backend: String,
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
}
