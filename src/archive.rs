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

impl Due {
    /// True for an incident's current record (not a superseded one).
    pub fn is_current(&self) -> bool {
        self.loc == RecordLoc::Current
    }
}

/// The record's channel if it is due for archiving (pure): resolved before `now - older_than`
/// (drills as soon as they are resolved), with a channel that is not archived yet.
pub fn due_one(loc: RecordLoc, i: &Incident, older_than: Duration, now: Timestamp) -> Option<Due> {
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
        key: i.key.clone(),
        seq: i.seq,
        channel,
        backend: chat.backend?,
        resolved_at,
        drill: i.drill,
        loc,
    })
}

/// Drills first, then the longest resolved.
pub fn sort_due(due: &mut [Due]) {
    due.sort_by_key(|d| (!d.drill, d.resolved_at));
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

/// Every record, current and superseded, read one at a time.
pub fn records(store: &Store) -> impl Iterator<Item = (RecordLoc, Incident)> + '_ {
    store
        .incidents()
        .map(|i| (RecordLoc::Current, i))
        .chain(store.history().map(|(p, i)| (RecordLoc::History(p), i)))
}

/// The channels due for archiving among `records` (read one at a time: only the due ones
/// are kept), in `sort_due`'s order.
pub fn due_among(
    records: impl Iterator<Item = (RecordLoc, Incident)>,
    older_than: Duration,
    now: Timestamp,
) -> Vec<Due> {
    let mut out: Vec<Due> = records
        .filter_map(|(loc, i)| due_one(loc, &i, older_than, now))
        .collect();
    sort_due(&mut out);
    out
}

/// Archives what is due among every record (or lists it with `dry_run`).
pub fn run(
    config: &Config,
    store: &Store,
    http: &Http,
    deadline: Deadline,
    older_than: Duration,
    dry_run: bool,
) -> Report {
    let due = due_among(records(store), older_than, Timestamp::now());
    archive_due(config, store, http, deadline, due, dry_run)
}

