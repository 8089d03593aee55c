//! A fake ilert that follows the events API contract (reference ilert.md): `POST /api/events`
//! with a JSON body; 202 on accept; 400 with an error body for an unknown integration key or a
//! malformed event; and the Pandora FMS endpoint `POST /api/v1/events/pandorafms/{key}`.
//! Heartbeats: the legacy `/api/heartbeats/{key}` for `il1hbt` keys only, and heartbeat
//! monitors pinged with HEAD at `/api/pings/{key}` on the beat host (this same server; tests
//! point `heartbeat_url` at it). Rate limits as ilert documents them: 50 events a minute per
//! integration key and 5 pings a minute per heartbeat key, then 429 without `Retry-After`.
//! The REST API (reference ilert.md §4) with a user API key: Bearer auth, the alert source by
//! integration key, `/api/alerts` filtered by source and state with paging, accept/resolve by
//! id. Alerts are opened, accepted and resolved by the events we accept, like ilert does.
//! Tests switch it into failure modes (500, 429 + Retry-After, slow) at will.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::http::{Recorded, Reply, Server};

pub const KEY: &str = "il1api123";
/// The user API key the REST API accepts.
pub const API_TOKEN: &str = "il1-user-token-5150";
/// The id of the alert source whose integration key is `KEY`.
pub const SOURCE_ID: i64 = 4711;

/// The on-call of the escalation policy's first rule: ilert adds them as a responder when it
/// opens an alert (ilert-docs `on-call-management-and-escalations/escalation-policies.md`: "the
/// user on-call at the time of the alert assignment will be added as a responder").
pub const FIRST_RESPONDER: (&str, &str) = ("Jane", "Doe");

/// An alert as the fake ilert keeps it.
#[derive(Clone, Debug)]
pub struct FakeAlert {
    pub id: i64,
    pub alert_key: String,
    pub status: String,
    /// (first name, last name, `PENDING` | `ACCEPTED`), in the order ilert assigned them.
    pub responders: Vec<(String, String, String)>,
    /// openapi `Alert.nextEscalationRuleIndex`: the rule the alert escalates to next, so 1
    /// while the first rule's responders are paged.
    pub next_rule_index: u32,
    created: Instant,
}

impl FakeAlert {
    /// The alert as `GET /api/alerts` and `GET /api/alerts/{id}` serve it: openapi `Alert`
    /// (`responders` of `AlertResponder {user: UserRel, status}`, `nextEscalationRuleIndex` a
    /// number, `nextEscalation` a date-time).
    fn json(&self) -> serde_json::Value {
        let responders: Vec<serde_json::Value> = self
            .responders
            .iter()
            .enumerate()
            .map(|(n, (f, l, status))| {
                json!({"user": {"id": 100 + n, "firstName": f, "lastName": l}, "status": status})
            })
            .collect();
        json!({
            "id": self.id,
            "alertKey": self.alert_key,
            "status": self.status,
            "summary": "x",
            "alertSource": {"id": SOURCE_ID},
            "responders": responders,
            "nextEscalationRuleIndex": self.next_rule_index,
            "nextEscalation": "2026-11-30T10:00:00Z",
        })
    }

    /// `first last` accepts: the alert is accepted and they are among its responders.
    fn accept(&mut self, first: &str, last: &str) {
        self.status = "ACCEPTED".into();
        match self
            .responders
            .iter_mut()
            .find(|(f, l, _)| f == first && l == last)
        {
            Some(r) => r.2 = "ACCEPTED".into(),
            None => self
                .responders
                .push((first.into(), last.into(), "ACCEPTED".into())),
        }
    }
}

/// The alert source settings the REST API reports (ilert's `AlertSource`).
#[derive(Clone, Debug)]
pub struct SourceSettings {
    pub alert_creation: String,
    pub priority_rule: String,
}

#[derive(Debug, Default)]
struct Alerts {
    list: Vec<FakeAlert>,
    source: Option<SourceSettings>,
    /// ilert creates alerts asynchronously (the events API answers 202 "accepted", openapi
    /// `/events`): an alert is listed this long after its event.
    listed_after: Duration,
    /// `GET /api/alerts` calls served.
    list_calls: u32,
}

