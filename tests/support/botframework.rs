//! A fake Bot Framework token endpoint and Teams Bot Connector, served by the fake Graph
//! (`graph.rs`) on the same port so both see one team: its channels, and whether the bot's
//! app is installed in it. Each rule cites its source:
//!
//! - Token: `POST https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token`, form
//!   body `grant_type=client_credentials&client_id=…&client_secret=…&scope=https%3A%2F%2Fapi.botframework.com%2F.default`
//!   → `{"token_type":"Bearer","expires_in":…,"ext_expires_in":…,"access_token":…}`
//!   (learn.microsoft.com/azure/bot-service/rest-api/bot-framework-rest-connector-quickstart,
//!   "Get an access token"). A single-tenant bot asks its own tenant instead of
//!   `botframework.com` (botframework-connector `MicrosoftAppCredentials`: "'botframework.com'
//!   is the default tenant when no value is provided").
//! - Every Bot Connector call carries `Authorization: Bearer <token>`
//!   (…/rest-api/bot-framework-rest-connector-authentication); otherwise 401.
//! - `POST {serviceUrl}/v3/conversations` with `isGroup: true`, `channelData.channel.id` and an
//!   `activity` starts a thread in a channel and answers `{"id", "activityId"}`
//!   (Bot Connector API reference, "Create Conversation"; Teams "Proactive messages": the app
//!   "must be first installed" in the team; `serviceUrl` default
//!   `https://smba.trafficmanager.net/teams/`, Bot Connector API reference "Base URI").
//! - A bot not installed in the team, or posting into a private channel (apps in private
//!   channels are restricted; MC1197145's rollout paused 2026-03-17), gets 403
//!   `{"error":{"code":"BotNotInConversationRoster","message":"The bot is not part of the
//!   conversation roster."}}` (msteams-docs "Status codes from bot conversational APIs";
//!   microsoftgraph/microsoft-graph-docs-contrib#2570; OfficeDev company-communicator#425).
//! - `PUT …/v3/conversations/{id}/activities/{activityId}` replaces a message ("Update
//!   activity"); `POST …/v3/conversations/{id}/activities` posts into the conversation ("Send
//!   to conversation"); an unknown conversation or activity is 404.
//! - Teams refuses messages over about 28 KB (msteams-docs "Format your bot messages": "the
//!   message size limit is 28 KB").

use serde_json::{json, Value};

use super::http::{decode, Recorded, Reply};

pub const BOT_APP_ID: &str = "7c1e5a2b-0000-4000-8000-0000000000b0";
pub const BOT_SECRET: &str = "b0t~Secret.Value_456";
/// The Teams app's id in the organisation's catalog (what Graph's installedApps binds).
pub const TEAMS_APP_ID: &str = "e3a1c0de-0000-4000-8000-0000000000a9";
/// The Bot Connector's path under the fake's base URL (`bot_service_url`).
pub const SERVICE_PATH: &str = "/botconnector";
const BOT_SCOPE: &str = "https://api.botframework.com/.default";

/// One thread the bot started in a channel.
#[derive(Clone, Debug)]
pub struct Thread {
    pub channel: String,
    pub conversation: String,
    /// (activity id, the activity as last written)
    pub activities: Vec<(String, Value)>,
}

/// What the fake Bot Connector knows and saw.
#[derive(Default)]
pub struct BotState {
    pub tokens: Vec<String>,
    pub token_requests: usize,
    /// The bot's app is installed in the team.
    pub installed: bool,
    /// Graph lets the app install itself (the admin granted the permission).
    pub install_allowed: bool,
    pub install_requests: usize,
    /// Apps may post into private channels (the paused rollout completed).
    pub private_apps_allowed: bool,
    pub threads: Vec<Thread>,
    /// `(conversation, activity id)` of every PUT.
    pub puts: Vec<(String, String)>,
    pub replies: usize,
    pub refusals: usize,
    pub violations: Vec<String>,
    next: u64,
}

