//! pandora-ilert's own health as Pandora modules: what the plugin prints.
//!
//! Pure: the status report, this run's probes, the `data_in` scan and `now` go in, modules
//! come out. Each module is computed on its own, so a missing input only drops the modules
//! that need it. Thresholds follow Pandora's `min_*` rule (at or above is bad); `<status>` is
//! set where we know the state ourselves.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ChatPlatform;
use crate::data_in;
use crate::lifecycle::Lane;
use crate::pandora::module_xml::{Module, Status, Value};
use crate::status::StatusReport;
use crate::time::{human_duration, Timestamp};

/// Queued deliveries: any is worth a look, this many is an outage.
const QUEUED_WARNING: i64 = 1;
const QUEUED_CRITICAL: i64 = 50;
/// Age of the oldest queued delivery, seconds: a few retries, then a real outage.
const QUEUE_AGE_WARNING: i64 = 300;
const QUEUE_AGE_CRITICAL: i64 = 1800;
/// Files waiting in `data_in`.
const BACKLOG_WARNING: i64 = 1000;
/// Age of the oldest waiting data file, seconds: the server normally takes them within
/// seconds, and agents send every 300 s by default.
const BACKLOG_AGE_WARNING: i64 = 300;
const BACKLOG_AGE_CRITICAL: i64 = 900;
/// Items listed in a description at most.
pub const LISTED: usize = 5;

/// One observation of whether a destination answered: a delivery, a failed attempt, a
/// heartbeat ping.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// When.
    pub at: Timestamp,
    /// It worked.
    pub ok: bool,
    /// What happened, for the description.
    pub detail: String,
}

/// The newest observation decides; on a tie a failure wins (report the problem).
pub fn newest(evidence: impl IntoIterator<Item = Evidence>) -> Option<Evidence> {
    evidence
        .into_iter()
        .max_by(|a, b| a.at.cmp(&b.at).then(b.ok.cmp(&a.ok)))
}

/// What the `data_in` watch found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataIn {
    /// `data_in = ""`: not watched (not the Pandora server's host).
    Disabled,
    /// Not looked at in this run (yet).
    NotScanned,
    /// The folder could not be read.
    Unreadable {
        /// The folder.
        dir: String,
        /// The OS error.
        error: String,
    },
    /// The folder as listed.
    Scanned {
        /// The folder.
        dir: String,
        /// What it holds.
        scan: data_in::Scan,
    },
}

/// Everything the modules are computed from.
pub struct Inputs<'a> {
    /// Module name prefix.
    pub prefix: &'a str,
    /// Current time.
    pub now: Timestamp,
    /// The config file.
    pub config_path: &'a str,
    /// Warnings found loading the config.
    pub config_warnings: &'a [String],
    /// The store's state; `Err` says why the state directory cannot be used.
    pub report: Result<&'a StatusReport, String>,
    /// The newest heartbeat ping (this run's, or the last known); `None`: not configured.
    pub heartbeat: Option<Evidence>,
    /// Chat platforms configured.
    pub chat_backends: &'a [ChatPlatform],
    /// The `data_in` watch.
    pub data_in: &'a DataIn,
}