impl Alerts {
    /// The newest alert with `alert_key` whose status `wanted` accepts.
    fn newest(&mut self, alert_key: &str, wanted: fn(&str) -> bool) -> Option<&mut FakeAlert> {
        self.list
            .iter_mut()
            .rev()
            .find(|a| a.alert_key == alert_key && wanted(&a.status))
    }
}

impl Alerts {
    fn listed(&self) -> impl Iterator<Item = &FakeAlert> {
        let d = self.listed_after;
        self.list.iter().filter(move |a| a.created.elapsed() >= d)
    }

    /// What ilert does with an accepted event: open (or append to) the open alert with the
    /// alertKey (compared case-insensitively), accept or resolve it.
    fn apply_event(&mut self, j: &serde_json::Value) {
        let Some(key) = j["alertKey"].as_str() else {
            return;
        };
        let open = self
            .list
            .iter_mut()
            .rev()
            .find(|a| a.status != "RESOLVED" && a.alert_key.eq_ignore_ascii_case(key));
        match (j["eventType"].as_str().unwrap_or(""), open) {
            ("ALERT", None) => {
                let id = 90_000 + self.list.len() as i64;
                let (f, l) = FIRST_RESPONDER;
                self.list.push(FakeAlert {
                    id,
                    alert_key: key.to_string(),
                    status: "PENDING".into(),
                    responders: vec![(f.into(), l.into(), "PENDING".into())],
                    next_rule_index: 1,
                    created: Instant::now(),
                });
            }
            ("ACCEPT", Some(a)) => a.status = "ACCEPTED".into(),
            ("RESOLVE", Some(a)) => a.status = "RESOLVED".into(),
            _ => {}
        }
    }
}

/// A legacy heartbeat alert source's key (`il1hbt` prefix).
pub const HEARTBEAT_KEY: &str = "il1hbt456";
/// A heartbeat monitor's key (Heartbeat 2.0, pinged on the beat host).
pub const HEARTBEAT2_KEY: &str = "hb2-7f3a9c01";
const HEARTBEAT_PATH: &str = "/api/heartbeats/";
const PING_PATH: &str = "/api/pings/";

fn heartbeat_key(r: &Recorded) -> Option<&str> {
    r.path
        .strip_prefix(HEARTBEAT_PATH)
        .or_else(|| r.path.strip_prefix(PING_PATH))
}

fn is_heartbeat(r: &Recorded) -> bool {
    heartbeat_key(r).is_some()
}

/// Fixed-window request counters per key, as ilert counts ("429 until a new window starts",
/// ilert-docs `rest-api/alertsource-throttle.md`).
#[derive(Debug)]
struct Throttle {
    events_limit: u32,
    events_window: Duration,
    counts: HashMap<String, (u128, u32)>,
    refused: u32,
}

impl Throttle {
    /// True when `key` may make one more request in the current window (and counts it).
    fn admit(&mut self, key: &str, limit: u32, window: Duration) -> bool {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let slot = now / window.as_millis().max(1);
        let c = self.counts.entry(key.to_string()).or_insert((slot, 0));
        if c.0 != slot {
            *c = (slot, 0);
        }
        if c.1 >= limit {
            self.refused += 1;
            return false;
        }
        c.1 += 1;
        true
    }
}

/// ilert's documented answer over the limit: 429, no `Retry-After` (none is documented).
fn too_many() -> Reply {
    Reply::json(
        429,
        json!({"status": 429, "code": "TOO_MANY_REQUESTS", "message": "Too many requests"}),
    )
}

#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    Accept,
    Fail(u16),
    RateLimited(u64),
    Slow(Duration),
}

pub struct FakeIlert {
    pub server: Server,
    mode: Arc<Mutex<Mode>>,
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    throttle: Arc<Mutex<Throttle>>,
    alerts: Arc<Mutex<Alerts>>,
}

