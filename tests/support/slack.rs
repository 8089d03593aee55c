//! A fake Slack Web API that follows the documented contract (reference chat.md and
//! chat-research.md §1): `POST /api/<method>` with `Authorization: Bearer xoxb-…` and a JSON
//! body (`Content-Type: application/json; charset=utf-8`) or a form; read methods also by
//! `GET` with a query. Answers are HTTP 200 `{"ok": true, …}` or `{"ok": false, "error":
//! "<code>"}` with the documented codes; rate limits are HTTP 429 + `Retry-After`. It keeps
//! state (channels, members, topic, purpose, messages with `ts`, pins) so tests assert on what
//! Slack would show, and it records contract violations, which tests expect to be empty.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::http::{decode, Recorded, Reply, Server};

/// The bot token the fake accepts.
pub const TOKEN: &str = "xoxb-1111-2222-pandoratest";
/// The bot's user id (`auth.test`), creator of the channels it creates.
pub const BOT_USER: &str = "UBOT00001";

/// Every scope the app may have (docs/chat.md).
pub const ALL_SCOPES: [&str; 9] = [
    "channels:manage",
    "groups:write",
    "chat:write",
    "pins:write",
    "channels:read",
    "groups:read",
    "channels:history",
    "groups:history",
    "usergroups:read",
];

#[derive(Clone, Debug)]
pub struct Message {
    pub ts: String,
    pub user: String,
    pub text: String,
    pub blocks: Value,
    /// How many times `chat.update` changed it.
    pub edits: u32,
    /// Parent of a thread reply (replies are not in `conversations.history`).
    pub thread_ts: Option<String>,
    /// Message metadata (`{"event_type", "event_payload"}`), `Null` when none was attached.
    pub metadata: Value,
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub is_private: bool,
    pub is_archived: bool,
    pub topic: String,
    pub purpose: String,
    pub creator: String,
    pub members: Vec<String>,
    pub messages: Vec<Message>,
    /// `ts` of pinned messages.
    pub pins: Vec<String>,
}

impl Channel {
    pub fn pinned(&self) -> Vec<&Message> {
        self.messages
            .iter()
            .filter(|m| self.pins.contains(&m.ts))
            .collect()
    }
}

#[derive(Default)]
struct State {
    channels: Vec<Channel>,
    next_id: u64,
    next_ts: u64,
    scopes: Vec<String>,
    /// One-shot replies per method, used before the method runs.
    faults: Vec<(String, Reply)>,
    violations: Vec<String>,
    calls: Vec<String>,
    /// Largest `conversations.list` page (0: the default of 2).
    list_page: usize,
    /// User groups by id (`S…`) and their members.
    groups: BTreeMap<String, Vec<String>>,
    /// Accepted calls per rate-limit key (method, or method and channel), for the tiers.
    recent: BTreeMap<String, std::collections::VecDeque<Instant>>,
    /// Calls refused with 429 because they broke a documented rate limit.
    limited: Vec<String>,
    /// The tier limits are enforced (the default).
    enforce_limits: bool,
}

/// The running fake.
pub struct FakeSlack {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeSlack {
    pub fn start() -> FakeSlack {
        let state = Arc::new(Mutex::new(State {
            scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            enforce_limits: true,
            ..Default::default()
        }));
        let st = state.clone();
        let server = Server::start(move |r| respond(r, &mut st.lock().unwrap()));
        FakeSlack { server, state }
    }

    /// The `[slack] api_url` to configure.
    pub fn url(&self) -> String {
        format!("{}/api", self.server.url())
    }

    /// Comes back on the same port, with the same state, after `server.stop()`.
    pub fn restart(self) -> FakeSlack {
        FakeSlack {
            server: self.server.restart(),
            state: self.state,
        }
    }

    /// Serves `conversations.list` pages of up to `n` channels (tests with hundreds of
    /// channels; the default of 2 makes every caller follow the cursor).
    pub fn set_list_page(&self, n: usize) {
        self.state.lock().unwrap().list_page = n;
    }

    pub fn channels(&self) -> Vec<Channel> {
        self.state.lock().unwrap().channels.clone()
    }

