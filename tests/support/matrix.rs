//! The real Synapse homeserver started by `tests/harness/synapse.sh`, and a small client that
//! reads rooms back through its client-server API the way a responder's client would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

const HOW_TO_START: &str = "these tests need the Synapse homeserver of tests/harness/synapse.sh: \
     run `bash tests/harness/synapse.sh start && source .cache/synapse-run/env` before \
     `cargo test`, or run `tests/run.sh`, which does both";

/// The running homeserver and its users, from the harness's env file.
pub struct Synapse {
    pub url: String,
    pub server_name: String,
    pub bot: Client,
    /// The bot user again, logged in a second time: another device with its own access
    /// token, as a second Pandora server configured with the same bot user.
    pub bot_device_2: Client,
    pub alice: Client,
    pub bob: Client,
}

impl Synapse {
    /// Reads `MATRIX_*` from the environment and checks the server answers; panics with the
    /// way to start it otherwise (a Matrix test must fail, not pass, without its server).
    pub fn from_env() -> Synapse {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("{k} is not set: {HOW_TO_START}"))
        };
        let url = var("MATRIX_HOMESERVER");
        let client = |user: &str, token: &str| Client {
            url: url.clone(),
            user: var(user),
            token: var(token),
        };
        let s = Synapse {
            server_name: var("MATRIX_SERVER_NAME"),
            bot: client("MATRIX_BOT_USER", "MATRIX_BOT_TOKEN"),
            bot_device_2: client("MATRIX_BOT_USER", "MATRIX_BOT_TOKEN_2"),
            alice: client("MATRIX_ALICE_USER", "MATRIX_ALICE_TOKEN"),
            bob: client("MATRIX_BOB_USER", "MATRIX_BOB_TOKEN"),
            url: url.clone(),
        };
        let (status, _) = s.bot.call("GET", "/account/whoami", None);
        assert_eq!(
            status, 200,
            "Synapse at {url} did not answer whoami for the bot: {HOW_TO_START}"
        );
        s
    }

    /// `[matrix]` config section for the bot.
    pub fn config_section(&self) -> String {
        format!(
            "[matrix]\nhomeserver = \"{}\"\naccess_token = \"{}\"\n",
            self.url, self.bot.token
        )
    }

    /// `#localpart:server`.
    pub fn alias(&self, localpart: &str) -> String {
        format!("#{localpart}:{}", self.server_name)
    }
}

/// A Pandora alert id no earlier run against the same homeserver has used (rooms outlive a
/// test run while the server keeps running).
pub fn unique_alert_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 10_000_000_000;
    format!("{millis}{}", N.fetch_add(1, Ordering::SeqCst))
}

/// One user's view of the homeserver.
pub struct Client {
    pub url: String,
    pub user: String,
    pub token: String,
}

fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    /// Any client-server call; `(status, JSON body)`.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        let url = format!("{}/_matrix/client/v3{path}", self.url);
        let auth = format!("Bearer {}", self.token);
        let result = match method {
            "GET" => agent.get(&url).header("Authorization", &auth).call(),
            "DELETE" => agent.delete(&url).header("Authorization", &auth).call(),
            _ => {
                let b = if method == "PUT" {
                    agent.put(&url)
                } else {
                    agent.post(&url)
                };
                b.header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(body.unwrap_or(json!({})).to_string())
            }
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.call(method, path, body);
        assert_eq!(status, 200, "{} {method} {path}: {v}", self.user);
        v
    }

    /// The room an alias points at, if any.
    pub fn resolve(&self, alias: &str) -> Option<String> {
        let (status, v) = self.call("GET", &format!("/directory/room/{}", enc(alias)), None);
        (status == 200).then(|| v["room_id"].as_str().unwrap().to_string())
    }

    /// Joins (accepts an invite); panics when not allowed.
    pub fn join(&self, room: &str) {
        self.ok("POST", &format!("/join/{}", enc(room)), Some(json!({})));
    }

    /// Creates a room (for tests that need one of their own); returns its id.
    pub fn create_room(&self, body: Value) -> String {
        let v = self.ok("POST", "/createRoom", Some(body));
        v["room_id"].as_str().unwrap().to_string()
    }

    /// One state event's content (`None` when absent or not visible).
    pub fn state(&self, room: &str, kind: &str, key: &str) -> Option<Value> {
        let (status, v) = self.call(
            "GET",
            &format!("/rooms/{}/state/{kind}/{}", enc(room), enc(key)),
            None,
        );
        (status == 200).then_some(v)
    }

    /// A member's membership (`invite`, `join`, …).
    pub fn membership(&self, room: &str, user: &str) -> Option<String> {
        self.state(room, "m.room.member", user)
            .and_then(|v| v["membership"].as_str().map(str::to_string))
    }

    /// One event.
    pub fn event(&self, room: &str, id: &str) -> Value {
        self.ok(
            "GET",
            &format!("/rooms/{}/event/{}", enc(room), enc(id)),
            None,
        )
    }

    /// Every `m.room.message` event of the room, oldest first.
    pub fn messages(&self, room: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut from = String::new();
        loop {
            let mut path = format!("/rooms/{}/messages?dir=b&limit=100", enc(room));
            if !from.is_empty() {
                path.push_str(&format!("&from={}", enc(&from)));
            }
            let page = self.ok("GET", &path, None);
            let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
            out.extend(
                chunk
                    .iter()
                    .filter(|e| e["type"] == "m.room.message")
                    .cloned(),
            );
            match page["end"].as_str() {
                Some(end) if !chunk.is_empty() => from = end.to_string(),
                _ => break,
            }
        }
        out.reverse();
        out
    }

    /// Rooms this user has joined whose name is `name`.
    pub fn joined_rooms_named(&self, name: &str) -> Vec<String> {
        let v = self.ok("GET", "/joined_rooms", None);
        v["joined_rooms"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r.as_str())
            .filter(|r| {
                self.state(r, "m.room.name", "")
                    .is_some_and(|n| n["name"] == name)
            })
            .map(str::to_string)
            .collect()
    }
}