impl FakeIlert {
    pub fn start() -> FakeIlert {
        let mode = Arc::new(Mutex::new(Mode::Accept));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        // ilert-docs `rest-api/alertsource-throttle.md`: 50 requests a minute per alert-source
        // integration key.
        let throttle = Arc::new(Mutex::new(Throttle {
            events_limit: 50,
            events_window: Duration::from_secs(60),
            counts: HashMap::new(),
            refused: 0,
        }));
        let alerts = Arc::new(Mutex::new(Alerts {
            list: Vec::new(),
            source: Some(SourceSettings {
                alert_creation: "ONE_ALERT_PER_EMAIL".into(),
                priority_rule: "HIGH".into(),
            }),
            ..Alerts::default()
        }));
        let (m, acc, th, al) = (
            mode.clone(),
            accepted.clone(),
            throttle.clone(),
            alerts.clone(),
        );
        let server = Server::start(move |r| {
            if is_rest(r) {
                return rest(r, &mut al.lock().unwrap());
            }
            let reply = match throttled(r, &mut th.lock().unwrap()) {
                Some(refusal) => refusal,
                None => respond(r, &m.lock().unwrap()),
            };
            if reply.status == 202 && !is_heartbeat(r) {
                acc.lock().unwrap().push(r.json());
                if r.path == "/api/events" {
                    al.lock().unwrap().apply_event(&r.json());
                }
            }
            reply
        });
        FakeIlert {
            server,
            mode,
            accepted,
            throttle,
            alerts,
        }
    }

    /// The alerts ilert holds, oldest first.
    pub fn alerts(&self) -> Vec<FakeAlert> {
        self.alerts.lock().unwrap().list.clone()
    }

    /// `n` pending alerts opened on the same source by others (another tool, a person): the
    /// open list then runs over several pages of at most 100 (openapi `max-results`).
    pub fn open_others(&self, n: usize) {
        let mut al = self.alerts.lock().unwrap();
        for k in 0..n {
            let id = 90_000 + al.list.len() as i64;
            al.list.push(FakeAlert {
                id,
                alert_key: format!("other-{k}"),
                status: "PENDING".into(),
                responders: Vec::new(),
                next_rule_index: 1,
                created: Instant::now(),
            });
        }
    }

    /// A person accepts the open alert with `alert_key` in the ilert app.
    pub fn accept_as(&self, alert_key: &str, first: &str, last: &str) {
        let mut al = self.alerts.lock().unwrap();
        let a = al
            .newest(alert_key, |s| s != "RESOLVED")
            .expect("an open alert");
        a.accept(first, last);
    }

    /// ilert escalates the open alert with `alert_key` to its next rule, whose on-call
    /// `first last` becomes a responder too (ilert-docs `escalation-policies.md`: "the amount
    /// of time that a responder has to accept an alert until it is automatically escalated to
    /// the next escalation level").
    pub fn escalate(&self, alert_key: &str, first: &str, last: &str) {
        let mut al = self.alerts.lock().unwrap();
        let a = al
            .newest(alert_key, |s| s == "PENDING")
            .expect("a pending alert");
        a.next_rule_index += 1;
        a.responders
            .push((first.into(), last.into(), "PENDING".into()));
    }

    /// Someone in ilert assigns the open alert with `alert_key` to `first last` (`PUT
    /// /api/alerts/{id}/assign`, openapi: "Either provide a user-id, policy-id … that the
    /// specific alert should be assigned to"; its example answer is a `PENDING` alert): it is
    /// pending again, assigned to them alone, and escalates until accepted (ilert-docs
    /// `getting-started/core-concepts`: PENDING "hasn't been acknowledged yet and will
    /// escalate until the alert is either acknowledged or resolved").
    pub fn reassign(&self, alert_key: &str, first: &str, last: &str) {
        let mut al = self.alerts.lock().unwrap();
        let a = al
            .newest(alert_key, |s| s != "RESOLVED")
            .expect("an open alert");
        a.status = "PENDING".into();
        a.responders = vec![(first.into(), last.into(), "PENDING".into())];
    }

    /// Alerts are listed this long after the event that opened them (ilert creates them
    /// asynchronously).
    pub fn set_listed_after(&self, d: Duration) {
        self.alerts.lock().unwrap().listed_after = d;
    }