    pub fn channel(&self, name: &str) -> Option<Channel> {
        self.channels().into_iter().find(|c| c.name == name)
    }

    pub fn channel_by_id(&self, id: &str) -> Option<Channel> {
        self.channels().into_iter().find(|c| c.id == id)
    }

    /// A channel created by someone (`creator`), outside the program under test.
    pub fn add_channel(
        &self,
        name: &str,
        purpose: &str,
        creator: &str,
        private: bool,
        archived: bool,
    ) -> String {
        let mut st = self.state.lock().unwrap();
        let id = st.new_id();
        let mut members = vec![creator.to_string()];
        if creator != BOT_USER {
            // The app was added to it (as an admin would do for a stakeholder channel).
            members.push(BOT_USER.to_string());
        }
        st.channels.push(Channel {
            id: id.clone(),
            name: name.into(),
            is_private: private,
            is_archived: archived,
            topic: String::new(),
            purpose: purpose.into(),
            creator: creator.into(),
            members,
            messages: Vec::new(),
            pins: Vec::new(),
        });
        id
    }

    /// Deletes a message, as a person in Slack would.
    pub fn delete_message(&self, channel_id: &str, ts: &str) {
        let mut st = self.state.lock().unwrap();
        if let Some(c) = st.channels.iter_mut().find(|c| c.id == channel_id) {
            c.messages.retain(|m| m.ts != ts);
            c.pins.retain(|p| p != ts);
        }
    }

    /// Adds a message by a person, for history tests.
    pub fn add_message(&self, channel_id: &str, user: &str, text: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let ts = st.new_ts();
        if let Some(c) = st.channels.iter_mut().find(|c| c.id == channel_id) {
            c.messages.push(Message {
                ts: ts.clone(),
                user: user.into(),
                text: text.into(),
                blocks: Value::Null,
                edits: 0,
                thread_ts: None,
                metadata: Value::Null,
            });
        }
        ts
    }

    /// Adds a thread reply by a person under `parent_ts`, for history tests.
    pub fn add_reply(&self, channel_id: &str, parent_ts: &str, user: &str, text: &str) -> String {
        let mut st = self.state.lock().unwrap();
        let ts = st.new_ts();
        if let Some(c) = st.channels.iter_mut().find(|c| c.id == channel_id) {
            c.messages.push(Message {
                ts: ts.clone(),
                user: user.into(),
                text: text.into(),
                blocks: Value::Null,
                edits: 0,
                thread_ts: Some(parent_ts.into()),
                metadata: Value::Null,
            });
        }
        ts
    }

    /// The next call of `method` answers `ok: false` with `error`.
    pub fn fail_next(&self, method: &str, error: &str) {
        let reply = Reply::json(200, json!({"ok": false, "error": error}));
        self.state
            .lock()
            .unwrap()
            .faults
            .push((method.into(), reply));
    }

    /// The next call of `method` is rate limited: HTTP 429 with `Retry-After: secs`.
    pub fn rate_limit_next(&self, method: &str, secs: u64) {
        let reply = Reply::json(429, json!({"ok": false, "error": "ratelimited"}))
            .header("Retry-After", &secs.to_string());
        self.state
            .lock()
            .unwrap()
            .faults
            .push((method.into(), reply));
    }