/// Messages that are not edits.
pub fn originals(messages: &[Value]) -> Vec<&Value> {
    messages
        .iter()
        .filter(|m| m["content"]["m.relates_to"]["rel_type"] != "m.replace")
        .collect()
}

/// The newest edit of `event_id`, if any.
pub fn latest_edit<'a>(messages: &'a [Value], event_id: &str) -> Option<&'a Value> {
    messages.iter().rev().find(|m| {
        m["content"]["m.relates_to"]["rel_type"] == "m.replace"
            && m["content"]["m.relates_to"]["event_id"] == event_id
    })
}

/// The body a client shows for `original` now: its newest edit's, else its own.
pub fn current_body(messages: &[Value], original: &Value) -> String {
    let id = original["event_id"].as_str().unwrap_or_default();
    let body = match latest_edit(messages, id) {
        Some(e) => &e["content"]["m.new_content"]["body"],
        None => &original["content"]["body"],
    };
    body.as_str().unwrap_or_default().to_string()
}

/// Dendrite's `start` of a backward `/messages` page read without `from`: its maximum
/// topology token (dendrite `syncapi/routing/messages.go`: `TopologyToken{MaxInt64,
/// MaxInt64}` when `from` is empty; tuwunel `PduCount::max()` likewise).
pub const MAX_SENTINEL: &str = "t9223372036854775807_9223372036854775807";

/// Synapse behind a proxy that behaves where servers differ as Dendrite and conduwuit/tuwunel
/// do. Errors keep status and `errcode`, the only parts the spec fixes ("meaningful
/// errcode"); the `error` text is the server's own (spec `client-server-api/_index.md`
/// §Standard error response), so it is reworded. A backward `/messages` page without `from`
/// gets Dendrite's `start` ([`MAX_SENTINEL`]), and a forward read from it returns no events,
/// as Dendrite does (the spec lets servers refuse such tokens: "Clients should not rely on the
/// behaviour", `message_pagination.yaml`).
/// Wordings: Dendrite "user is already joined to room" (gomatrixserverlib `invite.go`),
/// tuwunel "cannot invite user that is joined or banned"
/// (`src/service/rooms/state_res/event_auth/room_member.rs`); both say "Room alias already
/// exists." with `M_ROOM_IN_USE` (Dendrite `spec.RoomInUse(…)`, tuwunel `RoomInUse(…)`).
pub fn dendrite_like(synapse_url: &str) -> super::http::Server {
    let upstream = synapse_url.trim_end_matches('/').to_string();
    super::http::Server::start(move |r| {
        let messages = r.method == "GET" && r.path.ends_with("/messages");
        if messages && r.query.contains(&format!("from={MAX_SENTINEL}")) {
            return super::http::Reply::json(200, json!({"chunk": [], "start": MAX_SENTINEL}));
        }
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .new_agent();
        let mut url = format!("{upstream}{}", r.path);
        if !r.query.is_empty() {
            url.push('?');
            url.push_str(&r.query);
        }
        let auth = r.header("authorization").unwrap_or_default().to_string();
        let result = match r.method.as_str() {
            "GET" => agent.get(&url).header("Authorization", &auth).call(),
            "DELETE" => agent.delete(&url).header("Authorization", &auth).call(),
            m => {
                let b = if m == "PUT" {
                    agent.put(&url)
                } else {
                    agent.post(&url)
                };
                b.header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .send(r.body.clone())
            }
        };
        let mut resp = match result {
            Ok(resp) => resp,
            Err(e) => return super::http::Reply::new(502, e.to_string()),
        };
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let mut body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if messages && status == 200 && r.query.contains("dir=b") && !r.query.contains("from=") {
            body["start"] = json!(MAX_SENTINEL);
        }
        if status >= 400 && body.is_object() {
            let wording = match (body["errcode"].as_str(), r.path.ends_with("/invite")) {
                (Some("M_FORBIDDEN"), true) => "user is already joined to room",
                (Some("M_ROOM_IN_USE"), _) => "Room alias already exists.",
                _ => "refused",
            };
            body["error"] = json!(wording);
        }
        super::http::Reply::json(status, body)
    })
}