    /// `GET /api/alerts` calls served so far.
    pub fn list_calls(&self) -> u32 {
        self.alerts.lock().unwrap().list_calls
    }

    /// Every request that reached the server (events, pings, REST).
    pub fn request_count(&self) -> usize {
        self.server.requests().len()
    }

    /// Sets the alert source's grouping and priority rule as its REST API reports them.
    pub fn set_source(&self, alert_creation: &str, priority_rule: &str) {
        self.alerts.lock().unwrap().source = Some(SourceSettings {
            alert_creation: alert_creation.into(),
            priority_rule: priority_rule.into(),
        });
    }

    /// REST API calls that reached the server: (method, path?query).
    pub fn rest_calls(&self) -> Vec<(String, String)> {
        self.server
            .requests()
            .iter()
            .filter(|r| is_rest(r))
            .map(|r| (r.method.clone(), format!("{}?{}", r.path, r.query)))
            .collect()
    }

    /// Sets the events limit per integration key (ilert's is 50 a minute) so a test can play a
    /// storm in seconds.
    pub fn set_events_limit(&self, limit: u32, window: Duration) {
        let mut t = self.throttle.lock().unwrap();
        t.events_limit = limit;
        t.events_window = window;
    }

    /// Requests answered 429 by the rate limiter.
    pub fn rate_limited(&self) -> u32 {
        self.throttle.lock().unwrap().refused
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Comes back on the same port after `server.stop()`.
    pub fn restart(self) -> FakeIlert {
        FakeIlert {
            server: self.server.restart(),
            mode: self.mode,
            accepted: self.accepted,
            throttle: self.throttle,
            alerts: self.alerts,
        }
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// Events answered 202, in arrival order, as JSON bodies.
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        self.accepted.lock().unwrap().clone()
    }

    /// All event requests that reached the server.
    pub fn received(&self) -> Vec<serde_json::Value> {
        self.event_requests().iter().map(Recorded::json).collect()
    }

    fn event_requests(&self) -> Vec<Recorded> {
        let mut v = self.server.requests();
        v.retain(|r| !is_heartbeat(r) && !is_rest(r));
        v
    }

    /// Heartbeat pings that reached the server: (method, key).
    pub fn heartbeats(&self) -> Vec<(String, String)> {
        self.server
            .requests()
            .iter()
            .filter(|r| is_heartbeat(r))
            .map(|r| (r.method.clone(), heartbeat_key(r).unwrap_or("").to_string()))
            .collect()
    }

    /// `(eventType, alertKey)` of every request, in order.
    pub fn events(&self) -> Vec<(String, String)> {
        self.event_requests()
            .iter()
            .map(|r| {
                let j = r.json();
                (
                    j["eventType"].as_str().unwrap_or("").to_string(),
                    j["alertKey"]
                        .as_str()
                        .or(j["incidentKey"].as_str())
                        .unwrap_or("")
                        .to_string(),
                )
            })
            .collect()
    }
}

/// Validates a request against the documented contract.
fn accepts(r: &Recorded) -> Result<(), String> {
    if r.method != "POST" {
        return Err(format!("method {}", r.method));
    }
    if !r
        .header("content-type")
        .unwrap_or("")
        .starts_with("application/json")
    {
        return Err("content-type must be application/json".into());
    }
    let j: serde_json::Value =
        serde_json::from_str(&r.body).map_err(|e| format!("body is not JSON: {e}"))?;
    if r.path == "/api/events" {
        if j["integrationKey"] != KEY {
            return Err("integrationKey".into());
        }
        let t = j["eventType"].as_str().unwrap_or("");
        if !["ALERT", "ACCEPT", "RESOLVE", "COMMENT"].contains(&t) {
            return Err(format!("eventType {t:?}"));
        }
        if j["summary"].as_str().unwrap_or("").is_empty() {
            return Err("summary is required".into());
        }
        if let Some(p) = j.get("priority") {
            if p != "HIGH" && p != "LOW" {
                return Err(format!("priority {p}"));
            }
        }
        // json-schema `event.json`: severity integer 1..5; labels string -> string; routingKey
        // a string (reference ilert.md §1).
        if let Some(sev) = j.get("severity") {
            if !sev.as_u64().is_some_and(|n| (1..=5).contains(&n)) {
                return Err(format!("severity {sev} is not an integer 1..5"));
            }
        }
        if let Some(labels) = j.get("labels") {
            let ok = labels
                .as_object()
                .is_some_and(|m| m.values().all(serde_json::Value::is_string));
            if !ok {
                return Err(format!("labels {labels} is not a string map"));
            }
        }
        if let Some(rk) = j.get("routingKey") {
            if !rk.is_string() {
                return Err(format!("routingKey {rk}"));
            }
        }
        Ok(())
    } else if let Some(key) = r.path.strip_prefix("/api/v1/events/pandorafms/") {
        if key != KEY {
            return Err("integration key".into());
        }
        let t = j["eventType"].as_str().unwrap_or("");
        if t != "alert" && t != "resolved" {
            return Err(format!("eventType {t:?}"));
        }
        Ok(())
    } else {
        Err(format!("no such endpoint {}", r.path))
    }
}

/// The heartbeat contract (reference ilert.md §3).
fn heartbeat(r: &Recorded) -> Reply {
    if let Some(key) = r.path.strip_prefix(PING_PATH) {
        // Heartbeat monitors: ilert's own client pings the beat host with HEAD (ilert-rust
        // `build_hbt_url` and its `hbt_host: "https://beat.ilert.com"`); 202 (ilagent `src/hbt.rs`).
        if r.method != "HEAD" {
            return Reply::json(405, json!({"message": "ping with HEAD"}));
        }
        return if key == HEARTBEAT2_KEY {
            Reply::new(202, "")
        } else {
            Reply::json(
                404,
                json!({"message": "no heartbeat monitor with this key"}),
            )
        };
    }
    let key = &r.path[HEARTBEAT_PATH.len()..];
    // The old endpoint only knows legacy `il1hbt` keys (ilagent `src/hbt.rs` branches on the
    // prefix; CHANGELOG 0.6.0 "legacy heartbeat support for il1hbt prefixed keys"); ilert-go
    // pings it with HEAD, GET or POST (`heartbeat.go`).
    if !["GET", "HEAD", "POST"].contains(&r.method.as_str()) {
        return Reply::json(405, json!({"message": "method not allowed"}));
    }
    if key == HEARTBEAT_KEY && key.starts_with("il1hbt") {
        Reply::new(202, "")
    } else {
        Reply::json(404, json!({"message": "no heartbeat with this key"}))
    }
}

/// The rate limits (ilert-docs `rest-api/alertsource-throttle.md`): 5 pings a minute per
/// heartbeat key, `events_limit` events per window per integration key; over it, 429 without
/// `Retry-After` until the window ends.
fn throttled(r: &Recorded, t: &mut Throttle) -> Option<Reply> {
    if let Some(key) = heartbeat_key(r) {
        let admitted = t.admit(&format!("hbt:{key}"), 5, Duration::from_secs(60));
        return (!admitted).then(too_many);
    }
    let key = match r.path.strip_prefix("/api/v1/events/pandorafms/") {
        Some(k) => k.to_string(),
        None if r.path == "/api/events" => r.json()["integrationKey"].as_str()?.to_string(),
        None => return None,
    };
    let (limit, window) = (t.events_limit, t.events_window);
    (!t.admit(&format!("events:{key}"), limit, window)).then(too_many)
}

fn respond(r: &Recorded, mode: &Mode) -> Reply {
    match mode {
        Mode::Fail(status) => return Reply::json(*status, json!({"message": "internal error"})),
        Mode::RateLimited(secs) => {
            return Reply::json(429, json!({"message": "Too many requests"}))
                .header("Retry-After", &secs.to_string())
        }
        Mode::Slow(d) => return Reply::new(202, "").delayed(*d),
        Mode::Accept => {}
    }
    if is_heartbeat(r) {
        return heartbeat(r);
    }
    match accepts(r) {
        Ok(()) => Reply::new(202, "").header("correlation-id", "c0ffee"),
        Err(e) if e.contains("no such endpoint") => Reply::json(404, json!({"message": e})),
        Err(e) => Reply::json(400, json!({"code": "BAD_REQUEST", "message": e})),
    }
}

fn is_rest(r: &Recorded) -> bool {
    r.path.starts_with("/api/alerts") || r.path.starts_with("/api/alert-sources")
}

/// Query pairs, repeated names kept (`states=PENDING&states=ACCEPTED`).
fn query(r: &Recorded) -> Vec<(String, String)> {
    r.query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (super::http::decode(k), super::http::decode(v))
        })
        .collect()
}

