//! The status report: what is open, queued, dead and broken. `pandora-ilert status` prints it
//! and the plugin's health modules are computed from it.

use serde::Serialize;

use crate::config::Config;
use crate::incident::Incident;
use crate::lifecycle::Lane;
use crate::pacing::{Budget, PaceView, REST_LOOKUPS_PACE};
use crate::store::pacing::pace_name;
use crate::store::{OpenIndexHead, OutboxEntry, OutboxScan, Store};
use crate::time::Timestamp;

/// An open incident, as shown.
#[derive(Debug, Serialize)]
pub struct OpenIncident {
    /// Incident key.
    pub key: String,
    /// Agent / module.
    pub subject: String,
    /// Route.
    pub route: String,
    /// Opened.
    pub opened_at: Timestamp,
    /// Firings while open.
    pub times_fired: u32,
    /// Chat channel, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// A drill.
    pub drill: bool,
}

/// A queued delivery, as shown.
#[derive(Debug, Serialize)]
pub struct QueuedEvent {
    /// Entry id.
    pub id: String,
    /// Incident key.
    pub key: String,
    /// What it is.
    pub action: String,
    /// Its ordering lane: `ilert` or `chat:<backend>`.
    pub lane: String,
    /// Queued since.
    pub queued_at: Timestamp,
    /// Failed attempts.
    pub attempts: u32,
    /// When it was last tried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<Timestamp>,
    /// Last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

impl From<OutboxEntry> for QueuedEvent {
    fn from(e: OutboxEntry) -> Self {
        QueuedEvent {
            action: e.action.label(),
            lane: e.action.lane().name().to_string(),
            last_attempt: e.last_attempt,
            id: e.id,
            key: e.key,
            queued_at: e.created_at,
            attempts: e.attempts,
            last_error: e.last_error,
        }
    }
}

/// A dead letter, as shown.
#[derive(Debug, Serialize)]
pub struct DeadEvent {
    /// Incident key.
    pub key: String,
    /// What it was.
    pub action: String,
    /// When it was refused.
    pub failed_at: Timestamp,
    /// The API's answer.
    pub reason: String,
}

/// Everything `status` reports.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// State directory.
    pub state_dir: String,
    /// How many incidents are open.
    pub open_count: usize,
    /// Open incidents, oldest first (all of them for `status`; the oldest few for the
    /// plugin's health modules, which must not read every record of a large store).
    pub open_incidents: Vec<OpenIncident>,
    /// How many deliveries are queued.
    pub queued_count: usize,
    /// Queued deliveries, oldest first (all of them for `status`; for the plugin's health
    /// modules, the newest failed attempt of each lane, from the queue index).
    pub queued: Vec<QueuedEvent>,
    /// Age of the oldest queued delivery, seconds.
    pub oldest_queued_age_secs: Option<u64>,
    /// Dead letters.
    pub dead_letters: Vec<DeadEvent>,
    /// Files moved to quarantine.
    pub quarantined: Vec<String>,
    /// Alerts waiting in the inbox (a busy or interrupted incident).
    pub inbox: usize,
    /// Last successful delivery per lane.
    pub last_delivery: std::collections::BTreeMap<String, Timestamp>,
    /// Routes in an alert storm right now.
    pub storms: Vec<Storm>,
    /// ilert events budget per alert-source key that has sent in the current window.
    pub pacing: Vec<Pacing>,
    /// The alert command's REST lookups of new ilert alerts (`api_token`), when any were
    /// made in the current window.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rest_lookups: Option<PaceView>,
    /// When a `pandora-ilert watch` last finished a pass, if one ever ran.
    pub watch_last_pass: Option<Timestamp>,
    /// Whether a watcher is running now (`watch_running`); `None` when none ever ran.
    pub watch_running: Option<bool>,
    /// What Teams needs attention for (capacity, the bot's installation, private channels).
    pub teams: Vec<TeamsNote>,
}

/// One Teams line of the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TeamsNote {
    /// Needs someone to act.
    pub warning: bool,
    /// What, and what to do.
    pub text: String,
}