fn name(prefix: &str, what: &str) -> String {
    if prefix.is_empty() {
        what.to_string()
    } else {
        format!("{prefix} {what}")
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn proc_status(up: bool) -> Status {
    if up {
        Status::Normal
    } else {
        Status::Critical
    }
}

/// The module printed alone when the config cannot be loaded.
pub fn config_error(prefix: &str, error: &str) -> Module {
    Module::new(
        name(prefix, "config"),
        Value::Proc(false),
        format!("pandora-ilert cannot run: {error}"),
    )
    .status(Status::Critical)
}

/// How long this plugin run took; CRITICAL when it hit its own deadline.
pub fn run_time(prefix: &str, elapsed: Duration, deadline: Duration, overran: bool) -> Module {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let mut m = Module::new(
        name(prefix, "run time"),
        Value::Number(ms(elapsed)),
        if overran {
            format!(
                "this plugin run hit its deadline ({}) and printed what it had; the rest of its \
                 work continues next run. Check the log for the slow step (ilert or chat timeouts, \
                 a slow data_in folder).",
                human_duration(deadline)
            )
        } else {
            format!(
                "duration of this plugin run (deadline {}, [plugin] deadline in the config)",
                human_duration(deadline)
            )
        },
    )
    .unit("ms")
    .thresholds(Some(ms(deadline) * 3 / 4), Some(ms(deadline)));
    if overran {
        m = m.status(Status::Critical);
    }
    m
}

/// Every health module that the inputs allow, in a stable order.
pub fn modules(i: &Inputs<'_>) -> Vec<Module> {
    let mut out = vec![config_module(i)];
    match &i.report {
        Ok(r) => {
            out.push(
                Module::new(
                    name(i.prefix, "state directory"),
                    Value::Proc(true),
                    format!("state directory {} is usable", r.state_dir),
                )
                .status(Status::Normal),
            );
            out.extend(queue_modules(i, r));
            out.extend(lane_modules(i, r));
            out.push(open_incidents(i, r));
            out.push(quarantined(i, r));
            out.extend(teams_module(i, r));
            out.extend(watch_module(i, r));
        }
        Err(e) => out.push(
            Module::new(
                name(i.prefix, "state directory"),
                Value::Proc(false),
                format!(
                    "{e}: nothing can be queued or delivered; fix the permissions or state_dir"
                ),
            )
            .status(Status::Critical),
        ),
    }
    if i.report.is_err() {
        // Delivery health is unknown without the store, but a heartbeat still says something.
        out.extend(heartbeat_module(i));
    }
    out.extend(data_in_modules(i));
    out
}

/// Teams: the team's channel count against its limit, and what needs an admin (the bot's
/// installation, private channels); only when there is something to say.
fn teams_module(i: &Inputs<'_>, r: &StatusReport) -> Option<Module> {
    if r.teams.is_empty() {
        return None;
    }
    let warning = r.teams.iter().any(|n| n.warning);
    let text: Vec<&str> = r.teams.iter().map(|n| n.text.as_str()).collect();
    Some(
        Module::new(
            name(i.prefix, "teams"),
            Value::Proc(!warning),
            text.join("; "),
        )
        .status(if warning {
            Status::Warning
        } else {
            Status::Normal
        }),
    )
}

fn config_module(i: &Inputs<'_>) -> Module {
    let m = Module::new(
        name(i.prefix, "config"),
        Value::Proc(true),
        if i.config_warnings.is_empty() {
            format!("config {} loaded", i.config_path)
        } else {
            format!(
                "config {} loaded with {} warning(s): {}",
                i.config_path,
                i.config_warnings.len(),
                i.config_warnings.join("; ")
            )
        },
    );
    m.status(if i.config_warnings.is_empty() {
        Status::Normal
    } else {
        Status::Warning
    })
}

fn queue_modules(i: &Inputs<'_>, r: &StatusReport) -> Vec<Module> {
    let queued = r.queued.len() + r.inbox;
    let last_error = r
        .queued
        .iter()
        .filter(|q| q.last_error.is_some())
        .max_by_key(|q| q.last_attempt)
        .and_then(|q| q.last_error.as_deref().map(|e| format!(" Last error: {e}")))
        .unwrap_or_default();
    let mut out = vec![
        Module::new(
            name(i.prefix, "queued events"),
            Value::Number(count(queued)),
            format!(
                "deliveries waiting in the outbox ({}) and alerts waiting in the inbox ({}); \
                 they go out on the next run. Run `pandora-ilert status` for details.{last_error}",
                r.queued.len(),
                r.inbox
            ),
        )
        .unit("events")
        .thresholds(Some(QUEUED_WARNING), Some(QUEUED_CRITICAL)),
        Module::new(
            name(i.prefix, "oldest queued age"),
            Value::Number(
                r.oldest_queued_age_secs
                    .map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX)),
            ),
            "how long the oldest queued delivery has waited (0 when nothing is queued)",
        )
        .unit("s")
        .thresholds(Some(QUEUE_AGE_WARNING), Some(QUEUE_AGE_CRITICAL)),
    ];
    let listed: Vec<String> = r
        .dead_letters
        .iter()
        .take(3)
        .map(|d| format!("{} {}: {}", d.key, d.action, d.reason))
        .collect();
    out.push(
        Module::new(
            name(i.prefix, "dead letters"),
            Value::Number(count(r.dead_letters.len())),
            if listed.is_empty() {
                "deliveries refused for good (kept in dead/); none".to_string()
            } else {
                format!(
                    "deliveries refused for good (kept in dead/): {}. Fix the cause, then run \
                     `pandora-ilert requeue` and `pandora-ilert flush`",
                    listed.join("; ")
                )
            },
        )
        .unit("events")
        .thresholds(None, Some(1)),
    );
    if let Some(t) = r.last_delivery.get("ilert") {
        out.push(
            Module::new(
                name(i.prefix, "last delivery age"),
                Value::Number(secs(i.now.since(*t))),
                format!("time since ilert last accepted an event ({t})"),
            )
            .unit("s"),
        );
    }
    out
}

