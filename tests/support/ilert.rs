//! A fake ilert that follows the events API contract (reference ilert.md): `POST /api/events`
//! with a JSON body; 202 on accept; 400 with an error body for an unknown integration key or a
//! malformed event; and the Pandora FMS endpoint `POST /api/v1/events/pandorafms/{key}`.
//! Heartbeats: the legacy `/api/heartbeats/{key}` for `il1hbt` keys only, and heartbeat
//! monitors pinged with HEAD at `/api/pings/{key}` on the beat host (this same server; tests
//! point `heartbeat_url` at it). Rate limits as ilert documents them: 50 events a minute per
//! integration key and 5 pings a minute per heartbeat key, then 429 without `Retry-After`.
//! Tests switch it into failure modes (500, 429 + Retry-After, slow) at will.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::http::{Recorded, Reply, Server};

pub const KEY: &str = "il1api123";
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
        let (m, acc, th) = (mode.clone(), accepted.clone(), throttle.clone());
        let server = Server::start(move |r| {
            let reply = match throttled(r, &mut th.lock().unwrap()) {
                Some(refusal) => refusal,
                None => respond(r, &m.lock().unwrap()),
            };
            if reply.status == 202 && !is_heartbeat(r) {
                acc.lock().unwrap().push(r.json());
            }
            reply
        });
        FakeIlert {
            server,
            mode,
            accepted,
            throttle,
        }
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
        v.retain(|r| !is_heartbeat(r));
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
