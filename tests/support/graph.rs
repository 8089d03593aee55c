//! A fake Microsoft identity platform + Graph + Teams Workflows webhook, following the
//! documented contracts (reference chat.md and chat-research.md §2):
//! - `POST /{tenant}/oauth2/v2.0/token`, form body with `grant_type=client_credentials`,
//!   `client_id`, `client_secret`, `scope=https://graph.microsoft.com/.default` →
//!   `{"token_type":"Bearer","expires_in":…,"access_token":…}`; a wrong secret gets
//!   `invalid_client` (AADSTS7000215).
//! - Graph under `/v1.0` with `Authorization: Bearer <token>`; an unknown or expired token
//!   gets 401 `InvalidAuthenticationToken`. Errors are `{"error":{"code","message"}}`.
//! - Channels: create (201; a display name already used → 400 `NameAlreadyExists` "Channel
//!   name already existed"; private needs an owner member), list (paged by
//!   `@odata.nextLink`), get, PATCH, archive/unarchive (202), members of private channels.
//! - Posting a channel message with an application token → 401 "Message POST is allowed in
//!   application-only context only for import purposes".
//! - The Workflows webhook (`POST /webhook/…?sig=…`) takes the Adaptive Card envelope with
//!   `"contentUrl": null` and answers 202 with no body (no message id).

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::botframework::{self, BotState};
use super::http::{decode, Recorded, Reply, Server};

pub const TENANT: &str = "8d3f1c2e-0000-4000-8000-000000000001";
pub const CLIENT_ID: &str = "5b6a7c8d-0000-4000-8000-000000000002";
pub const CLIENT_SECRET: &str = "s3cr3t~Graph.Value_123";
pub const TEAM: &str = "02bd9fd6-8f93-4758-87c3-1fb73740a315";
pub const WEBHOOK_PATH: &str = "/webhook/workflows/4f2a/triggers/manual/paths/invoke";
pub const WEBHOOK_SIG: &str = "sig-Zm9vYmFy";

/// Characters a channel name may not hold: Microsoft, "Limits and specifications for
/// Microsoft Teams" (learn.microsoft.com/microsoftteams/limits-specifications-teams), §Channel
/// names: `~ # % & * { } + / \ : < > ? | ' " ,` and `..`, control characters 0-1F and 80-9F,
/// the words `forms, CON, CONIN$, CONOUT$, PRN, AUX, NUL, COM1-COM9, LPT1-LPT9, desktop.ini,
/// _vti_`; no leading `_` or `.`, no trailing `.`; the Graph channel schema: at most 50.
const FORBIDDEN: &[char] = &[
    '~', '#', '%', '&', '*', '{', '}', '/', '\\', ':', '<', '>', '?', '+', '|', '\'', '"', ',',
];

/// Why Teams refuses `name` as a channel display name, if it does.
fn name_refused(name: &str) -> bool {
    let reserved = |w: &str| {
        let w = w.to_ascii_uppercase();
        ["FORMS", "CON", "CONIN$", "CONOUT$", "PRN", "AUX", "NUL"].contains(&w.as_str())
            || (w.len() == 4
                && (w.starts_with("COM") || w.starts_with("LPT"))
                && matches!(w.as_bytes()[3], b'1'..=b'9'))
    };
    let lower = name.to_ascii_lowercase();
    name.chars().count() > 50
        || name.contains(FORBIDDEN)
        || name.chars().any(char::is_control)
        || name.contains("..")
        || name.starts_with(['_', '.'])
        || name.ends_with('.')
        || lower.contains("_vti_")
        || lower.contains("desktop.ini")
        || name.split_whitespace().any(reserved)
}

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub membership_type: String,
    pub archived: bool,
    /// (user id, roles)
    pub members: Vec<(String, Vec<String>)>,
}

#[derive(Default)]
struct State {
    /// (token, expired)
    tokens: Vec<(String, bool)>,
    token_requests: usize,
    expires_in: u64,
    channels: Vec<Channel>,
    message_posts: usize,
    cards: Vec<Value>,
    violations: Vec<String>,
    graph_calls: Vec<String>,
    next: u64,
    /// Largest channel-list page (0: the default of 2).
    list_page: usize,
    /// Channels deleted: they still count against the team's limit for 30 days.
    deleted: Vec<String>,
    /// The Bot Framework side (token endpoint, Bot Connector, the app's installation).
    bot: BotState,
}