/// Observations of one lane from the store: its last success and its entries' failures.
fn lane_evidence(r: &StatusReport, lane: Lane) -> Vec<Evidence> {
    let mut ev: Vec<Evidence> = r
        .queued
        .iter()
        .filter(|q| q.lane == lane.name())
        .filter_map(|q| {
            Some(Evidence {
                at: q.last_attempt?,
                ok: false,
                detail: q.last_error.clone()?,
            })
        })
        .collect();
    if let Some(t) = r.last_delivery.get(lane.name()) {
        ev.push(Evidence {
            at: *t,
            ok: true,
            detail: "accepted a delivery".into(),
        });
    }
    ev
}

fn reachable_module(i: &Inputs<'_>, label: &str, what: &str, e: &Evidence) -> Module {
    Module::new(
        name(i.prefix, label),
        Value::Proc(e.ok),
        format!(
            "{what}: {} {} ago ({}){}",
            e.detail,
            human_duration(i.now.since(e.at)),
            e.at,
            if e.ok {
                ""
            } else {
                "; queued events are retried with backoff"
            }
        ),
    )
    .status(proc_status(e.ok))
}

/// Whether `pandora-ilert watch` is running; only once a watcher has ever run (the plugin
/// works alone). WARNING when it stopped: chat commands then wait for the next plugin run.
fn watch_module(i: &Inputs<'_>, r: &StatusReport) -> Option<Module> {
    let last = r.watch_last_pass?;
    let running = crate::status::watch_running(last, i.now);
    let ago = human_duration(i.now.since(last));
    let (text, status) = if running {
        (
            format!("pandora-ilert watch is running (last pass {ago} ago): chat commands act within seconds"),
            Status::Normal,
        )
    } else {
        (
            format!(
                "pandora-ilert watch is NOT running (last pass {ago} ago): chat commands wait for \
                 the next plugin run; see systemctl status pandora-ilert-watch"
            ),
            Status::Warning,
        )
    };
    Some(Module::new(name(i.prefix, "watch"), Value::Proc(running), text).status(status))
}

fn heartbeat_module(i: &Inputs<'_>) -> Option<Module> {
    let hb = i.heartbeat.as_ref()?;
    Some(reachable_module(i, "heartbeat", "ilert heartbeat ping", hb))
}

