//! Housekeeping done by the plugin run: closed incident records, superseded records and their
//! event-log lines go once they are older than `[plugin] prune_after`.
//!
//! Never an open incident, never one with deliveries still queued or alerts in the inbox, and
//! never one whose chat channel is still unarchived (archiving needs the record's channel id;
//! see the plugin run for where issue 6 plugs archiving in). Each removal happens under the
//! incident's lock after re-reading the record, so a firing that arrives meanwhile wins.
//! Orphaned temporary files (older than an hour) are swept by the same hourly pass and by
//! `flush`.

use std::path::PathBuf;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::incident::Incident;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// Time kept back from the deadline.
const RESERVE: Duration = Duration::from_millis(500);

/// True when a closed record has been closed longer than `keep` and nothing still needs it.
pub fn prunable(incident: &Incident, now: Timestamp, keep: Duration) -> bool {
    let closed_at = incident.resolved_at.unwrap_or(incident.last_seen);
    let chat_settled = incident
        .chat
        .as_ref()
        .is_none_or(|c| c.channel_id.is_none() || c.archived_at.is_some());
    !incident.is_open() && now.since(closed_at) > keep && chat_settled
}

/// What a pass removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Incident records (with their event logs).
    pub records: usize,
    /// Superseded records.
    pub history: usize,
    /// Event-log lines of superseded records.
    pub event_lines: usize,
    /// Candidates skipped because another process held the incident.
    pub busy: usize,
}

/// Removes what `prunable` allows among the records given (the current ones, then the
/// superseded ones, each read one at a time: the plugin gives one slice of the store per
/// run), within the deadline. Returns what it removed and whether it went through every
/// record given (false: the deadline stopped it).
pub fn prune(
    store: &Store,
    current: impl Iterator<Item = Incident>,
    history: impl Iterator<Item = (PathBuf, Incident)>,
    now: Timestamp,
    keep: Duration,
    deadline: Deadline,
) -> Result<(Pruned, bool), StoreError> {
    let mut done = Pruned::default();
    for incident in current {
        if deadline.remaining() < RESERVE {
            return Ok((done, false));
        }
        if !prunable(&incident, now, keep) {
            continue;
        }
        let (key, seq) = (incident.key, incident.seq);
        let Some(_lock) = store.try_lock_incident(&key)? else {
            done.busy += 1;
            continue;
        };
        let still = store
            .load_incident(&key)
            .is_some_and(|i| prunable(&i, now, keep));
        if still && store.pending_for(&key).is_empty() && store.inbox_for(&key).is_empty() {
            store.remove_incident(&key, seq)?;
            log::info!("housekeeping: removed closed incident {key}");
            done.records += 1;
        }
    }
    for (path, incident) in history {
        if deadline.remaining() < RESERVE {
            return Ok((done, false));
        }
        if !prunable(&incident, now, keep) {
            continue;
        }
        let Some(_lock) = store.try_lock_incident(&incident.key)? else {
            done.busy += 1;
            continue;
        };
        store.remove_file(&path)?;
        done.history += 1;
        done.event_lines += store.retain_events(&incident.key, |l| l.seq != incident.seq)?;
        log::info!(
            "housekeeping: removed superseded incident {} #{}",
            incident.key,
            incident.seq
        );
    }
    Ok((done, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::incident::{ChatState, IncidentState};
    use crate::pandora::{Alert, AlertInput};

    const DAY: u64 = 86_400;

    fn t(days: u64) -> Timestamp {
        Timestamp::from_millis(0).plus(Duration::from_secs(days * DAY))
    }

    fn incident(state: IncidentState, resolved: Option<u64>, chat: Option<ChatState>) -> Incident {
        let alert = Alert::from_input(
            &AlertInput {
                event: Some("alert".into()),
                alert_id: Some("7".into()),
                ..AlertInput::default()
            },
            "",
        )
        .unwrap();
        Incident {
            state,
            last_seen: t(2),
            resolved_at: resolved.map(t),
            chat,
            ..Incident::example(alert, t(1))
        }
    }

    #[test]
    fn closed_records_go_after_the_retention_time() {
        let keep = Duration::from_secs(30 * DAY);
        let closed = incident(IncidentState::Resolved, Some(10), None);
        assert!(!prunable(&closed, t(39), keep));
        assert!(prunable(&closed, t(41), keep));
    }

    #[test]
    fn open_incidents_are_never_pruned() {
        let open = incident(IncidentState::Open, None, None);
        assert!(!prunable(&open, t(10_000), Duration::from_secs(DAY)));
    }

    #[test]
    fn records_with_an_unarchived_channel_are_kept_for_archiving() {
        let keep = Duration::from_secs(DAY);
        let channel = ChatState {
            backend: Some(crate::config::ChatPlatform::Slack),
            channel_id: Some("C1".into()),
            ..ChatState::default()
        };
        let unarchived = incident(IncidentState::Resolved, Some(1), Some(channel.clone()));
        assert!(!prunable(&unarchived, t(100), keep));
        let archived = incident(
            IncidentState::Resolved,
            Some(1),
            Some(ChatState {
                archived_at: Some(t(3)),
                ..channel
            }),
        );
        assert!(prunable(&archived, t(100), keep));
        let never_created = incident(
            IncidentState::Resolved,
            Some(1),
            Some(ChatState {
                backend: Some(crate::config::ChatPlatform::Slack),
                ..ChatState::default()
            }),
        );
        assert!(prunable(&never_created, t(100), keep));
    }
}