/// The Teams lines from what the plugin and the deliveries left under `meta/` (pure): the
/// team's channel count (a warning from 80 % of the limit), a refused installation of the
/// bot's app, and the last private channel the bot was refused in.
pub fn teams_notes(
    capacity: Option<&str>,
    install: Option<&str>,
    private_fallback: Option<&str>,
) -> Vec<TeamsNote> {
    use crate::chat::teams::{TeamCapacity, INSTALL_PERMISSION};
    let mut out = Vec::new();
    if let Some(c) = capacity.and_then(|c| serde_json::from_str::<TeamCapacity>(c).ok()) {
        out.push(match c.warning() {
            Some(w) => TeamsNote {
                warning: true,
                text: format!("{w} (counted {})", c.at),
            },
            None => TeamsNote {
                warning: false,
                text: format!("{} (counted {})", c.line(), c.at),
            },
        });
    }
    let json = |s: Option<&str>| s.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
    if let Some(i) = json(install).filter(|i| i["state"] == "refused") {
        out.push(TeamsNote {
            warning: true,
            text: format!(
                "Graph refused to install the bot's Teams app in the team ({}, {}): grant the \
                 application permission {INSTALL_PERMISSION} with admin consent, or install the \
                 app in the team by hand; run `pandora-ilert doctor`",
                i["reason"].as_str().unwrap_or_default(),
                i["at"].as_str().unwrap_or_default()
            ),
        });
    }
    if let Some(f) = json(private_fallback) {
        let via = if f["via"] == "webhook" {
            "its cards went through the webhook without details"
        } else {
            "its cards could not be posted (no [teams] webhook_url): dead letters"
        };
        out.push(TeamsNote {
            warning: true,
            text: format!(
                "the Teams bot was refused in the private channel '{}' ({}): Teams restricts \
                 apps in private channels; {via}",
                f["channel"].as_str().unwrap_or_default(),
                f["at"].as_str().unwrap_or_default()
            ),
        });
    }
    out
}

/// The `meta/` value a `watch` pass writes when it finishes.
pub const WATCH_ALIVE_META: &str = "watch-alive";

/// A watcher that has not finished a pass for this long is gone: a pass waits at most a few
/// seconds, and its slowest steps (chat reads, storms, the ilert mirror, archiving) have 20 s
/// each.
pub const WATCH_GONE_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// True when a watcher finished a pass recently enough to be running. Pure.
pub fn watch_running(last_pass: Timestamp, now: Timestamp) -> bool {
    now.since(last_pass) < WATCH_GONE_AFTER
}

/// How much of ilert's rate limit one alert source key has used (client-side pacing).
#[derive(Debug, Serialize)]
pub struct Pacing {
    /// The alert source (the key itself is never shown).
    pub source: String,
    /// Its budget now.
    #[serde(flatten)]
    pub view: PaceView,
}