/// Channels a team holds at most, "including deleted channels" for the 30 days they can be
/// restored (Microsoft, "Limits and specifications for Microsoft Teams": "Number of channels
/// per team: 1000"; office365itpros.com/2023/07/26/teams-channel-1000, MC649926). Archived
/// channels still exist, so they count too. The fake deletes nothing.
pub const TEAM_CHANNELS_MAX: usize = 1000;

/// The running fake (identity platform, Graph and the webhook on one port).
pub struct FakeGraph {
    pub server: Server,
    state: Arc<Mutex<State>>,
}

impl FakeGraph {
    pub fn start() -> FakeGraph {
        let state = Arc::new(Mutex::new(State {
            expires_in: 3599,
            ..Default::default()
        }));
        let st = state.clone();
        let server = Server::start(move |r| respond(r, &mut st.lock().unwrap()));
        FakeGraph { server, state }
    }

    pub fn login_url(&self) -> String {
        self.server.url()
    }
    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.server.url())
    }
    pub fn webhook_url(&self) -> String {
        format!(
            "{}{WEBHOOK_PATH}?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={WEBHOOK_SIG}",
            self.server.url()
        )
    }

    /// Every token issued so far stops working (they expired).
    pub fn expire_tokens(&self) {
        for t in self.state.lock().unwrap().tokens.iter_mut() {
            t.1 = true;
        }
    }
    pub fn token_requests(&self) -> usize {
        self.state.lock().unwrap().token_requests
    }
    pub fn channels(&self) -> Vec<Channel> {
        self.state.lock().unwrap().channels.clone()
    }
    /// Adds `n` channels made by people (or by pandora-ilert when `description` carries its
    /// marker), `archived` or not: a team that has been in use for a while.
    pub fn add_channels(&self, n: usize, prefix: &str, description: &str, archived: bool) {
        let mut st = self.state.lock().unwrap();
        for i in 0..n {
            st.next += 1;
            let id = format!("19:{:032x}@thread.tacv2", st.next * 7919);
            st.channels.push(Channel {
                id,
                display_name: format!("{prefix} {i}"),
                description: description.to_string(),
                membership_type: "standard".into(),
                archived,
                members: Vec::new(),
            });
        }
    }
    /// Serves channel-list pages of up to `n` channels.
    pub fn set_list_page(&self, n: usize) {
        self.state.lock().unwrap().list_page = n;
    }
    /// Attempts to post a channel message through Graph.
    pub fn message_posts(&self) -> usize {
        self.state.lock().unwrap().message_posts
    }
    /// Adaptive Cards received by the webhook, in order (the `content` of the attachment).
    pub fn cards(&self) -> Vec<Value> {
        self.state.lock().unwrap().cards.clone()
    }
    /// `METHOD path` of every Graph call.
    pub fn graph_calls(&self) -> Vec<String> {
        self.state.lock().unwrap().graph_calls.clone()
    }
    pub fn violations(&self) -> Vec<String> {
        let st = self.state.lock().unwrap();
        let mut v = st.violations.clone();
        v.extend(st.bot.violations.iter().cloned());
        v
    }
    /// Channels deleted through Graph.
    pub fn deleted(&self) -> Vec<String> {
        self.state.lock().unwrap().deleted.clone()
    }
    /// `bot_service_url` for the fake Bot Connector.
    pub fn bot_service_url(&self) -> String {
        format!("{}{}", self.server.url(), botframework::SERVICE_PATH)
    }
    /// `bot_token_url` for the fake `botframework.com` tenant.
    pub fn bot_token_url(&self) -> String {
        format!("{}/botframework.com/oauth2/v2.0/token", self.server.url())
    }
    /// Sets what the admin allowed: Graph may install the bot's app; apps may post into
    /// private channels.
    pub fn bot_allow(&self, install: bool, private_channels: bool) {
        let mut st = self.state.lock().unwrap();
        st.bot.install_allowed = install;
        st.bot.private_apps_allowed = private_channels;
    }
    /// Every bot token issued so far stops working (expired or revoked).
    pub fn expire_bot_tokens(&self) {
        self.state.lock().unwrap().bot.tokens.clear();
    }
    /// Someone deletes the first message of every bot thread.
    pub fn delete_bot_cards(&self) {
        for t in self.state.lock().unwrap().bot.threads.iter_mut() {
            t.activities.remove(0);
        }
    }
    /// Reads the Bot Connector's state.
    pub fn bot<T>(&self, f: impl FnOnce(&BotState) -> T) -> T {
        f(&self.state.lock().unwrap().bot)
    }
}