fn error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(status, json!({"error": {"code": code, "message": message}}))
}

/// The token endpoint of the `botframework.com` tenant.
pub fn token(r: &Recorded, st: &mut BotState) -> Reply {
    st.token_requests += 1;
    let f = r.form();
    if r.method != "POST"
        || !r
            .header("content-type")
            .unwrap_or("")
            .starts_with("application/x-www-form-urlencoded")
    {
        st.violations
            .push("bot token request must be a POST with a form body".into());
        return Reply::json(400, json!({"error": "invalid_request"}));
    }
    if f.get("grant_type").map(String::as_str) != Some("client_credentials")
        || f.get("scope").map(String::as_str) != Some(BOT_SCOPE)
    {
        st.violations.push(format!("bot token request form {f:?}"));
        return Reply::json(
            400,
            json!({"error": "invalid_scope", "error_description": "AADSTS1002012: The provided value for scope is not valid."}),
        );
    }
    if f.get("client_id").map(String::as_str) != Some(BOT_APP_ID)
        || f.get("client_secret").map(String::as_str) != Some(BOT_SECRET)
    {
        return Reply::json(
            401,
            json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
        );
    }
    st.next += 1;
    let t = format!("eyJib3Qi.fake.{}", st.next);
    st.tokens.push(t.clone());
    Reply::json(
        200,
        json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": t}),
    )
}

/// The Bot Connector. `private_channel(id)` says whether a channel of the team exists and is
/// private: `None` when there is no such channel.
pub fn connector(
    r: &Recorded,
    st: &mut BotState,
    private_channel: impl Fn(&str) -> Option<bool>,
) -> Reply {
    let auth = r
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or("");
    if !st.tokens.iter().any(|t| t == auth) {
        if auth.is_empty() {
            st.violations.push(format!("{}: no bearer token", r.path));
        }
        return Reply::json(
            401,
            json!({"message": "Authorization has been denied for this request."}),
        );
    }
    if r.body.len() > 28 * 1024 {
        return error(413, "MessageSizeTooBig", "Message size too big.");
    }
    let rest = r.path.strip_prefix(SERVICE_PATH).unwrap_or_default();
    let seg: Vec<String> = rest.split('/').skip(1).map(decode).collect();
    let seg: Vec<&str> = seg.iter().map(String::as_str).collect();
    let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
    match (r.method.as_str(), seg.as_slice()) {
        ("POST", ["v3", "conversations"]) => {
            if body["isGroup"] != true {
                st.violations
                    .push("a channel thread needs isGroup: true".into());
                return error(400, "BadArgument", "isGroup must be true for a channel");
            }
            let Some(channel) = body["channelData"]["channel"]["id"].as_str() else {
                st.violations.push("no channelData.channel.id".into());
                return error(400, "BadArgument", "Invalid channel id");
            };
            if let Some(p) = activity_problem(&body["activity"]) {
                st.violations.push(p.clone());
                return error(400, "BadArgument", &p);
            }
            let private = match private_channel(channel) {
                None => return error(404, "ConversationNotFound", "Conversation not found."),
                Some(p) => p,
            };
            if !st.installed || (private && !st.private_apps_allowed) {
                st.refusals += 1;
                return error(
                    403,
                    "BotNotInConversationRoster",
                    "The bot is not part of the conversation roster.",
                );
            }
            st.next += 1;
            let activity_id = format!("17000000{:05}", st.next);
            let conversation = format!("{channel};messageid={activity_id}");
            st.threads.push(Thread {
                channel: channel.to_string(),
                conversation: conversation.clone(),
                activities: vec![(activity_id.clone(), body["activity"].clone())],
            });
            Reply::json(201, json!({"id": conversation, "activityId": activity_id}))
        }
        ("PUT", ["v3", "conversations", conv, "activities", id]) => {
            if let Some(p) = activity_problem(&body) {
                st.violations.push(p.clone());
                return error(400, "BadArgument", &p);
            }
            let Some(t) = st.threads.iter_mut().find(|t| t.conversation == *conv) else {
                return error(404, "ConversationNotFound", "Conversation not found.");
            };
            let Some(a) = t.activities.iter_mut().find(|(a, _)| a == id) else {
                return error(404, "NotFound", "Activity not found.");
            };
            a.1 = body;
            st.puts.push((conv.to_string(), id.to_string()));
            Reply::json(200, json!({"id": id}))
        }
        ("POST", ["v3", "conversations", conv, "activities"]) => {
            if let Some(p) = activity_problem(&body) {
                st.violations.push(p.clone());
                return error(400, "BadArgument", &p);
            }
            st.next += 1;
            let id = format!("17000000{:05}", st.next);
            let Some(t) = st.threads.iter_mut().find(|t| t.conversation == *conv) else {
                return error(404, "ConversationNotFound", "Conversation not found.");
            };
            t.activities.push((id.clone(), body));
            st.replies += 1;
            Reply::json(201, json!({"id": id}))
        }
        (m, _) => {
            st.violations
                .push(format!("unexpected Bot Connector call {m} {}", r.path));
            error(404, "NotFound", "Not found")
        }
    }
}

