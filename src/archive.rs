//! Archiving incident channels after the incident is long resolved: drills first, then the
//! oldest; never an open incident. A closing line is posted first (see `chat::sync`). Used by
//! `pandora-ilert archive` and by the plugin's housekeeping. A channel that fails to archive
//! is simply tried again on the next pass: the record says it is not archived yet.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::chat::{self, Context};
use crate::config::{ChatPlatform, Config};
use crate::deadline::Deadline;
use crate::http::Http;
use crate::incident::Incident;
use crate::lifecycle::ChatChange;
use crate::store::{EventKind, EventLogLine, Step, Store};
use crate::time::Timestamp;

/// Where a record lives: the current record of its key, or a superseded one in `history/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordLoc {
    /// `incidents/<key>.json`.
    Current,
    /// `history/<key>.<seq>.json`.
    History(PathBuf),
}

/// An incident whose channel is due for archiving.
#[derive(Clone, Debug, Serialize)]
pub struct Due {
    /// Incident key.
    pub key: String,
    /// Incident number.
    pub seq: u32,
    /// Channel name.
    pub channel: String,
    /// Backend.
    pub backend: ChatPlatform,
    /// When it was resolved.
    pub resolved_at: Timestamp,
    /// A drill.
    pub drill: bool,
    #[serde(skip)]
    loc: RecordLoc,
}

/// Picks the channels to archive (pure): resolved before `now - older_than` (drills as soon as
/// they are resolved), with a channel that is not archived yet; drills first, then oldest.
pub fn due(records: Vec<(RecordLoc, Incident)>, older_than: Duration, now: Timestamp) -> Vec<Due> {
    let mut out: Vec<Due> = records
        .into_iter()
        .filter_map(|(loc, i)| {
            let resolved_at = i.resolved_at.filter(|_| !i.is_open())?;
            let chat = i.chat.as_ref()?;
            let channel = chat
                .channel_name
                .clone()
                .or_else(|| chat.channel_id.clone())?;
            if chat.archived_at.is_some() || chat.channel_id.is_none() {
                return None;
            }
            if !i.drill && now.since(resolved_at) < older_than {
                return None;
            }
            Some(Due {
                key: i.key,
                seq: i.seq,
                channel,
                backend: chat.backend?,
                resolved_at,
                drill: i.drill,
                loc,
            })
        })
        .collect();
    out.sort_by_key(|d| (!d.drill, d.resolved_at));
    out
}

/// What a pass did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Channels archived (or, in a dry run, that would be).
    pub archived: Vec<Due>,
    /// `(channel, error)` for channels that could not be archived this time.
    pub failed: Vec<(String, String)>,
    /// Incidents skipped because another process held them.
    pub busy: usize,
}

/// Every record, current and superseded.
pub fn all_records(store: &Store) -> Vec<(RecordLoc, Incident)> {
    let mut v: Vec<(RecordLoc, Incident)> = store
        .incidents()
        .into_iter()
        .map(|i| (RecordLoc::Current, i))
        .collect();
    v.extend(
        store
            .history()
            .into_iter()
            .map(|(p, i)| (RecordLoc::History(p), i)),
    );
    v
}

