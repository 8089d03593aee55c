//! `pandora-ilert test [--route NAME]`: a drill. Fires a clearly labelled alert through the real
//! configured route (ilert, channel, pin, topic, invites, stakeholder line), resolves it, and
//! prints a checklist of every hop with its result and time, so a team can rehearse and an
//! administrator can prove a new configuration works.

use serde::Serialize;

use crate::config::{Config, IlertPriority, Route};
use crate::deadline::Deadline;
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::ilert::IlertEventType;
use crate::incident::Incident;
use crate::lifecycle::Action;
use crate::pandora::{Alert, AlertInput};
use crate::stdout::outln;
use crate::store::{EventKind, EventLogLine, Step, Store};
use crate::time::Timestamp;

use super::alert::handle;

/// One hop of the drill.
#[derive(Clone, Debug, Serialize)]
pub struct Hop {
    /// What was checked.
    pub what: String,
    /// It worked.
    pub ok: bool,
    /// Seconds since the drill started, when the store's event log timed it.
    pub after_secs: Option<f64>,
    /// Why not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The drill's result.
#[derive(Clone, Debug, Serialize)]
pub struct Drill {
    /// Route.
    pub route: String,
    /// Incident key.
    pub key: String,
    /// Channel, if the route has one.
    pub channel: Option<String>,
    /// Hops in order.
    pub hops: Vec<Hop>,
    /// Whole drill, seconds.
    pub total_secs: f64,
    /// Queued events removed because the drill never reached ilert.
    pub dropped: usize,
}

/// True for an ilert event of type `t`.
fn is_ilert(action: &Action, t: IlertEventType) -> bool {
    matches!(action, Action::Ilert(e) if e.event_type == t)
}

fn drill_alert(route: &Route, now: Timestamp, event: &str) -> Result<Alert, AppError> {
    let id = now.secs().to_string();
    let input = AlertInput {
        event: Some(event.into()),
        alert_id: Some(id.clone()),
        agent: Some("pandora-ilert drill".into()),
        module: Some(format!("end-to-end test of route {}", route.name)),
        data: Some("1".into()),
        severity: Some("Critical".into()),
        summary: Some(format!(
            "[DRILL] pandora-ilert end-to-end test via route {}: no action needed",
            route.name
        )),
        details: Some(
            "A drill started with `pandora-ilert test`. It resolves itself within seconds.".into(),
        ),
        group: Some("pandora-ilert".into()),
        extra: vec![("drill".into(), "true".into())],
        ..Default::default()
    };
    let mut alert = Alert::from_input(&input, "").map_err(AppError::Input)?;
    alert.key = format!("drill-{id}");
    Ok(alert)
}

/// Runs the drill at `priority` (LOW unless asked: a rehearsal should not wake anyone).
pub fn run(
    config: &Config,
    route: Option<&str>,
    priority: IlertPriority,
    json: bool,
) -> Result<Exit, AppError> {
    let route = match route {
        Some(name) => config.route(name).ok_or_else(|| {
            let names: Vec<&str> = config.routes.iter().map(|r| r.name.as_str()).collect();
            AppError::Usage(format!(
                "--route {name:?} is not a route{}",
                crate::config::suggestion(name, &names)
            ))
        })?,
        None => config
            .routes
            .iter()
            .find(|r| r.matcher.is_catch_all())
            .ok_or_else(|| AppError::Internal("no default route".into()))?,
    };
    // The drill's own copy of the config: its route pages at the drill's priority.
    let mut drill_config = config.clone();
    let route_name = route.name.clone();
    for r in drill_config
        .routes
        .iter_mut()
        .filter(|r| r.name == route_name)
    {
        r.priority = Some(priority);
    }
    let config = &drill_config;
    let route = config
        .route(&route_name)
        .ok_or_else(|| AppError::Internal("the drill's route vanished".into()))?;
    let store = Store::open(&config.state_dir)?;
    let http = Http::new(config.scrubber());
    // The hops are timed by the event log's millisecond clock from `t0`; the total is too, so
    // no hop can be reported after the total (two clocks differed by up to a millisecond).
    let t0 = Timestamp::now();
    let deadline = Deadline::after(config.flush_deadline);

    let fire = drill_alert(route, t0, "alert")?;
    let key = fire.key.clone();
    let fired = handle(
        config,
        &store,
        &http,
        fire,
        Some(route.name.clone()),
        deadline,
        Timestamp::now(),
    )?;
    let after_fire = store.load_incident(&key);
    let resolve = drill_alert(route, t0, "resolved")?;
    let resolved = handle(
        config,
        &store,
        &http,
        resolve,
        Some(route.name.clone()),
        deadline,
        Timestamp::now(),
    )?;
    let incident = store.load_incident(&key);

    let events = store.events(&key);
    let secs = |e: &EventLogLine| e.at.since(t0).as_secs_f64();
    // When a step was first done, by the store's event log.
    let at = |step: Step| events.iter().find(|e| e.step == Some(step)).map(secs);
    // Why the queued or dead-lettered actions that `is` picks were not delivered.
    let pending_error = |is: &dyn Fn(&Action) -> bool| {
        store
            .pending_for(&key)
            .into_iter()
            .chain(
                store
                    .dead_letters()
                    .into_iter()
                    .map(|d| d.entry)
                    .filter(|e| e.key == key),
            )
            .find(|e| is(&e.action))
            .map(|e| e.last_error.unwrap_or_else(|| "not delivered yet".into()))
    };
    let mut hops = Vec::new();
    let mut hop = |what: String, ok: bool, after_secs: Option<f64>, err: Option<String>| {
        hops.push(Hop {
            what,
            ok,
            after_secs,
            error: if ok {
                None
            } else {
                err.or(Some("not done".into()))
            },
        });
    };
    let delivered = |h: &Option<super::alert::Handled>, t: IlertEventType| {
        h.as_ref()
            .is_some_and(|h| h.outcome.done.iter().any(|a| is_ilert(a, t)))
    };
    hop(
        "ilert accepted the ALERT".into(),
        delivered(&fired, IlertEventType::Alert),
        at(Step::IlertAlert),
        pending_error(&|a| is_ilert(a, IlertEventType::Alert)),
    );
    if let Some(chat) = &route.chat {
        let c = after_fire
            .as_ref()
            .and_then(|i| i.chat.clone())
            .unwrap_or_default();
        let chat_err = pending_error(&|a| matches!(a, Action::Chat(_)));
        let name = c.channel_name.clone().unwrap_or_else(|| "(none)".into());
        let kind = if route.chat.as_ref().is_some_and(|c| c.private) {
            "private"
        } else {
            "public"
        };
        hop(
            format!("{kind} channel #{name} opened on {}", chat.backend),
            c.channel_id.is_some(),
            at(Step::ChannelOpened),
            chat_err.clone(),
        );
        if !chat.invite.is_empty() {
            let all = chat.invite.iter().all(|u| c.invited.contains(u));
            hop(
                format!("responders invited: {}", chat.invite.join(", ")),
                all,
                at(Step::Invited),
                chat_err.clone(),
            );
        }
        hop(
            "alert message posted".into(),
            c.message_id.is_some(),
            at(Step::AlertPosted),
            chat_err.clone(),
        );
        if crate::chat::backend(
            chat.backend,
            &crate::chat::Context {
                config,
                store: &store,
                http: &http,
                deadline,
                now: t0,
            },
        )
        .map(|b| b.capabilities().pin)
        .unwrap_or(false)
        {
            hop(
                "alert message pinned".into(),
                c.pinned,
                at(Step::Pinned),
                chat_err.clone(),
            );
        }
        if let Some(t) = &c.topic {
            hop(
                format!("topic set to \"{t}\""),
                true,
                at(Step::TopicSet),
                None,
            );
        }
        if let Some(s) = &chat.stakeholder_channel {
            hop(
                format!("stakeholder line in {s}"),
                c.extra.contains_key("stakeholder_opened"),
                at(Step::StakeholderLine),
                chat_err.clone(),
            );
        }
    }
    hop(
        "ilert accepted the RESOLVE".into(),
        delivered(&resolved, IlertEventType::Resolve),
        at(Step::IlertResolve),
        pending_error(&|a| is_ilert(a, IlertEventType::Resolve)),
    );
    if route.chat.is_some() {
        let c = incident
            .as_ref()
            .and_then(|i: &Incident| i.chat.clone())
            .unwrap_or_default();
        let chat_err = pending_error(&|a| matches!(a, Action::Chat(_)));
        hop(
            "recovery message posted".into(),
            c.recovery_message_id.is_some(),
            at(Step::RecoveryPosted),
            chat_err.clone(),
        );
        if c.rendered_resolved || c.topic.as_deref().is_some_and(|t| t.contains("RESOLVED")) {
            // The first re-render of the topic or the pinned message once Pandora's recovery
            // was taken in.
            let resolved = events.iter().find(|e| e.kind == EventKind::Resolved);
            let shown = resolved.and_then(|r| {
                events
                    .iter()
                    .filter(|e| e.at >= r.at)
                    .find(|e| matches!(e.step, Some(Step::TopicSet | Step::AlertUpdated)))
            });
            hop(
                "pinned message and topic show RESOLVED".into(),
                true,
                shown.map(secs),
                None,
            );
        }
    }

    // A drill that never reached ilert must not fire later, at a random hour, from the live
    // queue: take its leftovers out (ilert has nothing of it to resolve).
    let reached_ilert = delivered(&fired, IlertEventType::Alert);
    let mut dropped = 0;
    if !reached_ilert {
        let saved = store.update_record(&key, crate::store::Durability::Commit, |r| {
            dropped = r.queue.len();
            r.queue.clear();
        });
        if let Err(e) = saved {
            log::error!("drill {key}: {e}; its queued events stay queued");
            dropped = 0;
        }
    }
    let drill = Drill {
        route: route.name.clone(),
        key: key.clone(),
        channel: incident
            .as_ref()
            .and_then(|i| i.chat.as_ref())
            .and_then(|c| c.channel_name.clone()),
        hops,
        total_secs: Timestamp::now().since(t0).as_secs_f64(),
        dropped,
    };
    let failed = drill.hops.iter().filter(|h| !h.ok).count();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&drill).map_err(|e| AppError::Internal(e.to_string()))?
        );
    } else {
        outln!(
            "Drill via route '{}' (incident {}{})",
            drill.route,
            drill.key,
            drill
                .channel
                .as_deref()
                .map(|c| format!(", channel #{c}"))
                .unwrap_or_default()
        );
        for h in &drill.hops {
            let time = h
                .after_secs
                .map(|s| format!("+{s:.2}s"))
                .unwrap_or_default();
            let mark = if h.ok { "ok  " } else { "FAIL" };
            outln!("  [{mark}] {:<58} {time}", h.what);
            if let Some(e) = &h.error {
                outln!("         {e}");
            }
        }
        outln!(
            "{} of {} hops OK in {:.2}s.{}",
            drill.hops.len() - failed,
            drill.hops.len(),
            drill.total_secs,
            if drill.channel.is_some() {
                " The drill channel is archived by the next archive pass."
            } else {
                ""
            }
        );
        if dropped > 0 {
            outln!(
                "The drill could not reach ilert, so it did not finish: its {dropped} queued event(s) \
                 were removed and will not be sent later. Fix the cause (`pandora-ilert doctor`) and \
                 run the drill again."
            );
        } else if failed > 0 {
            outln!("What did not go through stays queued; `pandora-ilert status` shows why, `flush` retries.");
        }
    }
    log::info!(
        "drill route={} key={key} hops_ok={} failed={failed}",
        drill.route,
        drill.hops.len() - failed
    );
    Ok(if failed == 0 {
        Exit::Ok
    } else if store.dead_letters().iter().any(|d| d.entry.key == key) {
        Exit::Config
    } else {
        Exit::Queued
    })
}