/// A route in an alert storm, as shown.
#[derive(Debug, Serialize)]
pub struct Storm {
    /// Route.
    pub route: String,
    /// Since when.
    pub since: Timestamp,
    /// Incidents summarised in the storm channel instead of getting their own.
    pub incidents: u32,
    /// The storm channel, once opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// Collects the report.
pub fn collect(config: &Config, store: &Store, now: Timestamp) -> StatusReport {
    let open: Vec<Incident> = store.open_incidents();
    let open_count = open.len();
    let mut queued: Vec<QueuedEvent> = store
        .pending_all()
        .into_iter()
        .map(QueuedEvent::from)
        .collect();
    queued.sort_by(|a, b| (a.queued_at, &a.id).cmp(&(b.queued_at, &b.id)));
    let queue = Queue {
        count: queued.len(),
        oldest: queued.first().map(|q| q.queued_at),
        listed: queued,
    };
    collect_with(config, store, now, (open, open_count), queue)
}

/// Where a summary report's queue figures come from.
pub enum QueueFigures<'a> {
    /// `meta/queue-index` as the last run left it, unchecked (the fallback report a plugin
    /// run prints only if a later step hangs).
    AsIndexed,
    /// `outbox/` listed now.
    Listed,
    /// A scan this run took earlier, first brought up to date with this process's own writes
    /// (`Store::refresh_scan`); queue files other processes wrote since show next run.
    Scanned(&'a mut OutboxScan),
}

/// What the report says about the queue.
struct Queue {
    count: usize,
    oldest: Option<Timestamp>,
    listed: Vec<QueuedEvent>,
}

/// Markers the plugin's listing of `open/` keeps beyond the oldest it shows, for stale ones
/// (a crash between a resolution and its marker's removal) among them.
pub const STALE_SPARE: usize = 8;

/// The plugin's listing of `open/`: the count and the `listed` oldest markers, with a few
/// spare (one pass over `open/`, holding only those names), and the markers of the buckets
/// of the run's housekeeping slice if it has one; or the same from `meta/open-head` while
/// `open/` is as an earlier run listed it (`Store::open_index_head_cached`).
pub fn open_head(
    store: &Store,
    listed: usize,
    slice: Option<std::ops::Range<u32>>,
) -> OpenIndexHead {
    store.open_index_head_cached(listed + STALE_SPARE, slice)
}

/// The report for the plugin's health modules: the open-incident count from a listing of
/// the `open/` index (`open_head`) and only the `listed` oldest open records read, the queue from its index
/// (`Store::queue_summary`), so the run stays small with any number of incidents or queued
/// events in the store. `fallback`: the report a plugin run prints only if a later step
/// hangs; its queue figures are the index's as the last run left them, unchecked.
pub fn collect_summary(
    config: &Config,
    store: &Store,
    now: Timestamp,
    listed: usize,
    head: &OpenIndexHead,
    queue: QueueFigures<'_>,
) -> StatusReport {
    let open_count = head.count;
    let mut open: Vec<Incident> = head
        .oldest
        .iter()
        .filter_map(|(name, _)| store.open_incident_named(name))
        .take(listed)
        .collect();
    if open.len() < listed && head.oldest.len() < head.count {
        // More stale markers among the oldest than the head kept spare: read on through the
        // whole index.
        open = store
            .open_index()
            .iter()
            .filter_map(|(name, _)| store.open_incident_named(name))
            .take(listed)
            .collect();
    }
    let summary = match queue {
        QueueFigures::AsIndexed => store
            .queue_summary_as_indexed()
            .unwrap_or_else(|| store.queue_summary()),
        QueueFigures::Listed => store.queue_summary(),
        QueueFigures::Scanned(scan) => {
            store.refresh_scan(scan);
            store.queue_summary_of(scan)
        }
    };
    let queue = Queue {
        count: summary.entries,
        oldest: summary.oldest,
        listed: summary.failed.into_iter().map(QueuedEvent::from).collect(),
    };
    collect_with(config, store, now, (open, open_count), queue)
}

fn collect_with(
    config: &Config,
    store: &Store,
    now: Timestamp,
    (open, open_count): (Vec<Incident>, usize),
    queue: Queue,
) -> StatusReport {
    let watch_last_pass = store
        .read_meta(WATCH_ALIVE_META)
        .and_then(|t| Timestamp::parse_rfc3339(t.trim()));
    let mut open_incidents: Vec<OpenIncident> = open
        .into_iter()
        .map(|i| OpenIncident {
            subject: i.first.subject(),
            channel: i.chat.as_ref().and_then(|c| c.channel_name.clone()),
            key: i.key,
            route: i.route,
            opened_at: i.opened_at,
            times_fired: i.times_fired,
            drill: i.drill,
        })
        .collect();
    open_incidents.sort_by_key(|i| i.opened_at);
    let oldest_queued_age_secs = queue.oldest.map(|t| now.since(t).as_secs());
    let dead_letters = store
        .dead_letters()
        .into_iter()
        .map(|d| DeadEvent {
            key: d.entry.key.clone(),
            action: d.entry.action.label(),
            failed_at: d.failed_at,
            reason: d.reason,
        })
        .collect();
    let last_delivery = Lane::ALL
        .into_iter()
        .filter_map(|l| {
            store
                .last_success(l.name())
                .map(|t| (l.name().to_string(), t))
        })
        .collect();
    StatusReport {
        open_count,
        state_dir: config.state_dir.display().to_string(),
        open_incidents,
        queued_count: queue.count,
        queued: queue.listed,
        oldest_queued_age_secs,
        dead_letters,
        quarantined: store
            .quarantined()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        inbox: store.inbox_keys().len(),
        last_delivery,
        storms: config
            .routes
            .iter()
            .filter(|r| r.chat.is_some())
            .map(|r| store.load_storm(&r.name))
            .filter_map(|s| {
                Some(Storm {
                    since: s.active_since?,
                    incidents: s.total,
                    channel: s.chat.channel_name.clone(),
                    route: s.route,
                })
            })
            .collect(),
        pacing: pacing(config, store, now),
        rest_lookups: config.api_token.as_ref().and_then(|t| {
            let view = store
                .pace_log(&pace_name(REST_LOOKUPS_PACE, t.expose()))
                .view(Budget::REST_LOOKUPS, now);
            (view.used > 0 || view.next_slot.is_some()).then_some(view)
        }),
        watch_last_pass,
        watch_running: watch_last_pass.map(|t| watch_running(t, now)),
        teams: if config.teams.is_some() {
            use crate::chat::teams::{BOT_INSTALL_META, BOT_PRIVATE_FALLBACK_META, CAPACITY_META};
            teams_notes(
                store.read_meta(CAPACITY_META).as_deref(),
                store.read_meta(BOT_INSTALL_META).as_deref(),
                store.read_meta(BOT_PRIVATE_FALLBACK_META).as_deref(),
            )
        } else {
            Vec::new()
        },
    }
}

/// The events budget of each distinct integration key that has sent lately.
fn pacing(config: &Config, store: &Store, now: Timestamp) -> Vec<Pacing> {
    let budget = Budget {
        limit: config.events_per_window,
        window: config.events_window,
    };
    if budget.limit == 0 {
        return Vec::new();
    }
    let mut seen = std::collections::HashSet::new();
    config
        .routes
        .iter()
        .map(|r| &r.source)
        .filter(|s| seen.insert(s.key.expose().to_string()))
        .filter_map(|s| {
            let view = store
                .pace_log(&pace_name("ilert", s.key.expose()))
                .view(budget, now);
            (view.used > 0 || view.next_slot.is_some()).then(|| Pacing {
                source: s.name.clone(),
                view,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_notes_warn_at_eighty_percent_and_about_the_bot() {
        let cap = |listed: usize, deleted: usize| {
            format!(
                r#"{{"listed":{listed},"ours":5,"ours_archived":2,"deleted_recently":{deleted},"at":"2026-11-30T09:00:00Z"}}"#
            )
        };
        let n = teams_notes(Some(&cap(799, 0)), None, None);
        assert_eq!(n.len(), 1);
        assert!(
            !n[0].warning && n[0].text.starts_with("Teams team holds 799 of 1000"),
            "{n:?}"
        );
        let n = teams_notes(Some(&cap(790, 10)), None, None);
        assert!(
            n[0].warning && n[0].text.contains("holds 800 of 1000"),
            "{n:?}"
        );
        let refused = r#"{"state":"refused","app":"a","at":"t","reason":"HTTP 403 Forbidden: x"}"#;
        let n = teams_notes(None, Some(refused), None);
        assert!(
            n[0].warning
                && n[0]
                    .text
                    .contains("TeamsAppInstallation.ReadWriteSelfForTeam.All")
        );
        let installed = r#"{"state":"installed","app":"a","at":"t","reason":""}"#;
        assert!(teams_notes(None, Some(installed), None).is_empty());
        let fallback = r#"{"at":"t","channel":"secret","via":"none"}"#;
        let n = teams_notes(None, None, Some(fallback));
        assert!(n[0].warning && n[0].text.contains("dead letters"), "{n:?}");
        assert!(teams_notes(Some("not json"), None, None).is_empty());
    }
}