/// What is wrong with a message activity carrying an Adaptive Card, if anything.
fn activity_problem(a: &Value) -> Option<String> {
    if a["type"] != "message" {
        return Some("activity type must be \"message\"".into());
    }
    let no_attachments = Vec::new();
    let atts = a["attachments"].as_array().unwrap_or(&no_attachments);
    for att in atts {
        if att["contentType"] != "application/vnd.microsoft.card.adaptive" {
            return Some("attachment contentType".into());
        }
        if att["content"]["type"] != "AdaptiveCard" || !att["content"]["version"].is_string() {
            return Some("attachment content must be an AdaptiveCard with a version".into());
        }
    }
    if atts.is_empty() && !a["text"].is_string() {
        return Some("a message needs text or an attachment".into());
    }
    None
}

/// Graph's `POST /teams/{id}/installedApps` (learn.microsoft.com/graph/api/team-post-installedapps):
/// body `{"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{id}"}`,
/// application permission `TeamsAppInstallation.ReadWriteSelfForTeam.All` (least privileged)
/// or a higher one; without it 403. An app installed already: 409 Conflict.
pub fn install(body: &Value, st: &mut BotState) -> Reply {
    st.install_requests += 1;
    if !st.install_allowed {
        return error(
            403,
            "Forbidden",
            "Missing role permissions on the request. API requires one of 'TeamsAppInstallation.ReadWriteSelfForTeam.All, TeamsAppInstallation.ReadWriteForTeam.All, Group.ReadWrite.All, Directory.ReadWrite.All'.",
        );
    }
    let bind = body["teamsApp@odata.bind"].as_str().unwrap_or_default();
    if !bind.ends_with(&format!("/appCatalogs/teamsApps/{TEAMS_APP_ID}")) {
        st.violations.push(format!("installedApps bind {bind:?}"));
        return error(404, "NotFound", "The app was not found in the catalog.");
    }
    if st.installed {
        return error(409, "Conflict", "App is already installed in the team.");
    }
    st.installed = true;
    Reply::new(201, "")
}

/// Graph's `GET /teams/{id}/installedApps?$expand=teamsApp` (team-list-installedapps); the
/// same permissions as installing (or a read-only one) are needed, so it is refused when
/// installing is.
pub fn installed_apps(st: &BotState) -> Reply {
    if !st.install_allowed {
        return error(
            403,
            "Forbidden",
            "Missing role permissions on the request. API requires one of 'TeamsAppInstallation.ReadForTeam.All, TeamsAppInstallation.ReadWriteSelfForTeam.All'.",
        );
    }
    let value = if st.installed {
        json!([{"id": "inst-1", "teamsApp": {"id": TEAMS_APP_ID, "displayName": "pandora-ilert", "distributionMethod": "organization"}}])
    } else {
        json!([])
    };
    Reply::json(200, json!({"value": value}))
}