fn graph_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        json!({"error": {"code": code, "message": message, "innerError": {"date": "2026-11-24T02:22:00", "request-id": "0000"}}}),
    )
}

fn channel_json(c: &Channel, base: &str) -> Value {
    json!({
        "id": c.id,
        "createdDateTime": "2026-11-24T02:22:00Z",
        "displayName": c.display_name,
        "description": c.description,
        "membershipType": c.membership_type,
        "isArchived": c.archived,
        "webUrl": format!("{base}/l/channel/{}/{}", c.id.replace(':', "%3a").replace('@', "%40"), c.display_name.replace(' ', "%20")),
    })
}

fn respond(r: &Recorded, st: &mut State) -> Reply {
    let host = r.header("host").unwrap_or("127.0.0.1").to_string();
    let base = format!("http://{host}");
    if r.path == format!("/{TENANT}/oauth2/v2.0/token") {
        return token(r, st);
    }
    if r.path == "/botframework.com/oauth2/v2.0/token" {
        return botframework::token(r, &mut st.bot);
    }
    if r.path.starts_with(botframework::SERVICE_PATH) {
        let channels = &st.channels;
        let private = |id: &str| {
            channels
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.membership_type != "standard")
        };
        return botframework::connector(r, &mut st.bot, private);
    }
    if r.path.contains("/oauth2/") {
        return Reply::json(
            400,
            json!({"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."}),
        );
    }
    if r.path == WEBHOOK_PATH {
        return webhook(r, st);
    }
    let Some(rest) = r.path.strip_prefix("/v1.0/") else {
        st.violations.push(format!("no such path {}", r.path));
        return graph_error(404, "NotFound", "Resource not found");
    };
    st.graph_calls.push(format!("{} /{rest}", r.method));
    // Auth first, as Graph does.
    let token = r
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    match st.tokens.iter().find(|(t, _)| t == token) {
        _ if token.is_empty() => {
            st.violations.push(format!("{}: no bearer token", r.path));
            return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.");
        }
        None => {
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed.",
            )
        }
        Some((_, true)) => {
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        }
        Some(_) => {}
    }
    let seg: Vec<String> = rest.split('/').map(decode).collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    if seg.first() == Some(&"teams") && seg.get(2) == Some(&"installedApps") && seg[1] == TEAM {
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        return match r.method.as_str() {
            "POST" => botframework::install(&body, &mut st.bot),
            "GET" => botframework::installed_apps(&st.bot),
            m => {
                st.violations.push(format!("unexpected {m} /{rest}"));
                graph_error(405, "MethodNotAllowed", "Unsupported")
            }
        };
    }
    if seg.first() != Some(&"teams") || seg.len() < 3 || seg[2] != "channels" {
        st.violations.push(format!("unexpected Graph path /{rest}"));
        return graph_error(404, "NotFound", "Resource not found for the segment.");
    }
    if seg[1] != TEAM {
        return graph_error(
            404,
            "NotFound",
            &format!("No team found with Group Id {}", seg[1]),
        );
    }
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    if matches!(r.method.as_str(), "POST" | "PATCH")
        && !r.body.is_empty()
        && !r
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    {
        st.violations
            .push(format!("{} /{rest}: body is not JSON", r.method));
    }
    match (r.method.as_str(), &seg[3..]) {
        ("POST", []) => create_channel(&body, st, &base),
        ("GET", []) => {
            let skip: usize = r
                .query
                .split('&')
                .find_map(|p| p.strip_prefix("$skiptoken="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let all: Vec<Value> = st.channels.iter().map(|c| channel_json(c, &base)).collect();
            let page = if st.list_page == 0 { 2 } else { st.list_page };
            let end = (skip + page).min(all.len());
            let mut v = json!({"@odata.context": format!("{base}/v1.0/$metadata#teams('{TEAM}')/channels"), "value": all[skip.min(end)..end]});
            if end < all.len() {
                v["@odata.nextLink"] = json!(format!(
                    "{base}/v1.0/teams/{TEAM}/channels?$skiptoken={end}"
                ));
            }
            Reply::json(200, v)
        }
        ("DELETE", [id]) => {
            // Graph, "Delete channel": 204; application permission Channel.Delete.All (or
            // Channel.Delete.Group). Deleted channels count against the limit for 30 days.
            let Some(at) = st.channels.iter().position(|c| c.id == *id) else {
                return graph_error(404, "NotFound", "Channel not found");
            };
            let c = st.channels.remove(at);
            st.deleted.push(c.id);
            Reply::new(204, "")
        }
        (method, [id, tail @ ..]) => {
            let Some(c) = st.channels.iter_mut().find(|c| c.id == *id) else {
                return graph_error(404, "NotFound", "Channel not found");
            };
            match (method, tail) {
                ("GET", []) => Reply::json(200, channel_json(c, &base)),
                ("PATCH", []) => {
                    if let Some(d) = body["description"].as_str() {
                        if d.chars().count() > 1024 {
                            return graph_error(400, "BadRequest", "Description too long");
                        }
                        c.description = d.to_string();
                    }
                    Reply::new(204, "")
                }
                ("POST", ["archive"]) => {
                    if c.archived {
                        return graph_error(400, "BadRequest", "Channel is already archived.");
                    }
                    c.archived = true;
                    Reply::new(202, "")
                }
                ("POST", ["unarchive"]) => {
                    c.archived = false;
                    Reply::new(202, "")
                }
                ("POST", ["members"]) => {
                    if c.membership_type == "standard" {
                        return graph_error(
                            400,
                            "BadRequest",
                            "Members cannot be added to a standard channel.",
                        );
                    }
                    let Some(user) = bound_user(&body) else {
                        st.violations.push("member without user@odata.bind".into());
                        return graph_error(400, "BadRequest", "Invalid member");
                    };
                    if c.members.iter().any(|(u, _)| *u == user) {
                        return graph_error(409, "Conflict", "The member already exists.");
                    }
                    let roles = roles(&body);
                    c.members.push((user.clone(), roles));
                    Reply::json(201, json!({"id": user, "roles": body["roles"]}))
                }
                ("POST", ["messages"]) => {
                    st.message_posts += 1;
                    graph_error(
                        401,
                        "Unauthorized",
                        "Message POST is allowed in application-only context only for import purposes. Refer to https://docs.microsoft.com/microsoftteams/platform/graph-api/import-messages/import-external-messages-to-teams for more details.",
                    )
                }
                ("PATCH", ["messages", _]) => graph_error(
                    401,
                    "Unauthorized",
                    "Message PATCH is not allowed in application-only context.",
                ),
                _ => {
                    st.violations.push(format!("unexpected {method} /{rest}"));
                    graph_error(405, "MethodNotAllowed", "Unsupported")
                }
            }
        }
        (method, _) => {
            st.violations.push(format!("unexpected {method} /{rest}"));
            graph_error(405, "MethodNotAllowed", "Unsupported")
        }
    }
}

fn bound_user(member: &Value) -> Option<String> {
    if member["@odata.type"] != "#microsoft.graph.aadUserConversationMember" {
        return None;
    }
    let bind = member["user@odata.bind"].as_str()?;
    let start = bind.find("/users('")? + "/users('".len();
    let end = bind[start..].find("')")? + start;
    Some(bind[start..end].to_string())
}

fn roles(member: &Value) -> Vec<String> {
    member["roles"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn create_channel(body: &Value, st: &mut State, base: &str) -> Reply {
    let Some(name) = body["displayName"].as_str() else {
        st.violations
            .push("channel create without displayName".into());
        return graph_error(400, "BadRequest", "displayName is required");
    };
    if name_refused(name) {
        st.violations
            .push(format!("invalid channel display name {name:?}"));
        return graph_error(400, "BadRequest", "Channel name is invalid.");
    }
    let membership = body["membershipType"].as_str().unwrap_or("standard");
    if !["standard", "private", "shared"].contains(&membership) {
        return graph_error(400, "BadRequest", "Invalid membershipType");
    }
    let mut members = Vec::new();
    if membership != "standard" {
        for m in body["members"].as_array().into_iter().flatten() {
            match bound_user(m) {
                Some(u) => members.push((u, roles(m))),
                None => {
                    st.violations.push(format!("bad member {m}"));
                    return graph_error(400, "BadRequest", "Invalid member");
                }
            }
        }
        if !members.iter().any(|(_, r)| r.iter().any(|x| x == "owner")) {
            return graph_error(
                400,
                "BadRequest",
                "A private channel created with application permissions needs an owner.",
            );
        }
    }
    if st
        .channels
        .iter()
        .any(|c| c.display_name.eq_ignore_ascii_case(name))
    {
        return graph_error(
            400,
            "NameAlreadyExists",
            "Channel name already existed, please use other name.",
        );
    }
    if st.channels.len() + st.deleted.len() >= TEAM_CHANNELS_MAX {
        // The answer's wording is not documented; the limit is.
        return graph_error(
            400,
            "BadRequest",
            "The maximum number of channels for this team has been reached.",
        );
    }
    st.next += 1;
    let c = Channel {
        id: format!("19:{:032x}@thread.tacv2", st.next * 7919),
        display_name: name.to_string(),
        description: body["description"].as_str().unwrap_or_default().to_string(),
        membership_type: membership.to_string(),
        archived: false,
        members,
    };
    let v = channel_json(&c, base);
    st.channels.push(c);
    Reply::json(201, v)
}

fn token(r: &Recorded, st: &mut State) -> Reply {
    st.token_requests += 1;
    if r.method != "POST"
        || !r
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/x-www-form-urlencoded")
    {
        st.violations
            .push("token request must be a POST with a form body".into());
        return Reply::json(
            400,
            json!({"error": "invalid_request", "error_description": "AADSTS900144: The request body must contain the following parameter: 'grant_type'."}),
        );
    }
    let f = r.form();
    if f.get("grant_type").map(String::as_str) != Some("client_credentials")
        || f.get("scope").map(String::as_str) != Some("https://graph.microsoft.com/.default")
    {
        st.violations.push(format!("token request form {f:?}"));
        return Reply::json(
            400,
            json!({"error": "invalid_scope", "error_description": "AADSTS1002012: The provided value for scope is not valid."}),
        );
    }
    if f.get("client_id").map(String::as_str) != Some(CLIENT_ID) {
        return Reply::json(
            400,
            json!({"error": "unauthorized_client", "error_description": "AADSTS700016: Application not found in the directory."}),
        );
    }
    if f.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET) {
        return Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: 0"}),
        );
    }
    st.next += 1;
    let t = format!("eyJ0eXAiOiJKV1Qi.fake.{}", st.next);
    st.tokens.push((t.clone(), false));
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": st.expires_in, "ext_expires_in": st.expires_in, "access_token": t}),
    )
}