    /// The token's scopes from now on.
    pub fn set_scopes(&self, scopes: &[&str]) {
        self.state.lock().unwrap().scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// Requests that broke the contract (should be empty).
    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    /// Stops enforcing the tier limits, for a test about something else that bursts more
    /// than the documented floor (Slack tolerates "occasional bursts"; the fake does not).
    pub fn relax_limits(&self) {
        self.state.lock().unwrap().enforce_limits = false;
    }

    /// A user group (`usergroups.users.list`) with these members.
    pub fn add_user_group(&self, id: &str, users: &[&str]) {
        self.state
            .lock()
            .unwrap()
            .groups
            .insert(id.into(), users.iter().map(|u| u.to_string()).collect());
    }

    /// Calls answered 429 because they went over a documented rate limit (`method` or
    /// `method channel`).
    pub fn rate_limited(&self) -> Vec<String> {
        self.state.lock().unwrap().limited.clone()
    }

    /// Methods called, in order.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("C{:08}", 10_000_000 + self.next_id)
    }
    fn new_ts(&mut self) -> String {
        // Real time in microseconds, as Slack's `ts`, kept strictly increasing.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        self.next_ts = now.max(self.next_ts + 1);
        format!(
            "{}.{:06}",
            self.next_ts / 1_000_000,
            self.next_ts % 1_000_000
        )
    }
    fn channel_mut(&mut self, key: &str) -> Option<&mut Channel> {
        let key = key.trim_start_matches('#');
        self.channels
            .iter_mut()
            .find(|c| c.id == key || c.name == key)
    }
}

fn ok(v: Value) -> Reply {
    let mut v = v;
    v["ok"] = json!(true);
    Reply::json(200, v)
}

fn err(code: &str) -> Reply {
    Reply::json(200, json!({"ok": false, "error": code}))
}

/// Slack returns text fields with `& < >` escaped.
fn escaped(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn unescaped(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Arguments as strings, from the JSON body, the form body or the query.
fn arguments(r: &Recorded, st: &mut State) -> Result<BTreeMap<String, String>, Reply> {
    let mut out = BTreeMap::new();
    let ctype = r
        .header("content-type")
        .unwrap_or("")
        .to_ascii_lowercase()
        .replace(' ', "");
    if r.method == "POST" && ctype.starts_with("application/json") {
        if ctype != "application/json;charset=utf-8" {
            st.violations.push(format!(
                "{}: JSON body needs Content-Type: application/json; charset=utf-8 (got {ctype:?})",
                r.path
            ));
        }
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&r.body) else {
            st.violations
                .push(format!("{}: body is not a JSON object", r.path));
            return Err(err("invalid_json"));
        };
        for (k, v) in map {
            let s = match v {
                Value::String(s) => s,
                Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k, s);
        }
    } else {
        for pair in r.query.split('&').chain(r.body.split('&')) {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            out.insert(decode(k), decode(v));
        }
    }
    Ok(out)
}

/// Channel names: lowercase letters, digits, hyphens, underscores; at most 80 characters.
fn name_error(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("invalid_name_required");
    }
    if name.chars().count() > 80 {
        return Some("invalid_name_maxlength");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return Some("invalid_name_specials");
    }
    if name.chars().all(|c| c == '-' || c == '_') {
        return Some("invalid_name_punctuation");
    }
    None
}

fn channel_json(c: &Channel) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "is_channel": !c.is_private,
        "is_group": false,
        "is_private": c.is_private,
        "is_archived": c.is_archived,
        "is_member": c.members.iter().any(|m| m == BOT_USER),
        "creator": c.creator,
        "created": 1_764_000_000,
        "topic": {"value": escaped(&c.topic), "creator": BOT_USER, "last_set": 0},
        "purpose": {"value": escaped(&c.purpose), "creator": c.creator, "last_set": 0},
        "num_members": c.members.len(),
    })
}

/// Which scope a call needs.
fn scope_for(method: &str, private: bool) -> Option<&'static str> {
    Some(match (method, private) {
        ("auth.test", _) => return None,
        (
            "conversations.create"
            | "conversations.setTopic"
            | "conversations.setPurpose"
            | "conversations.invite"
            | "conversations.archive"
            | "conversations.unarchive",
            false,
        ) => "channels:manage",
        (
            "conversations.create"
            | "conversations.setTopic"
            | "conversations.setPurpose"
            | "conversations.invite"
            | "conversations.archive"
            | "conversations.unarchive",
            true,
        ) => "groups:write",
        ("chat.postMessage" | "chat.update", _) => "chat:write",
        ("pins.add", _) => "pins:write",
        ("conversations.list", false) => "channels:read",
        ("conversations.list", true) => "groups:read",
        // conversations.replies: scope `conversations:history`, i.e. `channels:history` /
        // `groups:history` for a bot token, Tier 3, GET (SAR conversations.replies.json).
        ("conversations.history" | "conversations.replies", false) => "channels:history",
        ("conversations.history" | "conversations.replies", true) => "groups:history",
        // SAR usergroups.users.list.json: `"scope": "usergroups:read"`, GET.
        ("usergroups.users.list", _) => "usergroups:read",
        _ => return None,
    })
}