fn lane_modules(i: &Inputs<'_>, r: &StatusReport) -> Vec<Module> {
    let mut out = Vec::new();
    let mut ilert = lane_evidence(r, Lane::Ilert);
    ilert.extend(i.heartbeat.clone());
    if let Some(e) = newest(ilert) {
        out.push(reachable_module(i, "ilert reachable", "ilert", &e));
    }
    out.extend(heartbeat_module(i));
    for backend in i.chat_backends {
        if let Some(e) = newest(lane_evidence(r, Lane::Chat(*backend))) {
            out.push(reachable_module(
                i,
                &format!("chat {backend} reachable"),
                &format!("chat backend {backend}"),
                &e,
            ));
        }
    }
    out
}

fn open_incidents(i: &Inputs<'_>, r: &StatusReport) -> Module {
    let listed: Vec<String> = r
        .open_incidents
        .iter()
        .take(LISTED)
        .map(|o| {
            format!(
                "{} (open {}{})",
                o.subject,
                human_duration(i.now.since(o.opened_at)),
                if o.drill { ", drill" } else { "" }
            )
        })
        .collect();
    Module::new(
        name(i.prefix, "open incidents"),
        Value::Number(count(r.open_count)),
        if listed.is_empty() {
            "incidents open in ilert through pandora-ilert: none".to_string()
        } else {
            format!(
                "incidents open in ilert through pandora-ilert, oldest first: {}{}",
                listed.join("; "),
                more(r.open_count)
            )
        },
    )
    .unit("incidents")
}

fn more(total: usize) -> String {
    if total > LISTED {
        format!("; and {} more", total - LISTED)
    } else {
        String::new()
    }
}

fn quarantined(i: &Inputs<'_>, r: &StatusReport) -> Module {
    let listed: Vec<&str> = r
        .quarantined
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .take(LISTED)
        .collect();
    Module::new(
        name(i.prefix, "quarantined files"),
        Value::Number(count(r.quarantined.len())),
        if listed.is_empty() {
            "unreadable store files moved aside: none".to_string()
        } else {
            format!(
                "unreadable store files moved to {}/quarantine (inspect, then delete): {}{}",
                r.state_dir,
                listed.join(", "),
                more(r.quarantined.len())
            )
        },
    )
    .unit("files")
    .thresholds(Some(1), None)
}

fn data_in_modules(i: &Inputs<'_>) -> Vec<Module> {
    match i.data_in {
        DataIn::Disabled | DataIn::NotScanned => Vec::new(),
        DataIn::Unreadable { dir, error } => vec![Module::new(
            name(i.prefix, "data_in readable"),
            Value::Proc(false),
            format!(
                "cannot read Pandora's data_in folder {dir}: {error}. Give the agent's user read \
                 access, or set data_in = \"\" under [plugin] on hosts without a Pandora server"
            ),
        )
        .status(Status::Critical)],
        DataIn::Scanned { dir, scan } => {
            let partial = if scan.complete {
                ""
            } else {
                " (listing cut short by the run deadline: at least this many)"
            };
            let oldest = scan.oldest_pending.map_or(0, |t| secs(i.now.since(t)));
            let mut out = vec![
                Module::new(
                    name(i.prefix, "data_in backlog"),
                    Value::Number(count(scan.pending)),
                    format!(
                        "agent data files waiting in {dir} for the Pandora data server{partial}"
                    ),
                )
                .unit("files")
                .thresholds(Some(BACKLOG_WARNING), None),
                Module::new(
                    name(i.prefix, "data_in oldest age"),
                    Value::Number(oldest),
                    format!(
                        "age of the oldest data file waiting in {dir} (0 when none). A growing \
                         age means the data server is stalled: no module changes state and no \
                         alert can fire"
                    ),
                )
                .unit("s")
                .thresholds(Some(BACKLOG_AGE_WARNING), Some(BACKLOG_AGE_CRITICAL)),
            ];
            let described: Vec<String> = scan
                .rejected
                .iter()
                .filter(|r| r.diagnosis.is_some())
                .take(LISTED)
                .map(rejected_line)
                .collect();
            out.push(
                Module::new(
                    name(i.prefix, "data_in rejected"),
                    Value::Number(count(scan.rejected.len())),
                    if described.is_empty() {
                        format!("data files the server could not parse (*_BADXML in {dir}): none")
                    } else {
                        format!(
                            "data files the server could not parse (*_BADXML in {dir}); each lost \
                             every module of one agent interval. Fix the plugin or module named, \
                             then delete the file. Newest: {}{}",
                            described.join("; "),
                            more(scan.rejected.len())
                        )
                    },
                )
                .unit("files")
                .thresholds(Some(1), None),
            );
            let (latest, status) = match scan.rejected.first() {
                Some(r) => (rejected_line(r), Status::Warning),
                None => ("none".to_string(), Status::Normal),
            };
            out.push(
                Module::new(
                    name(i.prefix, "data_in last rejected"),
                    Value::Text(latest),
                    format!("the newest *_BADXML file in {dir}: whose it is and its first error"),
                )
                .status(status),
            );
            out
        }
    }
}

