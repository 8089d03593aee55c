//! A fake ilert that follows the events API contract (reference ilert.md): `POST /api/events`
//! with a JSON body; 202 on accept; 400 with an error body for an unknown integration key or a
//! malformed event; and the Pandora FMS endpoint `POST /api/v1/events/pandorafms/{key}`.
//! Heartbeats: `GET /api/heartbeats/{key}` answers 202 for `HEARTBEAT_KEY`, 404 otherwise.
//! Tests switch it into failure modes (500, 429 + Retry-After, slow) at will.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::http::{Recorded, Reply, Server};

pub const KEY: &str = "il1api123";
pub const HEARTBEAT_KEY: &str = "il1hbt456";
const HEARTBEAT_PATH: &str = "/api/heartbeats/";

fn is_heartbeat(r: &Recorded) -> bool {
    r.path.starts_with(HEARTBEAT_PATH)
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
}

impl FakeIlert {
    pub fn start() -> FakeIlert {
        let mode = Arc::new(Mutex::new(Mode::Accept));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let (m, acc) = (mode.clone(), accepted.clone());
        let server = Server::start(move |r| {
            let reply = respond(r, &m.lock().unwrap());
            if reply.status == 202 && !is_heartbeat(r) {
                acc.lock().unwrap().push(r.json());
            }
            reply
        });
        FakeIlert {
            server,
            mode,
            accepted,
        }
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
            .map(|r| (r.method.clone(), r.path[HEARTBEAT_PATH.len()..].to_string()))
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

/// The heartbeat contract: GET, HEAD or POST on the key's URL, 202 when the key is known.
fn heartbeat(r: &Recorded) -> Reply {
    let key = &r.path[HEARTBEAT_PATH.len()..];
    if !["GET", "HEAD", "POST"].contains(&r.method.as_str()) {
        return Reply::json(405, json!({"message": "method not allowed"}));
    }
    if key == HEARTBEAT_KEY {
        Reply::new(202, "")
    } else {
        Reply::json(404, json!({"message": "no heartbeat with this key"}))
    }
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