/// Archives the channels `due` lists (or lists them with `dry_run`).
pub fn archive_due(
    config: &Config,
    store: &Store,
    http: &Http,
    deadline: Deadline,
    due: Vec<Due>,
    dry_run: bool,
) -> Report {
    let now = Timestamp::now();
    let mut report = Report::default();
    for d in due {
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

/// The chat state's `extra` entry set once an archived Teams channel was deleted.
pub const TEAMS_DELETED: &str = "teams_deleted_at";

/// How long a deleted Teams channel still counts against the team's limit (it can be restored
/// for 30 days: Microsoft, "Limits and specifications for Microsoft Teams").
const TEAMS_DELETED_COUNTS_FOR: Duration = Duration::from_secs(30 * 86_400);

/// What the Teams upkeep needs from the records, gathered in one pass that keeps only the
/// channels to delete (pure).
#[derive(Debug, Default)]
pub struct TeamsRecords {
    /// Archived channels to delete: archived at least `after` ago and not deleted yet, oldest
    /// archive first, as (where the record is, key, seq).
    pub deletable: Vec<(RecordLoc, String, u32)>,
    /// Channels of ours deleted within the last 30 days: they still count.
    pub deleted_recently: usize,
}

/// Reads `records` once for the Teams upkeep; `after` is `[teams] delete_archived_after`
/// (`None`: nothing is deleted, only counted).
pub fn teams_records(
    records: impl Iterator<Item = (RecordLoc, Incident)>,
    after: Option<Duration>,
    now: Timestamp,
) -> TeamsRecords {
    let mut deletable: Vec<(Timestamp, RecordLoc, String, u32)> = Vec::new();
    let mut deleted_recently = 0;
    for (loc, i) in records {
        let Some(chat) = i.chat.as_ref() else {
            continue;
        };
        if let Some(t) = chat.extra.get(TEAMS_DELETED) {
            let recent = Timestamp::parse_rfc3339(t)
                .is_some_and(|t| now.since(t) < TEAMS_DELETED_COUNTS_FOR);
            deleted_recently += usize::from(recent);
            continue;
        }
        let (Some(after), Some(archived_at), Some(_)) =
            (after, chat.archived_at, chat.channel_id.as_ref())
        else {
            continue;
        };
        if chat.backend == Some(ChatPlatform::Teams) && now.since(archived_at) >= after {
            deletable.push((archived_at, loc, i.key.clone(), i.seq));
        }
    }
    deletable.sort_by_key(|x| x.0);
    TeamsRecords {
        deletable: deletable
            .into_iter()
            .map(|(_, l, k, s)| (l, k, s))
            .collect(),
        deleted_recently,
    }
}

/// What the Teams upkeep did.
#[derive(Clone, Debug, Default)]
pub struct TeamsUpkeep {
    /// Channels deleted (names).
    pub deleted: Vec<String>,
    /// `(channel, error)` for deletions that failed this time.
    pub failed: Vec<(String, String)>,
    /// The team's channels as counted now, if Graph answered.
    pub count: Option<crate::chat::teams::TeamCapacity>,
}

/// The plugin's Teams upkeep: deletes archived incident channels older than
/// `[teams] delete_archived_after`, then counts the team's channels for the 1,000-channel
/// limit (Graph's list plus our deletions of the last 30 days) and keeps the count under
/// `meta/` for `status` and the health modules.
pub fn teams_upkeep(
    config: &Config,
    store: &Store,
    http: &Http,
    deadline: Deadline,
) -> TeamsUpkeep {
    let mut out = TeamsUpkeep::default();
    let Some(teams_cfg) = config.teams.as_ref().filter(|t| t.graph()) else {
        return out;
    };
    let now = Timestamp::now();
    let ctx = Context {
        config,
        store,
        http,
        deadline,
        now,
    };
    let mut teams = chat::teams::Teams::new(teams_cfg, &ctx);
    let scan = teams_records(records(store), teams_cfg.delete_archived_after, now);
    for (loc, key, seq) in scan.deletable {
        if deadline.remaining() < Duration::from_secs(1) {
            break;
        }
        let Ok(Some(_lock)) = store.try_lock_incident(&key) else {
            continue;
        };
        let reload = match &loc {
            RecordLoc::Current => store.load_incident(&key).filter(|i| i.seq == seq),
            RecordLoc::History(p) => store.read_json::<Incident>(p),
        };
        let Some(mut inc) = reload else { continue };
        let Some(chat) = inc.chat.as_mut() else {
            continue;
        };
        let (Some(id), name) = (chat.channel_id.clone(), chat.channel_name.clone()) else {
            continue;
        };
        let name = name.unwrap_or_else(|| id.clone());
        match teams.delete_channel(&id) {
            Ok(()) => {
                chat.extra.insert(TEAMS_DELETED.into(), now.rfc3339());
                let saved = match &loc {
                    RecordLoc::Current => store.save_incident(&inc),
                    RecordLoc::History(_) => store.save_history(&inc),
                };
                if let Err(e) = saved {
                    log::error!("{e}");
                }
                store.log_event(
                    &inc.key,
                    &EventLogLine::ours(
                        inc.seq,
                        EventKind::Chat,
                        format!("deleted archived channel #{name}"),
                    ),
                );
                log::info!("Teams: deleted archived channel #{name} (incident {key})");
                out.deleted.push(name);
            }
            Err(e) => {
                log::warn!("Teams: could not delete archived channel #{name}: {e}");
                out.failed.push((name, e.to_string()));
                if matches!(e, chat::ChatError::RateLimited(_)) {
                    break;
                }
            }
        }
    }
    match teams.count_channels() {
        Ok(mut cap) => {
            cap.deleted_recently = scan.deleted_recently + out.deleted.len();
            store.write_meta(
                chat::teams::CAPACITY_META,
                &serde_json::to_string(&cap).unwrap_or_default(),
            );
            if let Some(w) = cap.warning() {
                log::warn!("Teams: {w}");
            }
            out.count = Some(cap);
        }
        Err(e) => log::warn!("Teams: could not count the team's channels: {e}"),
    }
    out
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
            state: if resolved_secs_ago.is_some() {
                IncidentState::Resolved
            } else {
                IncidentState::Open
            },
            drill,
            resolved_at: resolved_secs_ago
                .map(|s| Timestamp::from_millis(now.millis() - s as i64 * 1000)),
            outbox_seq: 0,
            chat: Some(ChatState {
                backend: Some(ChatPlatform::Slack),
                channel_id: Some(format!("C{key}")),
                channel_name: Some(format!("pandorafms_alert_{key}")),
                archived_at: archived.then_some(now),
                ..Default::default()
            }),
            ..Incident::example(a, now)
        }
    }

    #[test]
    fn archived_teams_channels_are_deleted_after_the_age_and_counted_for_30_days() {
        let now = Timestamp::from_millis(10_000_000_000);
        let day = 86_400_000;
        let teams = |key: &str, archived_days_ago: Option<i64>, deleted_days_ago: Option<i64>| {
            let mut i = incident(key, Some(40 * 86_400), false, false, now);
            let c = i.chat.as_mut().unwrap();
            c.backend = Some(ChatPlatform::Teams);
            c.archived_at =
                archived_days_ago.map(|d| Timestamp::from_millis(now.millis() - d * day));
            if let Some(d) = deleted_days_ago {
                c.extra.insert(
                    TEAMS_DELETED.into(),
                    Timestamp::from_millis(now.millis() - d * day).rfc3339(),
                );
            }
            (RecordLoc::Current, i)
        };
        let mut slack = incident("7", Some(40 * 86_400), false, true, now);
        slack.chat.as_mut().unwrap().archived_at =
            Some(Timestamp::from_millis(now.millis() - 20 * day));
        let recs = vec![
            teams("1", Some(3), None),
            teams("2", Some(20), None),
            teams("3", Some(25), None),
            teams("4", None, None),
            teams("5", Some(30), Some(10)),
            teams("6", Some(60), Some(40)),
            (RecordLoc::Current, slack),
        ];
        let scan = teams_records(
            recs.clone().into_iter(),
            Some(Duration::from_secs(14 * 86_400)),
            now,
        );
        let keys: Vec<String> = scan.deletable.into_iter().map(|(_, k, _)| k).collect();
        assert_eq!(keys, ["3", "2"]);
        assert_eq!(scan.deleted_recently, 1);
        // Without `delete_archived_after`, nothing is deleted; the count is the same.
        let counted = teams_records(recs.into_iter(), None, now);
        assert!(counted.deletable.is_empty());
        assert_eq!(counted.deleted_recently, 1);
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
        let keys: Vec<String> = due_among(recs.into_iter(), week, now)
            .into_iter()
            .map(|d| d.key)
            .collect();
        assert_eq!(keys, ["5", "6", "2"]);
    }
}