fn rejected_line(r: &data_in::Rejected) -> String {
    match &r.diagnosis {
        Some(d) => format!(
            "{} (agent {}): {}",
            r.name,
            d.agent.as_deref().unwrap_or("unknown"),
            d.problem
        ),
        None => format!("{} (not inspected in this run)", r.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::BTreeMap;

    use crate::status::{DeadEvent, OpenIncident, QueuedEvent};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_millis(s * 1000)
    }

    fn report() -> StatusReport {
        StatusReport {
            state_dir: "/var/spool/pandora-ilert".into(),
            open_count: 0,
            open_incidents: vec![],
            queued: vec![],
            oldest_queued_age_secs: None,
            dead_letters: vec![],
            quarantined: vec![],
            inbox: 0,
            last_delivery: BTreeMap::new(),
            watch_last_pass: None,
            watch_running: None,
            teams: Vec::new(),
            storms: Vec::new(),
            pacing: Vec::new(),
            rest_lookups: None,
        }
    }

    fn queued(lane: &str, at: i64, error: &str) -> QueuedEvent {
        QueuedEvent {
            id: format!("id-{at}"),
            key: "7".into(),
            action: format!("{lane} x"),
            lane: lane.into(),
            queued_at: t(at - 10),
            attempts: 1,
            last_attempt: Some(t(at)),
            last_error: Some(error.into()),
        }
    }

    fn run(
        r: Result<&StatusReport, String>,
        heartbeat: Option<Evidence>,
        data_in: DataIn,
    ) -> Vec<Module> {
        modules(&Inputs {
            prefix: "pandora-ilert",
            now: t(10_000),
            config_path: "/etc/pandora-ilert/pandora-ilert.toml",
            config_warnings: &[],
            report: r,
            heartbeat,
            chat_backends: &[ChatPlatform::Slack, ChatPlatform::Matrix],
            data_in: &data_in,
        })
    }

    fn get<'a>(ms: &'a [Module], n: &str) -> Option<&'a Module> {
        ms.iter().find(|m| m.name == format!("pandora-ilert {n}"))
    }

    #[test]
    fn quiet_store_gives_zeroes_and_no_guesses() {
        let r = report();
        let ms = run(Ok(&r), None, DataIn::Disabled);
        assert_eq!(get(&ms, "queued events").unwrap().value, Value::Number(0));
        assert_eq!(
            get(&ms, "oldest queued age").unwrap().value,
            Value::Number(0)
        );
        assert_eq!(get(&ms, "dead letters").unwrap().value, Value::Number(0));
        assert_eq!(get(&ms, "open incidents").unwrap().value, Value::Number(0));
        assert_eq!(get(&ms, "config").unwrap().status, Some(Status::Normal));
        assert!(
            get(&ms, "ilert reachable").is_none(),
            "nothing known, nothing claimed"
        );
        assert!(get(&ms, "last delivery age").is_none());
        assert!(get(&ms, "data_in backlog").is_none(), "disabled");
    }

    #[test]
    fn watch_module_only_once_a_watcher_ran_and_warns_when_it_stopped() {
        let mut r = report();
        let ms = run(Ok(&r), None, DataIn::Disabled);
        assert!(
            get(&ms, "watch").is_none(),
            "no watcher ever: nothing to say"
        );
        r.watch_last_pass = Some(t(10_000 - 5));
        let ms = run(Ok(&r), None, DataIn::Disabled);
        let m = get(&ms, "watch").unwrap();
        assert_eq!(
            (&m.value, m.status),
            (&Value::Proc(true), Some(Status::Normal))
        );
        r.watch_last_pass = Some(t(10_000 - 600));
        let ms = run(Ok(&r), None, DataIn::Disabled);
        let m = get(&ms, "watch").unwrap();
        assert_eq!(
            (&m.value, m.status),
            (&Value::Proc(false), Some(Status::Warning))
        );
        assert!(
            m.description.contains("NOT running (last pass 10m0s ago)"),
            "{}",
            m.description
        );
    }

    #[test]
    fn newest_observation_decides_reachability() {
        let mut r = report();
        r.last_delivery.insert("ilert".into(), t(9_000));
        r.queued.push(queued("ilert", 9_500, "HTTP 503"));
        let ms = run(Ok(&r), None, DataIn::Disabled);
        let m = get(&ms, "ilert reachable").unwrap();
        assert_eq!(m.value, Value::Proc(false));
        assert_eq!(m.status, Some(Status::Critical));
        assert!(m.description.contains("HTTP 503"), "{}", m.description);
        assert_eq!(
            get(&ms, "last delivery age").unwrap().value,
            Value::Number(1000)
        );

        let hb = Evidence {
            at: t(9_900),
            ok: true,
            detail: "heartbeat accepted".into(),
        };
        let ms = run(Ok(&r), Some(hb), DataIn::Disabled);
        assert_eq!(
            get(&ms, "ilert reachable").unwrap().value,
            Value::Proc(true)
        );
        assert_eq!(get(&ms, "heartbeat").unwrap().status, Some(Status::Normal));
    }

    #[test]
    fn a_failure_at_the_same_instant_wins() {
        let e = newest([
            Evidence {
                at: t(5),
                ok: true,
                detail: "a".into(),
            },
            Evidence {
                at: t(5),
                ok: false,
                detail: "b".into(),
            },
        ]);
        assert!(!e.unwrap().ok);
    }

    #[test]
    fn chat_lanes_only_for_configured_backends_with_evidence() {
        let mut r = report();
        r.queued.push(queued("chat:slack", 9_000, "timeout"));
        r.queued.push(queued("chat:teams", 9_000, "timeout"));
        let ms = run(Ok(&r), None, DataIn::Disabled);
        assert_eq!(
            get(&ms, "chat slack reachable").unwrap().value,
            Value::Proc(false)
        );
        assert!(get(&ms, "chat teams reachable").is_none(), "not configured");
        assert!(get(&ms, "chat matrix reachable").is_none(), "no evidence");
    }

    #[test]
    fn counts_and_lists_carry_the_store_contents() {
        let mut r = report();
        r.queued.push(queued("ilert", 9_000, "x"));
        r.inbox = 2;
        r.oldest_queued_age_secs = Some(1000);
        r.dead_letters.push(DeadEvent {
            key: "9".into(),
            action: "ilert ALERT".into(),
            failed_at: t(1),
            reason: "HTTP 400".into(),
        });
        r.quarantined
            .push("/s/quarantine/bad\u{FFFD}name.json.1".into());
        r.open_incidents.push(OpenIncident {
            key: "k".into(),
            subject: "web ]]> 01 / CPU".into(),
            route: "default".into(),
            opened_at: t(9_000),
            times_fired: 1,
            channel: None,
            drill: false,
        });
        r.open_count = 1;
        let ms = run(Ok(&r), None, DataIn::Disabled);
        assert_eq!(get(&ms, "queued events").unwrap().value, Value::Number(3));
        assert_eq!(
            get(&ms, "oldest queued age").unwrap().value,
            Value::Number(1000)
        );
        let dead = get(&ms, "dead letters").unwrap();
        assert_eq!(dead.value, Value::Number(1));
        assert_eq!(dead.min_critical, Some(1));
        assert!(get(&ms, "open incidents")
            .unwrap()
            .description
            .contains("web ]]> 01 / CPU"));
        assert!(get(&ms, "quarantined files")
            .unwrap()
            .description
            .contains("bad\u{FFFD}name"));
    }

    #[test]
    fn unusable_store_is_one_critical_module_and_the_rest_still_prints() {
        let hb = Evidence {
            at: t(9_990),
            ok: false,
            detail: "HTTP 404".into(),
        };
        let ms = run(
            Err("cannot create directory /x: Permission denied".into()),
            Some(hb),
            DataIn::Scanned {
                dir: "/d".into(),
                scan: data_in::Scan {
                    complete: true,
                    ..Default::default()
                },
            },
        );
        let s = get(&ms, "state directory").unwrap();
        assert_eq!(
            (s.value.clone(), s.status),
            (Value::Proc(false), Some(Status::Critical))
        );
        assert!(get(&ms, "heartbeat").is_some());
        assert!(get(&ms, "data_in backlog").is_some());
        assert!(get(&ms, "queued events").is_none());
    }

    #[test]
    fn data_in_backlog_and_rejected_files() {
        let scan = data_in::Scan {
            pending: 4,
            oldest_pending: Some(t(9_000)),
            rejected: vec![data_in::Rejected {
                name: "db.1.data_BADXML".into(),
                modified: Some(t(8_000)),
                diagnosis: Some(data_in::Diagnosis {
                    agent: Some("db".into()),
                    problem: "line 3 column 9: bad".into(),
                }),
            }],
            complete: true,
        };
        let r = report();
        let ms = run(
            Ok(&r),
            None,
            DataIn::Scanned {
                dir: "/var/spool/pandora/data_in".into(),
                scan,
            },
        );
        assert_eq!(get(&ms, "data_in backlog").unwrap().value, Value::Number(4));
        let age = get(&ms, "data_in oldest age").unwrap();
        assert_eq!(age.value, Value::Number(1000));
        assert_eq!(age.min_critical, Some(BACKLOG_AGE_CRITICAL));
        assert_eq!(
            get(&ms, "data_in rejected").unwrap().value,
            Value::Number(1)
        );
        let last = get(&ms, "data_in last rejected").unwrap();
        assert_eq!(
            last.value,
            Value::Text("db.1.data_BADXML (agent db): line 3 column 9: bad".into())
        );
        assert_eq!(last.status, Some(Status::Warning));

        let ms = run(
            Ok(&r),
            None,
            DataIn::Unreadable {
                dir: "/d".into(),
                error: "denied".into(),
            },
        );
        assert_eq!(
            get(&ms, "data_in readable").unwrap().value,
            Value::Proc(false)
        );
    }

    #[test]
    fn run_time_is_critical_when_the_deadline_was_hit() {
        let m = run_time(
            "p",
            Duration::from_millis(1500),
            Duration::from_secs(20),
            false,
        );
        assert_eq!(m.value, Value::Number(1500));
        assert_eq!(
            (m.min_warning, m.min_critical),
            (Some(15_000), Some(20_000))
        );
        assert_eq!(m.status, None);
        let m = run_time("p", Duration::from_secs(20), Duration::from_secs(20), true);
        assert_eq!(m.status, Some(Status::Critical));
    }
}
