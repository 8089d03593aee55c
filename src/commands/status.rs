//! `pandora-ilert status`: prints the status report (`crate::status`), as text or JSON.

use std::time::Duration;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;
use crate::status::collect;
use crate::stdout::outln;
use crate::store::Store;
use crate::time::{human_duration, Timestamp};

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
        r.queued_count,
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
    if let Some(v) = &r.rest_lookups {
        outln!(
            "ilert pacing, REST API lookups by the alert command: {} of {} in the last {}{}",
            v.used,
            v.limit,
            human_duration(Duration::from_secs(v.window_secs)),
            match v.next_slot {
                Some(t) => format!(
                    "; budget spent, the next plugin pass finds new alerts (next lookup at {t})"
                ),
                None => String::new(),
            }
        );
    }
    for (lane, t) in &r.last_delivery {
        outln!("last delivery to {lane}: {t} ({} ago)", age(*t));
    }
    for n in &r.teams {
        outln!("{}{}", if n.warning { "WARNING " } else { "" }, n.text);
    }
    if let Some(t) = r.watch_last_pass {
        let alive = crate::status::watch_running(t, now);
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