/// Archives what is due (or lists it with `dry_run`).
pub fn run(
    config: &Config,
    store: &Store,
    http: &Http,
    deadline: Deadline,
    older_than: Duration,
    dry_run: bool,
) -> Report {
    let now = Timestamp::now();
    let mut report = Report::default();
    for d in due(all_records(store), older_than, now) {
        if dry_run {
            report.archived.push(d);
            continue;
        }
        if deadline.remaining() < Duration::from_secs(1) {
            break;
        }
        let _lock = match store.try_lock_incident(&d.key) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                report.busy += 1;
                continue;
            }
            Err(e) => {
                report.failed.push((d.channel.clone(), e.to_string()));
                continue;
            }
        };
        let reload = match &d.loc {
            RecordLoc::Current => store.load_incident(&d.key).filter(|i| i.seq == d.seq),
            RecordLoc::History(p) => store.read_json::<Incident>(p),
        };
        let Some(mut incident) = reload.filter(|i| !i.is_open()) else {
            continue;
        };
        let Some(route) = config.route(&incident.route).and_then(|r| r.chat.clone()) else {
            report.failed.push((
                d.channel.clone(),
                format!("route '{}' has no chat backend any more", incident.route),
            ));
            continue;
        };
        let ctx = Context {
            config,
            store,
            http,
            deadline,
            now,
        };
        let mut backend = match chat::backend(d.backend, &ctx) {
            Ok(b) => b,
            Err(e) => {
                report.failed.push((d.channel.clone(), e));
                continue;
            }
        };
        let loc = d.loc.clone();
        let mut save = |inc: &Incident, step: Step, text: String| {
            let r = match &loc {
                RecordLoc::Current => store.save_incident(inc),
                RecordLoc::History(_) => store.save_history(inc),
            };
            if let Err(e) = r {
                log::error!("{e}");
            }
            let line = EventLogLine::ours(inc.seq, EventKind::Chat, text).step(step);
            store.log_event(&inc.key, &line);
        };
        match chat::sync(
            backend.as_mut(),
            &mut incident,
            &route,
            ChatChange::Archive,
            now,
            &mut save,
        ) {
            Ok(()) => {
                log::info!(
                    "archived #{} (incident {} resolved {})",
                    d.channel,
                    d.key,
                    d.resolved_at
                );
                report.archived.push(d);
            }
            Err(e) => {
                log::warn!(
                    "could not archive #{}: {e}; tried again next pass",
                    d.channel
                );
                let stop = matches!(e, chat::ChatError::RateLimited(_));
                report.failed.push((d.channel.clone(), e.to_string()));
                if stop {
                    // The platform asked us to slow down: the rest waits for the next pass.
                    break;
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::{ChatState, IncidentState};
    use crate::pandora::{Alert, AlertInput};

    fn incident(
        key: &str,
        resolved_secs_ago: Option<u64>,
        drill: bool,
        archived: bool,
        now: Timestamp,
    ) -> Incident {
        let a = Alert::from_input(
            &AlertInput {
                event: Some("alert".into()),
                alert_id: Some(key.into()),
                agent: Some("a".into()),
                ..Default::default()
            },
            "",
        )
        .unwrap();
        Incident {
            format: 1,
            key: key.into(),
            alert_id: key.into(),
            seq: 1,
            state: if resolved_secs_ago.is_some() {
                IncidentState::Resolved
            } else {
                IncidentState::Open
            },
            route: "default".into(),
            drill,
            private: false,
            storm: false,
            opened_at: now,
            last_seen: now,
            resolved_at: resolved_secs_ago
                .map(|s| Timestamp::from_millis(now.millis() - s as i64 * 1000)),
            times_fired: 1,
            last_alert_sent: None,
            first: a.clone(),
            last: a,
            outbox_seq: 0,
            applied: Vec::new(),
            chat: Some(ChatState {
                backend: Some(ChatPlatform::Slack),
                channel_id: Some(format!("C{key}")),
                channel_name: Some(format!("pandorafms_alert_{key}")),
                archived_at: archived.then_some(now),
                ..Default::default()
            }),
            ilert_alert: None,
            ilert_mirror: None,
        }
    }

    #[test]
    fn only_long_resolved_unarchived_channels_are_due_drills_first() {
        let now = Timestamp::from_millis(10_000_000_000);
        let week = Duration::from_secs(7 * 86_400);
        let recs = vec![
            (RecordLoc::Current, incident("1", None, false, false, now)),
            (
                RecordLoc::Current,
                incident("2", Some(8 * 86_400), false, false, now),
            ),
            (
                RecordLoc::Current,
                incident("3", Some(86_400), false, false, now),
            ),
            (
                RecordLoc::Current,
                incident("4", Some(9 * 86_400), false, true, now),
            ),
            (
                RecordLoc::Current,
                incident("5", Some(60), true, false, now),
            ),
            (
                RecordLoc::Current,
                incident("6", Some(10 * 86_400), false, false, now),
            ),
        ];
        let keys: Vec<String> = due(recs, week, now).into_iter().map(|d| d.key).collect();
        assert_eq!(keys, ["5", "6", "2"]);
    }
}
