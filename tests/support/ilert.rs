//! A fake ilert that follows the events API contract (reference ilert.md): `POST /api/events`
//! with a JSON body; 202 on accept; 400 with an error body for an unknown integration key or a
//! malformed event; and the Pandora FMS endpoint `POST /api/v1/events/pandorafms/{key}`.
//! Tests switch it into failure modes (500, 429 + Retry-After, slow) at will.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use super::http::{Recorded, Reply, Server};

pub const KEY: &str = "il1api123";

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
            if reply.status == 202 {
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
        self.server.requests().iter().map(Recorded::json).collect()
    }

    /// `(eventType, alertKey)` of every request, in order.
    pub fn events(&self) -> Vec<(String, String)> {
        self.server
            .requests()
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
    match accepts(r) {
        Ok(()) => Reply::new(202, "").header("correlation-id", "c0ffee"),
        Err(e) if e.contains("no such endpoint") => Reply::json(404, json!({"message": e})),
        Err(e) => Reply::json(400, json!({"code": "BAD_REQUEST", "message": e})),
    }
}
