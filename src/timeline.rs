//! The post-mortem timeline: the local event log (firings, deliveries, failures, chat actions)
//! merged with the incident channel's history (every message, author, pins) in time order.
//! Building and rendering are pure; reading the channel is the caller's effect.

use serde::Serialize;

use crate::chat::HistoryItem;
use crate::incident::Incident;
use crate::store::{EventKind, EventLogLine};
use crate::time::Timestamp;

/// One row of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// When, UTC.
    pub at: Timestamp,
    /// `event log` or the chat backend's name.
    pub source: String,
    /// What kind of row: `fired`, `delivered`, `chat`, `message`, …
    pub kind: String,
    /// Who.
    pub by: String,
    /// What.
    pub text: String,
    /// A pinned chat message.
    pub pinned: bool,
}

/// The whole timeline of one incident.
#[derive(Clone, Debug, Serialize)]
pub struct Timeline {
    /// Incident key.
    pub key: String,
    /// Incident number of this alert.
    pub seq: u32,
    /// `agent / module`.
    pub subject: String,
    /// Channel, if any.
    pub channel: Option<String>,
    /// Opened.
    pub opened_at: Timestamp,
    /// Resolved.
    pub resolved_at: Option<Timestamp>,
    /// Notes on the sources (zones, gaps).
    pub notes: Vec<String>,
    /// Rows, oldest first.
    pub entries: Vec<Entry>,
}

/// Merges the event log of this incident (its `seq`) with the chat history.
pub fn build(
    incident: &Incident,
    events: &[EventLogLine],
    chat: Option<(&str, &[HistoryItem])>,
    notes: Vec<String>,
) -> Timeline {
    let mut entries: Vec<Entry> = events
        .iter()
        .filter(|e| e.seq == incident.seq)
        .map(|e| Entry {
            at: e.at,
            source: "event log".into(),
            kind: e.kind.to_string(),
            by: e.by.clone(),
            text: e.text.clone(),
            // A `!note` from chat is a key note: shown like a pinned message.
            pinned: e.kind == EventKind::Note,
        })
        .collect();
    if let Some((backend, items)) = chat {
        entries.extend(items.iter().map(|m| Entry {
            at: m.at,
            source: backend.to_string(),
            kind: "message".into(),
            by: m.author.clone(),
            text: m.text.clone(),
            pinned: m.pinned,
        }));
    }
    // Stable: rows at the same instant keep event-log-before-chat order.
    entries.sort_by_key(|e| e.at);
    Timeline {
        key: incident.key.clone(),
        seq: incident.seq,
        subject: incident.first.subject(),
        channel: incident.chat.as_ref().and_then(|c| c.channel_name.clone()),
        opened_at: incident.opened_at,
        resolved_at: incident.resolved_at,
        notes,
        entries,
    }
}

/// Markdown for a post-mortem document.
pub fn markdown(t: &Timeline) -> String {
    let mut s = format!(
        "# Incident timeline: {} (incident key {}, #{})\n\n",
        t.subject, t.key, t.seq
    );
    s.push_str(&format!("- Opened: {}\n", t.opened_at));
    if let Some(r) = t.resolved_at {
        s.push_str(&format!(
            "- Resolved: {r} (after {})\n",
            crate::time::human_duration(r.since(t.opened_at))
        ));
    }
    if let Some(c) = &t.channel {
        s.push_str(&format!("- Channel: #{c}\n"));
    }
    s.push_str("- Times are UTC. Event-log rows are when pandora-ilert saw or did something; chat rows are the chat server's own timestamps; Pandora's original (zone-less, server local) times appear in the row text.\n");
    for n in &t.notes {
        s.push_str(&format!("- Note: {n}\n"));
    }
    s.push_str("\n| time (UTC) | source | who | what |\n|---|---|---|---|\n");
    for e in &t.entries {
        let pin = if e.pinned { "📌 " } else { "" };
        s.push_str(&format!(
            "| {} | {} | {} | {pin}{} |\n",
            e.at.rfc3339_millis()
                .replace('T', " ")
                .trim_end_matches('Z'),
            cell(&e.source),
            cell(&e.by),
            cell(&e.text)
        ));
    }
    s
}

/// Keeps a Markdown table cell on one line and its pipes literal.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_on_one_line() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