fn webhook(r: &Recorded, st: &mut State) -> Reply {
    let sig_ok = r
        .query
        .split('&')
        .any(|p| p == format!("sig={WEBHOOK_SIG}"));
    if !sig_ok {
        return Reply::json(
            401,
            json!({"error": {"code": "DirectApiAuthorizationRequired", "message": "The request must be authenticated."}}),
        );
    }
    let parsed: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    let problem = envelope_problem(r, &parsed);
    if let Some(p) = problem {
        st.violations.push(format!("webhook: {p}"));
        return Reply::json(
            400,
            json!({"error": {"code": "InvalidTemplate", "message": format!("Unable to process template language expressions: {p}")}}),
        );
    }
    st.cards.push(parsed["attachments"][0]["content"].clone());
    Reply::new(202, "")
}

/// What is wrong with a webhook request, if anything.
fn envelope_problem(r: &Recorded, v: &Value) -> Option<String> {
    if !r
        .header("content-type")
        .unwrap_or("")
        .starts_with("application/json")
    {
        return Some("content-type must be application/json".into());
    }
    if v.is_null() {
        return Some("body is not JSON".into());
    }
    if v["type"] != "message" {
        return Some("type must be \"message\"".into());
    }
    let Some([a]) = v["attachments"].as_array().map(Vec::as_slice) else {
        return Some("exactly one attachment expected".into());
    };
    if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
        return Some("attachment contentType".into());
    }
    if !a.as_object().is_some_and(|o| o.contains_key("contentUrl")) || !a["contentUrl"].is_null() {
        return Some("attachment needs \"contentUrl\": null".into());
    }
    let c = &a["content"];
    if c["type"] != "AdaptiveCard" || !c["version"].is_string() {
        return Some("content must be an AdaptiveCard with a version".into());
    }
    if c["body"].as_array().is_none_or(Vec::is_empty) {
        return Some("card body is empty".into());
    }
    if r.body.len() > 28 * 1024 {
        return Some("card larger than 28 KB".into());
    }
    None
}