const READ_METHODS: [&str; 4] = [
    "conversations.list",
    "conversations.history",
    "conversations.replies",
    "usergroups.users.list",
];

/// A method's documented rate limit: how many calls per window, and the key it is counted
/// under. Slack applies tiers "per API method per workspace per app" (Tier 2 "20+ per minute",
/// Tier 3 "50+ per minute"), and `chat.postMessage` "generally allows posting one message per
/// second per channel", "short bursts >1 allowed" (docs.slack.dev/apis/web-api/rate-limits).
/// Each method's tier is its `rate_limits` in SAR `docs.slack.dev/methods/<method>.json`.
/// The fake allows the documented floor over a sliding window (the postMessage burst: ten in
/// ten seconds).
fn rate_limit(method: &str, channel: Option<&str>) -> Option<(usize, Duration, String)> {
    let minute = Duration::from_secs(60);
    Some(match method {
        // t2: conversations.create, .setTopic, .setPurpose, .archive, .unarchive, .list;
        // pins.add; usergroups.users.list.
        "conversations.create"
        | "conversations.setTopic"
        | "conversations.setPurpose"
        | "conversations.archive"
        | "conversations.unarchive"
        | "conversations.list"
        | "pins.add"
        | "usergroups.users.list" => (20, minute, method.to_string()),
        // t3: conversations.history, .replies, .invite; chat.update.
        "conversations.history"
        | "conversations.replies"
        | "conversations.invite"
        | "chat.update" => (50, minute, method.to_string()),
        // Special tier: per channel.
        "chat.postMessage" => (
            10,
            Duration::from_secs(10),
            format!("{method} {}", channel.unwrap_or_default()),
        ),
        // auth.test: special, not limited here.
        _ => return None,
    })
}

/// Counts an accepted call; `Some(reply)` (429 with `Retry-After`) when it breaks its limit.
fn over_limit(st: &mut State, method: &str, channel: Option<&str>) -> Option<Reply> {
    if !st.enforce_limits {
        return None;
    }
    let (max, window, key) = rate_limit(method, channel)?;
    let now = Instant::now();
    let calls = st.recent.entry(key.clone()).or_default();
    while calls
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        calls.pop_front();
    }
    if calls.len() >= max {
        let wait = window.saturating_sub(now.duration_since(calls[0]));
        st.limited.push(key);
        let error = if method == "chat.postMessage" {
            "rate_limited"
        } else {
            "ratelimited"
        };
        return Some(
            Reply::json(429, json!({"ok": false, "error": error}))
                .header("Retry-After", &wait.as_secs().max(1).to_string()),
        );
    }
    calls.push_back(now);
    None
}

