//! `pandora-ilert status`: what is open, queued, dead and broken. The same report feeds the
//! plugin's health modules.

use std::time::Duration;

use serde::Serialize;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::pacing::{Budget, PaceView};
use crate::stdout::outln;
use crate::store::pacing::pace_name;
use crate::store::Store;
use crate::time::{human_duration, Timestamp};

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
    /// Open incidents.
    pub open_incidents: Vec<OpenIncident>,
    /// Queued deliveries, oldest first.
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
    /// When a `pandora-ilert watch` last finished a pass, if one ever ran.
    pub watch_last_pass: Option<Timestamp>,
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
    let mut open_incidents: Vec<OpenIncident> = store
        .open_incidents()
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
    let mut queued: Vec<QueuedEvent> = store
        .pending_all()
        .into_iter()
        .map(|e| QueuedEvent {
            action: e.action.label(),
            lane: e.action.lane(),
            last_attempt: e.last_attempt,
            id: e.id,
            key: e.key,
            queued_at: e.created_at,
            attempts: e.attempts,
            last_error: e.last_error,
        })
        .collect();
    queued.sort_by(|a, b| (a.queued_at, &a.id).cmp(&(b.queued_at, &b.id)));
    let oldest_queued_age_secs = queued.first().map(|q| now.since(q.queued_at).as_secs());
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
    let mut lanes = vec!["ilert".to_string()];
    lanes.extend(
        ["slack", "teams", "matrix"]
            .iter()
            .map(|b| format!("chat:{b}")),
    );
    let last_delivery = lanes
        .into_iter()
        .filter_map(|l| store.last_success(&l).map(|t| (l, t)))
        .collect();
    StatusReport {
        state_dir: config.state_dir.display().to_string(),
        open_incidents,
        queued,
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
        watch_last_pass: store
            .read_meta(super::watch::ALIVE_META)
            .and_then(|t| Timestamp::parse_rfc3339(t.trim())),
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

/// Runs `status`.
pub fn run(config: &Config, json: bool) -> Result<Exit, AppError> {
    let store = Store::open_read_only(&config.state_dir);
    let now = Timestamp::now();
    let r = collect(config, &store, now);
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| AppError::Internal(e.to_string()))?
        );
        return Ok(Exit::Ok);
    }
    let age = |t: Timestamp| human_duration(now.since(t));
    outln!("state directory: {}", r.state_dir);
    outln!("open incidents: {}", r.open_incidents.len());
    for i in &r.open_incidents {
        outln!(
            "  {:<12} {}  route {}  open {}  fired {}x{}{}",
            i.key,
            i.subject,
            i.route,
            age(i.opened_at),
            i.times_fired,
            i.channel
                .as_deref()
                .map(|c| format!("  #{c}"))
                .unwrap_or_default(),
            if i.drill { "  (drill)" } else { "" }
        );
    }
    outln!(
        "queued events: {}{}",
        r.queued.len(),
        r.oldest_queued_age_secs
            .map(|s| format!(" (oldest {})", human_duration(Duration::from_secs(s))))
            .unwrap_or_default()
    );
    for q in r.queued.iter().take(20) {
        outln!(
            "  {:<12} {:<18} queued {} ago, {} attempt(s){}",
            q.key,
            q.action,
            age(q.queued_at),
            q.attempts,
            q.last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        );
    }
    if r.inbox > 0 {
        outln!(
            "inbox: {} incident(s) with alerts not yet planned (run flush)",
            r.inbox
        );
    }
    outln!("dead letters: {}", r.dead_letters.len());
    for d in &r.dead_letters {
        outln!(
            "  {:<12} {:<18} {}: {}",
            d.key,
            d.action,
            d.failed_at,
            d.reason
        );
    }
    if !r.dead_letters.is_empty() {
        outln!("  fix the cause, then run `pandora-ilert requeue` and `pandora-ilert flush`");
    }
    outln!("quarantined files: {}", r.quarantined.len());
    for q in &r.quarantined {
        outln!("  {q}");
    }
    for s in &r.storms {
        outln!(
            "ALERT STORM on route {} for {}: {} incident(s) summarised{} instead of one channel each",
            s.route,
            age(s.since),
            s.incidents,
            s.channel.as_deref().map(|c| format!(" in #{c}")).unwrap_or_default()
        );
    }
    for p in &r.pacing {
        outln!(
            "ilert pacing, source {}: {} of {} events in the last {}{}",
            p.source,
            p.view.used,
            p.view.limit,
            human_duration(Duration::from_secs(p.view.window_secs)),
            match p.view.next_slot {
                Some(t) if p.view.rate_limited => format!(
                    "; ilert answered 429, holding back until {t} ({} from now)",
                    human_duration(t.since(now))
                ),
                Some(t) => format!(
                    "; budget spent, next event at {t} ({} from now)",
                    human_duration(t.since(now))
                ),
                None => String::new(),
            }
        );
    }
    for (lane, t) in &r.last_delivery {
        outln!("last delivery to {lane}: {t} ({} ago)", age(*t));
    }
    if let Some(t) = r.watch_last_pass {
        // A pass takes seconds: a minute without one means the watcher is gone.
        let alive = now.since(t) < std::time::Duration::from_secs(60);
        outln!(
            "watch: last pass {t} ({} ago){}",
            age(t),
            if alive {
                ", running"
            } else {
                ", NOT running: chat commands wait for the plugin"
            }
        );
    }
    Ok(Exit::Ok)
}