/// The REST API (reference ilert.md §4; openapi `paths./alerts`, `/alerts/{id}/accept`,
/// `/alerts/{id}/resolve`, `/alert-sources/{id}` "numeric source id or integration key").
fn rest(r: &Recorded, al: &mut Alerts) -> Reply {
    // openapi `info.description` §Authentication: `Authorization: Bearer <user API key>`.
    if r.header("authorization") != Some(&format!("Bearer {API_TOKEN}")) {
        return Reply::json(401, json!({"status": 401, "message": "unauthorized"}));
    }
    let parts: Vec<&str> = r.path.trim_start_matches("/api/").split('/').collect();
    match (r.method.as_str(), parts.as_slice()) {
        ("GET", ["alert-sources", id]) => {
            let known = *id == KEY || *id == SOURCE_ID.to_string();
            match (&al.source, known) {
                (Some(s), true) => Reply::json(
                    200,
                    json!({
                        "id": SOURCE_ID,
                        "name": "Pandora FMS",
                        "integrationType": "API",
                        "alertCreation": s.alert_creation,
                        "alertPriorityRule": s.priority_rule,
                    }),
                ),
                _ => Reply::json(404, json!({"message": "no such alert source"})),
            }
        }
        ("GET", ["alerts"]) => {
            let q = query(r);
            let all = |name: &str| -> Vec<String> {
                q.iter()
                    .filter(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
                    .collect()
            };
            let one = |name: &str, default: usize| -> Result<usize, Reply> {
                match all(name).first() {
                    None => Ok(default),
                    Some(v) => v.parse().map_err(|_| {
                        Reply::json(
                            400,
                            json!({"message": format!("{name} must be an integer")}),
                        )
                    }),
                }
            };
            let (start, max) = match (one("start-index", 0), one("max-results", 50)) {
                (Ok(s), Ok(m)) => (s, m),
                (Err(e), _) | (_, Err(e)) => return e,
            };
            // openapi: `max-results` maximum 100.
            if max > 100 {
                return Reply::json(400, json!({"message": "max-results must be at most 100"}));
            }
            let (states, sources) = (all("states"), all("sources"));
            al.list_calls += 1;
            let page: Vec<serde_json::Value> = al
                .listed()
                .filter(|a| states.is_empty() || states.contains(&a.status))
                .filter(|_| sources.is_empty() || sources.contains(&SOURCE_ID.to_string()))
                .skip(start)
                .take(max)
                .map(FakeAlert::json)
                .collect();
            Reply::json(200, serde_json::Value::Array(page))
        }
        ("GET", ["alerts", id]) => match al.listed().find(|a| a.id.to_string() == *id) {
            Some(a) => Reply::json(200, a.json()),
            None => Reply::json(404, json!({"message": "no such alert"})),
        },
        ("PUT", ["alerts", id, verb]) if *verb == "accept" || *verb == "resolve" => {
            match al.list.iter_mut().find(|a| a.id.to_string() == *id) {
                Some(a) => {
                    // The API key's user accepts.
                    if *verb == "accept" {
                        a.accept("API", "User");
                    } else {
                        a.status = "RESOLVED".into();
                    }
                    Reply::json(200, a.json())
                }
                None => Reply::json(404, json!({"message": "no such alert"})),
            }
        }
        _ => Reply::json(
            404,
            json!({"message": format!("no such endpoint {}", r.path)}),
        ),
    }
}