fn respond(r: &Recorded, st: &mut State) -> Reply {
    let Some(method) = r.path.strip_prefix("/api/") else {
        st.violations.push(format!("no such path {}", r.path));
        return Reply::new(404, "");
    };
    let method = method.to_string();
    st.calls.push(method.clone());
    if r.method != "POST" && !(r.method == "GET" && READ_METHODS.contains(&method.as_str())) {
        st.violations
            .push(format!("{method}: {} is not allowed (POST)", r.method));
        return err("invalid_request");
    }
    match r.header("authorization") {
        None => {
            st.violations
                .push(format!("{method}: no Authorization header"));
            return err("not_authed");
        }
        Some(a) if a != format!("Bearer {TOKEN}") => return err("invalid_auth"),
        Some(_) => {}
    }
    let args = match arguments(r, st) {
        Ok(a) => a,
        Err(reply) => return reply,
    };
    if let Some(i) = st.faults.iter().position(|(m, _)| *m == method) {
        return st.faults.remove(i).1;
    }
    if let Some(reply) = over_limit(st, &method, args.get("channel").map(String::as_str)) {
        return reply;
    }
    // Scope, once the channel's kind is known.
    let private = match method.as_str() {
        "conversations.create" => args.get("is_private").is_some_and(|v| v == "true"),
        "conversations.list" => args
            .get("types")
            .is_some_and(|t| t.contains("private_channel")),
        _ => args
            .get("channel")
            .and_then(|c| st.channel_mut(c))
            .is_some_and(|c| c.is_private),
    };
    let needs: Vec<&str> = match (method.as_str(), private) {
        ("conversations.list", true) => vec!["channels:read", "groups:read"],
        _ => scope_for(&method, private).into_iter().collect(),
    };
    for need in needs {
        if !st.scopes.iter().any(|s| s == need) {
            return Reply::json(
                200,
                json!({"ok": false, "error": "missing_scope", "needed": need, "provided": st.scopes.join(",")}),
            );
        }
    }
    let need = |k: &str| args.get(k).filter(|v| !v.is_empty()).cloned();
    macro_rules! required {
        ($k:expr) => {
            match need($k) {
                Some(v) => v,
                None => {
                    st.violations
                        .push(format!("{method}: missing required argument {}", $k));
                    return err("invalid_arguments");
                }
            }
        };
    }
    // A channel the bot must be in, by id (or #name where Slack accepts one).
    macro_rules! member_channel {
        ($key:expr) => {{
            let key = $key;
            let Some(c) = st.channel_mut(&key) else {
                return err("channel_not_found");
            };
            if c.is_private && !c.members.iter().any(|m| m == BOT_USER) {
                return err("channel_not_found");
            }
            if c.is_archived {
                return err("is_archived");
            }
            if !c.members.iter().any(|m| m == BOT_USER) {
                return err("not_in_channel");
            }
            c
        }};
    }

    match method.as_str() {
        "auth.test" => ok(json!({
            "url": "https://pandora-test.slack.com/",
            "team": "Pandora Test",
            "user": "pandora-ilert",
            "team_id": "T00000001",
            "user_id": BOT_USER,
            "bot_id": "B00000001",
        })),
        "conversations.create" => {
            let name = match need("name") {
                Some(n) => n,
                None => return err("invalid_name_required"),
            };
            if let Some(e) = name_error(&name) {
                return err(e);
            }
            if st.channels.iter().any(|c| c.name == name) {
                return err("name_taken");
            }
            let id = st.new_id();
            let c = Channel {
                id,
                name,
                is_private: private,
                is_archived: false,
                topic: String::new(),
                purpose: String::new(),
                creator: BOT_USER.into(),
                members: vec![BOT_USER.into()],
                messages: Vec::new(),
                pins: Vec::new(),
            };
            let v = channel_json(&c);
            st.channels.push(c);
            ok(json!({ "channel": v }))
        }
        "conversations.setTopic" | "conversations.setPurpose" => {
            let field = if method.ends_with("Topic") {
                "topic"
            } else {
                "purpose"
            };
            let ch = required!("channel");
            let text = args.get(field).cloned().unwrap_or_default();
            if text.chars().count() > 250 {
                return err("too_long");
            }
            let c = member_channel!(ch);
            // Slack reads text as sent with `&`, `<`, `>` escaped ("Formatting text for app
            // surfaces: Escaping text", api.slack.com/reference/surfaces/formatting#escaping);
            // the fake keeps the text as displayed and escapes it again in channel objects.
            let text = unescaped(&text);
            if field == "topic" {
                c.topic = text;
            } else {
                c.purpose = text;
            }
            ok(json!({ "channel": channel_json(c) }))
        }
        "conversations.invite" => {
            let ch = required!("channel");
            let users = required!("users");
            let c = member_channel!(ch);
            let users: Vec<&str> = users.split(',').map(str::trim).collect();
            if users.contains(&BOT_USER) {
                return err("cant_invite_self");
            }
            if users.iter().any(|u| !u.starts_with('U')) {
                return err("user_not_found");
            }
            if users.iter().all(|u| c.members.iter().any(|m| m == u)) {
                return err("already_in_channel");
            }
            for u in users {
                if !c.members.iter().any(|m| m == u) {
                    c.members.push(u.to_string());
                }
            }
            ok(json!({ "channel": channel_json(c) }))
        }
        "conversations.archive" => {
            let ch = required!("channel");
            let Some(c) = st.channel_mut(&ch) else {
                return err("channel_not_found");
            };
            if c.is_archived {
                return err("already_archived");
            }
            c.is_archived = true;
            ok(json!({}))
        }
        "conversations.unarchive" => {
            let ch = required!("channel");
            let Some(c) = st.channel_mut(&ch) else {
                return err("channel_not_found");
            };
            if !c.is_archived {
                return err("not_archived");
            }
            // "Bug alert: Bot tokens (xoxb-...) cannot currently be used to unarchive
            // conversations. For now, please use a user token" (api.slack.com/methods/
            // conversations.unarchive); what bots get back is `not_in_channel`
            // (slack-go/slack#1066, open-cli-collective/slack-chat-api#26). The fake only
            // accepts the bot token, so unarchive always fails.
            st.violations.push(format!(
                "{method}: bot tokens cannot unarchive (api.slack.com/methods/conversations.unarchive)"
            ));
            err("not_in_channel")
        }
        "conversations.list" => {
            let types = args
                .get("types")
                .cloned()
                .unwrap_or("public_channel".into());
            let exclude_archived = args.get("exclude_archived").is_some_and(|v| v == "true");
            let limit: usize = args
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100);
            // Small pages so callers must follow the cursor. Slack: "fewer than the requested
            // number of items may be returned" (conversations.list, `limit`).
            let page = limit.clamp(1, if st.list_page == 0 { 2 } else { st.list_page });
            let start: usize = args
                .get("cursor")
                .and_then(|c| c.strip_prefix("dGVhbTpD"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let visible: Vec<Value> = st
                .channels
                .iter()
                .filter(|c| {
                    if c.is_private {
                        types.contains("private_channel") && c.members.iter().any(|m| m == BOT_USER)
                    } else {
                        types.contains("public_channel")
                    }
                })
                .filter(|c| !(exclude_archived && c.is_archived))
                .map(channel_json)
                .collect();
            let end = (start + page).min(visible.len());
            let next = if end < visible.len() {
                format!("dGVhbTpD{end}")
            } else {
                String::new()
            };
            ok(json!({
                "channels": visible[start.min(end)..end],
                "response_metadata": {"next_cursor": next},
            }))
        }
        "usergroups.users.list" => {
            let group = required!("usergroup");
            // SAR usergroups.users.list.json: `no_such_subteam` "No usergroup found with the
            // given ID"; success `{"ok": true, "users": ["U060R4BJ4", …]}`.
            match st.groups.get(&group) {
                Some(users) => ok(json!({ "users": users })),
                None => err("no_such_subteam"),
            }
        }
        "conversations.history" => {
            let ch = required!("channel");
            let Some(c) = st.channel_mut(&ch) else {
                return err("channel_not_found");
            };
            if !c.members.iter().any(|m| m == BOT_USER) {
                return err("not_in_channel");
            }
            let limit: usize = args
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(100);
            let page = limit.clamp(1, 2);
            let start: usize = args
                .get("cursor")
                .and_then(|c| c.strip_prefix("bmV4dF90czox"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            // Newest first, as Slack does; `oldest` is exclusive; thread replies are left out.
            let oldest: f64 = args
                .get("oldest")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0.0);
            // `include_all_metadata` (boolean, default false): "Return all metadata
            // associated with this message" (conversations.history arguments); without it
            // no `metadata` is shown.
            let with_metadata = matches!(
                args.get("include_all_metadata").map(String::as_str),
                Some("true" | "1")
            );
            let all: Vec<Value> = c
                .messages
                .iter()
                .filter(|m| m.thread_ts.is_none() && m.ts.parse::<f64>().unwrap_or(0.0) > oldest)
                .rev()
                .map(|m| {
                    let mut v = message_json(c, m);
                    if with_metadata && !m.metadata.is_null() {
                        v["metadata"] = m.metadata.clone();
                    }
                    v
                })
                .collect();
            let end = (start + page).min(all.len());
            let more = end < all.len();
            ok(json!({
                "messages": all[start.min(end)..end],
                "has_more": more,
                "response_metadata": {"next_cursor": if more { format!("bmV4dF90czox{end}") } else { String::new() }},
            }))
        }
        "conversations.replies" => {
            let ch = required!("channel");
            let ts = required!("ts");
            let Some(c) = st.channel_mut(&ch) else {
                return err("channel_not_found");
            };
            if !c.members.iter().any(|m| m == BOT_USER) {
                return err("channel_not_found");
            }
            // `ts` is a thread's parent or a message in it; an unthreaded message comes back
            // alone; an unknown `ts` is `thread_not_found` (SAR conversations.replies.json).
            let Some(m) = c.messages.iter().find(|m| m.ts == ts) else {
                return err("thread_not_found");
            };
            let parent = m.thread_ts.clone().unwrap_or(ts);
            // The parent first, then the replies oldest first (the documented example), in
            // small pages so callers follow `response_metadata.next_cursor`.
            let all: Vec<Value> = c
                .messages
                .iter()
                .filter(|m| m.ts == parent || m.thread_ts.as_deref() == Some(parent.as_str()))
                .map(|m| message_json(c, m))
                .collect();
            if all.is_empty() {
                return err("thread_not_found");
            }
            let start: usize = args
                .get("cursor")
                .and_then(|c| c.strip_prefix("cmVwbGllczox"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let end = (start + 2).min(all.len());
            let more = end < all.len();
            ok(json!({
                "messages": all[start.min(end)..end],
                "has_more": more,
                "response_metadata": {"next_cursor": if more { format!("cmVwbGllczox{end}") } else { String::new() }},
            }))
        }
        "chat.postMessage" => {
            let ch = required!("channel");
            let text = args.get("text").cloned().unwrap_or_default();
            let blocks: Value = args
                .get("blocks")
                .map(|b| serde_json::from_str(b).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            if text.is_empty() && blocks.is_null() {
                return err("no_text");
            }
            if let Err(e) = check_blocks(&blocks) {
                st.violations.push(format!("{method}: {e}"));
                return err("invalid_blocks");
            }
            if text.is_empty() && !blocks.is_null() {
                st.violations
                    .push(format!("{method}: blocks without a text fallback"));
            }
            // `metadata`: a JSON object with `event_type` and `event_payload`
            // (docs.slack.dev/messaging/message-metadata; chat.postMessage argument).
            let metadata = match metadata_arg(&args) {
                Ok(m) => m,
                Err(e) => {
                    st.violations.push(format!("{method}: {e}"));
                    return err("invalid_metadata_format");
                }
            };
            let ts = st.new_ts();
            let c = member_channel!(ch);
            c.messages.push(Message {
                ts: ts.clone(),
                user: BOT_USER.into(),
                text: text.clone(),
                blocks,
                edits: 0,
                thread_ts: args.get("thread_ts").cloned(),
                metadata,
            });
            let id = c.id.clone();
            ok(
                json!({"channel": id, "ts": ts, "message": {"type": "message", "text": text, "user": BOT_USER, "ts": ts}}),
            )
        }
        "chat.update" => {
            let ch = required!("channel");
            let ts = required!("ts");
            if !ch.starts_with('C') {
                // chat.update takes the channel id, not a name.
                return err("channel_not_found");
            }
            let blocks: Value = args
                .get("blocks")
                .map(|b| serde_json::from_str(b).unwrap_or(Value::Null))
                .unwrap_or(Value::Null);
            if let Err(e) = check_blocks(&blocks) {
                st.violations.push(format!("{method}: {e}"));
                return err("invalid_blocks");
            }
            let c = member_channel!(ch);
            let Some(m) = c.messages.iter_mut().find(|m| m.ts == ts) else {
                return err("message_not_found");
            };
            if m.user != BOT_USER {
                return err("cant_update_message");
            }
            if let Some(t) = args.get("text") {
                m.text = t.clone();
            }
            // chat.update takes `metadata` too; without it the message keeps its own.
            match metadata_arg(&args) {
                Ok(Value::Null) => {}
                Ok(meta) => m.metadata = meta,
                Err(e) => {
                    st.violations.push(format!("{method}: {e}"));
                    return err("invalid_metadata_format");
                }
            }
            if !blocks.is_null() {
                m.blocks = blocks;
            }
            m.edits += 1;
            let id = c.id.clone();
            ok(json!({"channel": id, "ts": ts, "text": m.text}))
        }
        "pins.add" => {
            let ch = required!("channel");
            let ts = required!("timestamp");
            let c = member_channel!(ch);
            if !c.messages.iter().any(|m| m.ts == ts) {
                return err("message_not_found");
            }
            if c.pins.contains(&ts) {
                return err("already_pinned");
            }
            c.pins.push(ts);
            ok(json!({}))
        }
        other => {
            st.violations.push(format!("unknown method {other}"));
            err("unknown_method")
        }
    }
}

/// The `metadata` argument: absent (`Null`), or an object with a string `event_type` and an
/// object `event_payload` (docs.slack.dev/messaging/message-metadata).
fn metadata_arg(args: &BTreeMap<String, String>) -> Result<Value, String> {
    let Some(raw) = args.get("metadata") else {
        return Ok(Value::Null);
    };
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("metadata is not JSON: {e}"))?;
    if !v["event_type"].is_string() || !v["event_payload"].is_object() {
        return Err(format!(
            "metadata without event_type and event_payload: {v}"
        ));
    }
    Ok(v)
}

/// A message as `conversations.history` / `replies` show it: text escaped, `pinned_to`; a
/// thread's parent carries `thread_ts`, `reply_count`, `latest_reply`, a reply its parent's
/// `thread_ts` (SAR conversations.history.json / conversations.replies.json examples).
fn message_json(c: &Channel, m: &Message) -> Value {
    let mut v = json!({"type": "message", "ts": m.ts, "user": m.user, "text": escaped(&m.text)});
    if c.pins.contains(&m.ts) {
        v["pinned_to"] = json!([c.id]);
    }
    let replies: Vec<&Message> = c
        .messages
        .iter()
        .filter(|r| r.thread_ts.as_deref() == Some(m.ts.as_str()))
        .collect();
    if let Some(last) = replies.last() {
        v["thread_ts"] = json!(m.ts);
        v["reply_count"] = json!(replies.len());
        v["latest_reply"] = json!(last.ts);
    }
    if let Some(parent) = &m.thread_ts {
        v["thread_ts"] = json!(parent);
    }
    v
}

/// The Block Kit rules the program relies on.
fn check_blocks(blocks: &Value) -> Result<(), String> {
    if blocks.is_null() {
        return Ok(());
    }
    let Some(list) = blocks.as_array() else {
        return Err("blocks is not an array".into());
    };
    if list.len() > 50 {
        return Err("more than 50 blocks".into());
    }
    for b in list {
        match b["type"].as_str() {
            Some("header") => {
                if b["text"]["type"] != "plain_text"
                    || b["text"]["text"].as_str().map_or(0, |t| t.chars().count()) > 150
                {
                    return Err(format!("bad header {b}"));
                }
            }
            Some("section") => {
                let fields = b["fields"].as_array().map_or(0, Vec::len);
                if fields > 10 {
                    return Err("section with more than 10 fields".into());
                }
                if fields == 0 && b["text"]["text"].as_str().is_none() {
                    return Err("section without text or fields".into());
                }
            }
            Some("actions") => {
                // A link button is still an interactive element: clicking it sends a
                // `block_actions` payload, and an app without an Interactivity Request URL
                // shows a warning triangle (slackapi/slack-github-action#513, maintainer's
                // answer; slackapi/node-slack-sdk#869). The app under test has no such URL.
                return Err(format!(
                    "actions block in an app without interactivity (buttons warn on click): {b}"
                ));
            }
            Some("context") => {
                if b["elements"].as_array().map_or(0, Vec::len) == 0 {
                    return Err(format!("{} without elements", b["type"]));
                }
            }
            other => return Err(format!("unexpected block type {other:?}")),
        }
    }
    Ok(())
}
