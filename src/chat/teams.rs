//! Microsoft Teams, in the two ways an application can reach it.
//!
//! **Graph mode** (`tenant_id`, `client_id`, `client_secret`, `team_id`): a client-credentials
//! token (cached under `meta/` until it expires, refetched once when Graph calls it invalid)
//! creates a standard or private channel per incident in the team, keeps the channel
//! description as the topic, adds members to private channels, and archives. What Graph does
//! not allow an application, we do not pretend to do:
//! - posting or editing channel messages with an application token is refused ("only for
//!   import purposes"): the card goes through the Workflows webhook (`webhook_url`) instead,
//!   into the webhook's channel, with a link to the incident channel; without a webhook the
//!   post is a dead letter that says so. Posted cards cannot be edited, so a re-fire changes
//!   only the description.
//! - there is no pin API for channel messages, and reading messages back is a protected API:
//!   no pin, no history.
//!
//! **Bot mode** (Graph settings and `bot_app_id`/`bot_secret`): channels as in Graph mode, and
//! the cards go through the Bot Framework bot (`teams_bot`): the alert card starts a thread in
//! the incident channel and is edited in place, follow-ups are replies in that thread. Where
//! the bot is refused in a private channel, the detail-free card goes through the webhook.
//!
//! **Webhook mode** (only `webhook_url`): one Adaptive Card per state change (opened,
//! resolved) into the webhook's channel; no channel is created.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use super::api::{self, Refusal};
use super::entra;
use super::message::MessageKind;
use super::teams_bot::{self, BotClient, BotMessageId};
use super::{
    alternative_names, shorten_name, Capabilities, ChannelRef, ChannelSpec, ChatBackend, ChatError,
    ChatMessage, Context, HistoryItem, PostedAlert,
};
use crate::config::TeamsConfig;
use crate::http::{encode_component, Request, Response};
use crate::text::one_line;
use crate::time::Timestamp;

/// Teams' limit for a channel's display name.
pub const NAME_MAX: usize = 50;
/// Marks a channel description as written by us; a channel with the incident's name and this
/// marker is the incident's channel (an earlier run or another server created it).
pub const MARKER: &str = "(managed by pandora-ilert)";
/// The scope of a client-credentials token for Graph.
const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// `meta/` entry remembering that Graph refused an application post.
const REFUSED_META: &str = "teams-graph-post-refused";
/// How long we trust that refusal before trying Graph again.
const REFUSED_RECHECK: Duration = Duration::from_secs(24 * 3600);
/// A cached token is used only if it is valid at least this much longer.
const TOKEN_SLACK: Duration = Duration::from_secs(60);
/// Pages of the channel list we read at most.
const LIST_PAGES_MAX: usize = 20;

/// Set once the webhook fallback has been explained in this process's log.
static FALLBACK_EXPLAINED: AtomicBool = AtomicBool::new(false);

/// `meta/` entry with the outcome of the last attempt to install the bot's app in the team
/// (`{"state": "installed"|"refused", "at", "reason"}`); `doctor` and `status` read it.
pub const BOT_INSTALL_META: &str = "teams-bot-install";
/// `meta/` entry naming the last private channel the bot was refused in
/// (`{"at", "channel", "via"}`); `status` shows it.
pub const BOT_PRIVATE_FALLBACK_META: &str = "teams-bot-private-fallback";
/// How long a refused installation is trusted before it is tried again.
const INSTALL_RECHECK: Duration = Duration::from_secs(24 * 3600);
/// The least-privileged application permission to install an app in a team (Graph, "Add app
/// to team", Permissions).
pub const INSTALL_PERMISSION: &str = "TeamsAppInstallation.ReadWriteSelfForTeam.All";

/// Channels a team holds at most, deleted ones included for 30 days (Microsoft, "Limits and
/// specifications for Microsoft Teams": "Number of channels per team: 1000"; MC649926).
pub const TEAM_CHANNELS_MAX: usize = 1000;
/// What to do about a team near its channel limit.
pub const CAPACITY_ADVICE: &str = "delete archived incident channels no longer needed ([teams] \
     delete_archived_after does it after archiving; deleted channels free their slot after 30 \
     days), or set [teams] team_id to a new team for new incidents";
/// `meta/` entry with the team's channel count as last taken (`TeamCapacity`).
pub const CAPACITY_META: &str = "teams-capacity";

/// The team's channels against its 1,000-channel limit, as counted at `at`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TeamCapacity {
    /// Channels Graph lists (archived ones included).
    pub listed: usize,
    /// Of them, ours (incident channels).
    pub ours: usize,
    /// Of ours, archived.
    pub ours_archived: usize,
    /// Channels we deleted within 30 days: still counted by Teams, not listed by Graph.
    pub deleted_recently: usize,
    /// When counted.
    pub at: Timestamp,
}

impl TeamCapacity {
    /// Channels that count against the limit.
    pub fn used(&self) -> usize {
        self.listed + self.deleted_recently
    }

    /// One line: the count and what it is made of.
    pub fn line(&self) -> String {
        format!(
            "Teams team holds {} of {TEAM_CHANNELS_MAX} channels ({} incident channels of ours, \
             {} of them archived; {} deleted by us in the last 30 days still count)",
            self.used(),
            self.ours,
            self.ours_archived,
            self.deleted_recently
        )
    }

    /// The warning from 80 % of the limit on, with what to do (pure).
    pub fn warning(&self) -> Option<String> {
        (self.used() * 100 >= TEAM_CHANNELS_MAX * 80)
            .then(|| format!("{}: {CAPACITY_ADVICE}", self.line()))
    }
}

/// The Teams backend for one delivery.
pub struct Teams<'a> {
    cfg: &'a TeamsConfig,
    ctx: &'a Context<'a>,
    token: Option<String>,
    private: HashMap<String, bool>,
    bot: Option<BotClient<'a>>,
    /// The channel the last `open_channel` adopted (created by another server or an earlier
    /// run).
    adopted: Option<String>,
}

/// What a Graph error means for the delivery; configuration problems say what to fix.
fn classify(e: &Refusal, what: &str, permission: &str) -> ChatError {
    let detail = format!(
        "HTTP {} {}: {}",
        e.status,
        e.code,
        one_line(&e.message, 200)
    );
    match e.status {
        429 => ChatError::RateLimited(e.retry_after),
        503 | 504 if e.retry_after.is_some() => ChatError::RateLimited(e.retry_after),
        500..=599 | 408 => ChatError::Transient(format!("Teams: {what}: {detail}")),
        401 if e.code == "InvalidAuthenticationToken" => ChatError::Permanent(format!(
            "Teams: {what}: Graph refused a freshly issued token ({detail}); check the app \
             registration of [teams] client_id"
        )),
        401 | 403 => ChatError::Permanent(format!(
            "Teams: {what}: {detail}; grant the application permission {permission} to the app \
             registration (with admin consent)"
        )),
        404 => ChatError::Permanent(format!(
            "Teams: {what}: {detail}; check [teams] team_id and that the channel still exists"
        )),
        _ => ChatError::Permanent(format!("Teams: {what}: {detail}")),
    }
}

/// Graph, as `entra::call` reaches it: its 401 `InvalidAuthenticationToken` is a token to
/// replace.
const GRAPH: entra::TokenApi = entra::TokenApi {
    who: "Teams: Graph",
    url_setting: "[teams] graph_url",
    read: read_graph,
    invalid_token: |r| r.status == 401 && r.code == "InvalidAuthenticationToken",
    refreshing: "Teams: Graph says the token is no longer valid; fetching a new one",
};

/// Reads a Graph answer: a 2xx is the value (`Null` when empty), anything else Graph's error.
fn read_graph(resp: &Response, now: Timestamp) -> Result<Value, Refusal> {
    api::rest_answer(resp, now, "/error/code", "/error/message")
}

/// Reads a Workflows webhook answer: any 2xx delivered the card (the webhook returns no
/// message id).
fn read_webhook(resp: &Response, now: Timestamp) -> Result<Value, Refusal> {
    // Legacy connectors answered 200 and signalled throttling in the body.
    let throttled = resp.status == 429 || resp.body.contains("HTTP error 429");
    if (200..=299).contains(&resp.status) && !throttled {
        return Ok(Value::Null);
    }
    Err(Refusal {
        status: if throttled { 429 } else { resp.status },
        code: String::new(),
        message: one_line(&resp.body, 200),
        retry_after: resp.retry_after_delay(now),
        body: resp.json(),
    })
}

/// What the webhook's refusal means for the delivery.
fn webhook_refused(r: &Refusal) -> ChatError {
    match r.status {
        429 => ChatError::RateLimited(r.retry_after),
        500..=599 => ChatError::Transient(format!("Teams webhook: HTTP {}", r.status)),
        status => ChatError::Permanent(format!(
            "Teams webhook refused the card (HTTP {status}: {}); check [teams] webhook_url: \
             the Workflows flow may be off or deleted, or its URL changed",
            r.message
        )),
    }
}

/// Graph's answer to an application posting a channel message.
fn is_post_refusal(e: &Refusal) -> bool {
    matches!(e.status, 401 | 403) && e.message.to_lowercase().contains("import purposes")
}

/// Graph's answer to a display name already used in the team.
fn is_duplicate_name(e: &Refusal) -> bool {
    let m = e.message.to_lowercase();
    matches!(e.status, 400 | 409)
        && (e.code == "NameAlreadyExists"
            || m.contains("already existed")
            || m.contains("already exists"))
}

impl<'a> Teams<'a> {
    /// A backend for one delivery.
    pub fn new(cfg: &'a TeamsConfig, ctx: &'a Context<'a>) -> Self {
        Teams {
            cfg,
            ctx,
            token: None,
            private: HashMap::new(),
            adopted: None,
            bot: cfg
                .bot
                .as_ref()
                .filter(|_| cfg.graph())
                .map(|b| BotClient::new(b, ctx)),
        }
    }

    fn team(&self) -> &str {
        self.cfg.team_id.as_deref().unwrap_or_default()
    }

    fn channel_url(&self, id: &str) -> String {
        format!(
            "{}/teams/{}/channels/{}",
            self.cfg.graph_url,
            encode_component(self.team()),
            encode_component(id)
        )
    }

    fn token_meta(&self) -> String {
        let who = format!(
            "{}\u{0}{}",
            self.cfg.tenant_id.as_deref().unwrap_or_default(),
            self.cfg.client_id.as_deref().unwrap_or_default()
        );
        format!(
            "teams-token-{}",
            &crate::text::fnv1a_hex(who.as_bytes())[..12]
        )
    }

    /// A Graph token: this run's, the cached one while it is valid, or a new one.
    fn token(&mut self, fresh: bool) -> Result<String, ChatError> {
        if !fresh {
            if let Some(t) = &self.token {
                return Ok(t.clone());
            }
        }
        let secret = self
            .cfg
            .client_secret
            .as_ref()
            .map(|s| s.expose())
            .unwrap_or_default();
        let creds = entra::ClientCredentials {
            who: "Teams",
            url: format!(
                "{}/{}/oauth2/v2.0/token",
                self.cfg.login_url,
                encode_component(self.cfg.tenant_id.as_deref().unwrap_or_default())
            ),
            url_setting: "[teams] login_url",
            client_id: self.cfg.client_id.as_deref().unwrap_or_default(),
            secret,
            scope: GRAPH_SCOPE,
            meta: self.token_meta(),
            check: "check [teams] tenant_id, client_id and client_secret",
            margin: TOKEN_SLACK,
        };
        let token = entra::token(self.ctx, &creds, fresh)?;
        self.token = Some(token.clone());
        Ok(token)
    }

    /// One Graph call; an invalid or expired token is replaced once (`entra::call`).
    fn call(
        &mut self,
        method: &'static str,
        url: &str,
        body: Option<Value>,
    ) -> Result<Result<Value, Refusal>, ChatError> {
        let ctx = self.ctx;
        let request = || match &body {
            Some(b) => Request::new(method, url).json(b.clone()),
            None => Request::new(method, url),
        };
        entra::call(ctx, &GRAPH, request, |fresh| self.token(fresh))
    }

    fn member(&self, user: &str, owner: bool) -> Value {
        json!({
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "roles": if owner { json!(["owner"]) } else { json!([]) },
            "user@odata.bind": format!("{}/users('{}')", self.cfg.graph_url, user.replace('\'', "''")),
        })
    }

    fn remember(&mut self, ch: &Value) -> ChannelRef {
        let id = ch["id"].as_str().unwrap_or_default().to_string();
        let private = matches!(ch["membershipType"].as_str(), Some("private" | "shared"));
        self.private.insert(id.clone(), private);
        ChannelRef {
            name: ch["displayName"].as_str().unwrap_or_default().to_string(),
            url: ch["webUrl"].as_str().map(str::to_string),
            id,
        }
    }

    /// The channel named `name` if it is this incident's (our marker in its description).
    fn adopt(&mut self, name: &str) -> Result<Option<ChannelRef>, ChatError> {
        let list_permission = "Channel.ReadBasic.All";
        let mut url = format!(
            "{}/teams/{}/channels",
            self.cfg.graph_url,
            encode_component(self.team())
        );
        for _ in 0..LIST_PAGES_MAX {
            let page = self
                .call("GET", &url, None)?
                .map_err(|f| classify(&f, "list the team's channels", list_permission))?;
            let found = page["value"].as_array().and_then(|chs| {
                chs.iter()
                    .find(|c| {
                        c["displayName"]
                            .as_str()
                            .is_some_and(|d| d.eq_ignore_ascii_case(name))
                    })
                    .cloned()
            });
            if let Some(ch) = found {
                let ours = ch["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(MARKER));
                if !ours {
                    return Ok(None);
                }
                let id = ch["id"].as_str().unwrap_or_default().to_string();
                if ch["isArchived"].as_bool() == Some(true) {
                    let url = format!("{}/unarchive", self.channel_url(&id));
                    self.call("POST", &url, None)?.map_err(|f| {
                        classify(
                            &f,
                            "unarchive the incident channel",
                            "ChannelSettings.ReadWrite.All",
                        )
                    })?;
                    log::info!("Teams: unarchived '{name}', this incident's channel");
                }
                log::info!(
                    "Teams: channel '{name}' already exists and is this incident's (an earlier \
                     run or another Pandora server created it); reusing it"
                );
                return Ok(Some(self.remember(&ch)));
            }
            // Follow the next page only on Graph itself: the link carries no secret, but our
            // token must not go anywhere else.
            match page["@odata.nextLink"].as_str() {
                Some(next) if next.starts_with(&self.cfg.graph_url) => url = next.to_string(),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    fn is_private(&mut self, ch: &ChannelRef) -> Result<bool, ChatError> {
        if let Some(p) = self.private.get(&ch.id) {
            return Ok(*p);
        }
        let url = format!(
            "{}?$select=id,displayName,membershipType",
            self.channel_url(&ch.id)
        );
        let v = self
            .call("GET", &url, None)?
            .map_err(|f| classify(&f, "read the channel", "Channel.ReadBasic.All"))?;
        let private = matches!(v["membershipType"].as_str(), Some("private" | "shared"));
        self.private.insert(ch.id.clone(), private);
        Ok(private)
    }

    fn refused_recently(&self) -> bool {
        self.ctx
            .store
            .read_meta(REFUSED_META)
            .and_then(|t| Timestamp::parse_rfc3339(&t))
            .is_some_and(|t| self.ctx.now.since(t) < REFUSED_RECHECK)
    }

    /// Posts a card through Graph into the incident channel; `None` when Graph refuses
    /// application posts (the expected case).
    fn post_graph(
        &mut self,
        ch: &ChannelRef,
        message: &ChatMessage,
    ) -> Result<Option<String>, ChatError> {
        if self.refused_recently() {
            return Ok(None);
        }
        let card = adaptive_card(message, None);
        let body = json!({
            "body": {"contentType": "html", "content": "<attachment id=\"pandora-ilert\"></attachment>"},
            "attachments": [{
                "id": "pandora-ilert",
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card.to_string(),
            }],
        });
        let url = format!("{}/messages", self.channel_url(&ch.id));
        match self.call("POST", &url, Some(body))? {
            Ok(v) => Ok(v["id"].as_str().map(str::to_string)),
            Err(e) if is_post_refusal(&e) => {
                self.ctx
                    .store
                    .write_meta(REFUSED_META, &self.ctx.now.rfc3339());
                log::info!(
                    "Teams: Graph refused to post into '{}' with the application token ({}); \
                     not trying again for 24 h",
                    ch.name,
                    one_line(&e.message, 120)
                );
                Ok(None)
            }
            Err(f) => Err(classify(
                &f,
                "post into the incident channel",
                "ChannelMessage.Send",
            )),
        }
    }

    /// Installs the bot's Teams app in the team through Graph, once; a refusal is logged with
    /// what the admin must do and tried again after a day. Never fails the post: the app may
    /// have been installed by hand.
    fn ensure_installed(&mut self) {
        let Some(app) = self.cfg.bot.as_ref().and_then(|b| b.teams_app_id.clone()) else {
            return;
        };
        let last: Option<Value> = self
            .ctx
            .store
            .read_meta(BOT_INSTALL_META)
            .and_then(|s| serde_json::from_str(&s).ok());
        if let Some(l) = &last {
            let at = l["at"].as_str().and_then(Timestamp::parse_rfc3339);
            let recent = at.is_some_and(|t| self.ctx.now.since(t) < INSTALL_RECHECK);
            if l["app"] == app.as_str() && (l["state"] == "installed" || recent) {
                return;
            }
        }
        let url = format!(
            "{}/teams/{}/installedApps",
            self.cfg.graph_url,
            encode_component(self.team())
        );
        let body = json!({
            "teamsApp@odata.bind": format!("{}/appCatalogs/teamsApps/{app}", self.cfg.graph_url),
        });
        let outcome = match self.call("POST", &url, Some(body)) {
            Ok(Ok(_)) => Some(("installed", String::new())),
            // Graph answers 409 Conflict when the app is installed already.
            Ok(Err(e)) if e.status == 409 => Some(("installed", String::new())),
            Ok(Err(e)) if matches!(e.status, 401 | 403 | 404) => {
                let reason = format!(
                    "HTTP {} {}: {}",
                    e.status,
                    e.code,
                    one_line(&e.message, 160)
                );
                log::warn!(
                    "Teams: Graph refused to install the bot's app {app} in the team ({reason}); \
                     grant the application permission {INSTALL_PERMISSION} (admin consent), or \
                     install the app in the team by hand; `pandora-ilert doctor` says how"
                );
                Some(("refused", reason))
            }
            Ok(Err(e)) => {
                log::warn!(
                    "Teams: could not install the bot's app in the team this time: {}",
                    classify(&e, "install the bot's app", INSTALL_PERMISSION)
                );
                None
            }
            Err(e) => {
                log::warn!("Teams: could not install the bot's app in the team this time: {e}");
                None
            }
        };
        if let Some((state, reason)) = outcome {
            if state == "installed" {
                log::info!("Teams: the bot's app {app} is installed in the team");
            }
            let v =
                json!({"state": state, "app": app, "at": self.ctx.now.rfc3339(), "reason": reason});
            self.ctx.store.write_meta(BOT_INSTALL_META, &v.to_string());
        }
    }

    /// Posts the alert card (a new thread) or another message (its own thread) through the
    /// bot; a refusal in a private channel falls back to the webhook, without details.
    fn post_bot(&mut self, ch: &ChannelRef, message: &ChatMessage) -> Result<String, ChatError> {
        self.ensure_installed();
        let activity = teams_bot::activity(adaptive_card(message, None), &message.title);
        let Some(bot) = self.bot.as_mut() else {
            return Err(ChatError::Permanent("Teams: no bot configured".into()));
        };
        match bot.start_thread(&ch.id, activity)? {
            Ok(id) => Ok(id.encode()),
            Err(e) if teams_bot::not_in_roster(&e) && self.is_private(ch)? => {
                self.private_fallback(ch, message, &e.message)
            }
            Err(e) => Err(teams_bot::classify("post into the incident channel", &e)),
        }
    }

    /// The bot may not post into this private channel (apps in private channels are
    /// restricted): say so in the log and in `status`, and post the detail-free card through
    /// the webhook; without one, a dead letter that says what to do.
    fn private_fallback(
        &mut self,
        ch: &ChannelRef,
        message: &ChatMessage,
        why: &str,
    ) -> Result<String, ChatError> {
        let via = if self.cfg.webhook_url.is_some() {
            "webhook"
        } else {
            "none"
        };
        let note = json!({"at": self.ctx.now.rfc3339(), "channel": ch.name, "via": via});
        self.ctx
            .store
            .write_meta(BOT_PRIVATE_FALLBACK_META, &note.to_string());
        if self.cfg.webhook_url.is_none() {
            return Err(ChatError::Permanent(format!(
                "Teams bot: refused in the private channel '{}' ({}): Teams restricts apps in \
                 private channels; set [teams] webhook_url so a card without details goes to \
                 the webhook's channel, or make the route public",
                ch.name,
                one_line(why, 120)
            )));
        }
        log::warn!(
            "Teams bot: refused in the private channel '{}' ({}): Teams restricts apps in private \
             channels; the card goes through [teams] webhook_url without details",
            ch.name,
            one_line(why, 120)
        );
        self.post_webhook(&envelope(private_card(message, ch)))
    }

    /// Counts the team's channels (ours by the description marker), following Graph's pages;
    /// channels deleted lately are for the caller to add (Graph no longer lists them).
    pub fn count_channels(&mut self) -> Result<TeamCapacity, ChatError> {
        let mut count = TeamCapacity {
            listed: 0,
            ours: 0,
            ours_archived: 0,
            deleted_recently: 0,
            at: self.ctx.now,
        };
        let mut url = format!(
            "{}/teams/{}/channels",
            self.cfg.graph_url,
            encode_component(self.team())
        );
        for _ in 0..LIST_PAGES_MAX * 5 {
            let page = self
                .call("GET", &url, None)?
                .map_err(|e| classify(&e, "list the team's channels", "Channel.ReadBasic.All"))?;
            for c in page["value"].as_array().into_iter().flatten() {
                count.listed += 1;
                if c["description"]
                    .as_str()
                    .is_some_and(|d| d.contains(MARKER))
                {
                    count.ours += 1;
                    if c["isArchived"].as_bool() == Some(true) {
                        count.ours_archived += 1;
                    }
                }
            }
            match page["@odata.nextLink"].as_str() {
                Some(next) if next.starts_with(&self.cfg.graph_url) => url = next.to_string(),
                _ => break,
            }
        }
        Ok(count)
    }

    /// Deletes an incident channel (`DELETE /teams/{team}/channels/{id}`); gone already is
    /// success.
    pub fn delete_channel(&mut self, id: &str) -> Result<(), ChatError> {
        let url = self.channel_url(id);
        match self.call("DELETE", &url, None)? {
            Ok(_) => Ok(()),
            Err(e) if e.status == 404 => Ok(()),
            Err(e) => Err(classify(
                &e,
                "delete the archived channel",
                "Channel.Delete.All",
            )),
        }
    }

    /// Posts a card to the Workflows webhook; the webhook returns no message id.
    fn post_webhook(&self, envelope: &Value) -> Result<String, ChatError> {
        let Some(url) = &self.cfg.webhook_url else {
            return Err(ChatError::Permanent(
                "Teams: Microsoft Graph lets an application create channels but not post into \
                 them (\"Message POST is allowed in application-only context only for import \
                 purposes\"); set [teams] webhook_url to a Workflows webhook so the incident \
                 cards can be posted (docs/chat.md)"
                    .into(),
            ));
        };
        let req = Request::new("POST", url.expose()).json(envelope.clone());
        api::call(self.ctx, req, None, "[teams] webhook_url", read_webhook)
            .map_err(|e| e.into_chat("Teams webhook", webhook_refused))?;
        Ok(format!("webhook-{}", Timestamp::now().millis()))
    }
}

impl ChatBackend for Teams<'_> {
    fn capabilities(&self) -> Capabilities {
        if self.bot.is_some() {
            Capabilities {
                create: true,
                update: true,
                pin: false,
                topic: true,
                invite: true,
                archive: true,
                history: false,
            }
        } else if self.cfg.graph() {
            Capabilities {
                create: true,
                update: false,
                pin: false,
                topic: true,
                invite: true,
                archive: true,
                history: false,
            }
        } else {
            Capabilities::POST_ONLY
        }
    }

    fn sanitize_name(&self, name: &str) -> String {
        sanitize_name(name)
    }

    fn open_channel(&mut self, spec: &ChannelSpec) -> Result<ChannelRef, ChatError> {
        if !self.cfg.graph() {
            return Ok(ChannelRef {
                id: "webhook".into(),
                name: "Teams webhook".into(),
                url: None,
            });
        }
        let owner = match (spec.private, &self.cfg.owner) {
            (false, _) => None,
            (true, Some(o)) => Some(o.clone()),
            (true, None) => return Err(ChatError::Permanent(
                "Teams: a private channel needs an owner; set [teams] owner to an Entra user id"
                    .into(),
            )),
        };
        let url = format!(
            "{}/teams/{}/channels",
            self.cfg.graph_url,
            encode_component(self.team())
        );
        for name in alternative_names(&spec.name, &spec.description, NAME_MAX) {
            let mut body = json!({
                "displayName": name,
                "description": describe(&spec.topic),
                "membershipType": if spec.private { "private" } else { "standard" },
            });
            if let Some(o) = &owner {
                body["members"] = json!([self.member(o, true)]);
            }
            match self.call("POST", &url, Some(body))? {
                Ok(ch) => {
                    if ch["id"].as_str().unwrap_or_default().is_empty() {
                        return Err(ChatError::Transient(
                            "Teams: channel created but Graph answered without its id".into(),
                        ));
                    }
                    return Ok(self.remember(&ch));
                }
                Err(e) if is_duplicate_name(&e) => {
                    if let Some(ch) = self.adopt(&name)? {
                        self.adopted = Some(ch.id.clone());
                        return Ok(ch);
                    }
                    log::warn!(
                        "Teams: channel name '{name}' is taken by a channel that is not this \
                         incident's; trying another name"
                    );
                }
                Err(f) => {
                    return Err(classify(
                        &f,
                        "create the incident channel",
                        "Channel.Create",
                    ))
                }
            }
        }
        Err(ChatError::Permanent(format!(
            "Teams: '{}' and its alternatives are all taken by other channels; rename them or \
             change the route's channel_template",
            spec.name
        )))
    }

    /// The bot cannot find a card another server posted: the Bot Connector lists no channel
    /// threads, and Graph reads channel messages only with `ChannelMessage.Read.All`, a
    /// protected API Microsoft must approve. So no request: the adopting server posts its own
    /// card (a second thread), and the log says why.
    fn posted_alert(
        &mut self,
        channel: &ChannelRef,
        key: &str,
    ) -> Result<Option<PostedAlert>, ChatError> {
        if self.bot.is_some() && self.adopted.as_deref() == Some(channel.id.as_str()) {
            log::warn!(
                "Teams: the channel '{}' of incident {key} already existed (another Pandora \
                 server, or an earlier run whose record is gone); the bot cannot read its cards \
                 back, so this server starts its own card thread there",
                channel.name
            );
        }
        Ok(None)
    }

    fn post(&mut self, channel: &ChannelRef, message: &ChatMessage) -> Result<String, ChatError> {
        if !self.cfg.graph() {
            return self.post_webhook(&envelope(adaptive_card(message, None)));
        }
        if self.bot.is_some() {
            return self.post_bot(channel, message);
        }
        if let Some(id) = self.post_graph(channel, message)? {
            return Ok(id);
        }
        if self.cfg.webhook_url.is_some() && !FALLBACK_EXPLAINED.swap(true, Ordering::Relaxed) {
            log::warn!(
                "Teams: Microsoft Graph does not let an application post channel messages \
                 (application-only posts are for imports only), so incident cards go through \
                 [teams] webhook_url into the webhook's channel, with a link to the incident \
                 channel; see docs/chat.md"
            );
        }
        // The webhook's channel is shared: a private incident's card carries no details there.
        let card = if self.is_private(channel)? {
            private_card(message, channel)
        } else {
            adaptive_card(message, Some(channel))
        };
        self.post_webhook(&envelope(card))
    }

    fn uneditable(&self, message_id: &str) -> Option<&'static str> {
        match (&self.bot, BotMessageId::parse(message_id)) {
            (Some(_), Some(_)) => None,
            // Refused in a private channel: the card went through the webhook.
            (Some(_), None) => {
                Some("its card went through the Teams webhook, which cannot edit it")
            }
            (None, _) => Some("Teams cards posted without the bot cannot be edited"),
        }
    }

    fn update(
        &mut self,
        channel: &ChannelRef,
        message_id: &str,
        message: &ChatMessage,
    ) -> Result<(), ChatError> {
        let (Some(bot), Some(id)) = (self.bot.as_mut(), BotMessageId::parse(message_id)) else {
            if self.bot.is_some() {
                // The card went through the webhook (the bot was refused in a private
                // channel): it cannot be edited; the recovery card says how it ended.
                log::info!(
                    "Teams: the card for '{}' went through the webhook and cannot be edited",
                    channel.name
                );
                return Ok(());
            }
            return Err(ChatError::Permanent(
                "Teams: cards posted by an application cannot be edited".into(),
            ));
        };
        let activity = teams_bot::activity(adaptive_card(message, None), &message.title);
        bot.update(&id, activity)?
            .map_err(|e| teams_bot::classify("update the alert card", &e))
    }

    fn follow_up(
        &mut self,
        channel: &ChannelRef,
        alert_message_id: Option<&str>,
        message: &ChatMessage,
    ) -> Result<String, ChatError> {
        let thread = alert_message_id.and_then(BotMessageId::parse);
        let (Some(bot), Some(thread)) = (self.bot.as_mut(), thread) else {
            return self.post(channel, message);
        };
        let activity = teams_bot::activity(adaptive_card(message, None), &message.title);
        match bot.reply(&thread, activity)? {
            Ok(id) => Ok(id.encode()),
            // The thread is gone (someone deleted the card): a new thread.
            Err(e) if e.status == 404 => self.post(channel, message),
            Err(e) => Err(teams_bot::classify("reply in the incident thread", &e)),
        }
    }

    fn pin(&mut self, _: &ChannelRef, _: &str) -> Result<(), ChatError> {
        Err(ChatError::Permanent(
            "Teams: Graph has no API to pin channel messages".into(),
        ))
    }

    fn set_topic(&mut self, channel: &ChannelRef, topic: &str) -> Result<(), ChatError> {
        let url = self.channel_url(&channel.id);
        self.call("PATCH", &url, Some(json!({"description": describe(topic)})))?
            .map(drop)
            .map_err(|f| {
                classify(
                    &f,
                    "set the channel description",
                    "ChannelSettings.ReadWrite.All",
                )
            })
    }

    fn invite(&mut self, channel: &ChannelRef, users: &[String]) -> Result<(), ChatError> {
        if !self.is_private(channel)? {
            log::info!(
                "Teams: '{}' is a standard channel: every member of the team sees it, nobody to add",
                channel.name
            );
            return Ok(());
        }
        let url = format!("{}/members", self.channel_url(&channel.id));
        for user in users {
            let body = self.member(user, false);
            match self.call("POST", &url, Some(body))? {
                Ok(_) => {}
                Err(e) if e.status == 409 || e.message.to_lowercase().contains("already") => {}
                Err(f) => {
                    return Err(classify(
                        &f,
                        "add a member to the private channel",
                        "ChannelMember.ReadWrite.All",
                    ))
                }
            }
        }
        Ok(())
    }

    fn archive(&mut self, channel: &ChannelRef) -> Result<(), ChatError> {
        let url = format!("{}/archive", self.channel_url(&channel.id));
        match self.call("POST", &url, None)? {
            Ok(_) => Ok(()),
            Err(e) if e.message.to_lowercase().contains("already archived") => Ok(()),
            Err(f) => Err(classify(
                &f,
                "archive the channel",
                "ChannelSettings.ReadWrite.All",
            )),
        }
    }

    fn history(&mut self, _: &ChannelRef) -> Result<Vec<HistoryItem>, ChatError> {
        // Reading channel messages with an application token is a protected API that needs
        // Microsoft's approval; the timeline relies on the local event log instead.
        Ok(Vec::new())
    }
}

/// The channel description: the topic line and our marker.
fn describe(topic: &str) -> String {
    format!("{} {MARKER}", crate::text::truncate_chars(topic, 900))
}

/// At most 50 characters, without the characters, sequences and reserved words Teams refuses,
/// not starting with `_` or `.`, not ending with `.`; never empty.
pub fn sanitize_name(name: &str) -> String {
    // Microsoft, "Limits and specifications for Microsoft Teams", §Channel names: no
    // `~ # % & * { } + / \ : < > ? | ' " ,`, no `..`, no control characters (0-1F, 80-9F), not
    // the words `forms, CON, CONIN$, CONOUT$, PRN, AUX, NUL, COM1-9, LPT1-9, desktop.ini,
    // _vti_`, no leading `_` or `.`, no trailing `.`.
    const FORBIDDEN: &[char] = &[
        '~', '#', '%', '&', '*', '{', '}', '/', '\\', ':', '<', '>', '?', '+', '|', '\'', '"', ',',
    ];
    let cleaned: String = name
        .chars()
        .map(|c| {
            if FORBIDDEN.contains(&c) || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut cleaned = strip_ignoring_case(&cleaned, &["_vti_", "desktop.ini"]);
    while cleaned.contains("..") {
        cleaned = cleaned.replace("..", ".");
    }
    let words: Vec<&str> = cleaned
        .split_whitespace()
        .filter(|w| !is_reserved_word(w))
        .collect();
    let joined = words.join(" ");
    let trimmed = joined
        .trim_start_matches(['_', '.', ' '])
        .trim_end_matches(['.', ' ']);
    let base = if trimmed.is_empty() {
        "pandora-ilert incident"
    } else {
        trimmed
    };
    shorten_name(base, NAME_MAX)
}

/// A word Teams refuses in a channel name (device names and SharePoint's reserved names).
fn is_reserved_word(word: &str) -> bool {
    let w = word.to_ascii_uppercase();
    let numbered = |prefix: &str| {
        w.strip_prefix(prefix)
            .is_some_and(|n| n.len() == 1 && matches!(n.as_bytes()[0], b'1'..=b'9'))
    };
    matches!(
        w.as_str(),
        "FORMS" | "CON" | "CONIN$" | "CONOUT$" | "PRN" | "AUX" | "NUL"
    ) || numbered("COM")
        || numbered("LPT")
}

/// `text` without any of `needles`, matched without regard to ASCII case.
fn strip_ignoring_case(text: &str, needles: &[&str]) -> String {
    let mut out = text.to_string();
    for needle in needles {
        while let Some(at) = out.to_ascii_lowercase().find(needle) {
            out.replace_range(at..at + needle.len(), " ");
        }
    }
    out
}

/// Text from Pandora made inert for the Markdown that Adaptive Card text blocks and facts
/// render: a word joiner after a `]` that a `(`, `[` or `:` follows (spaces allowed, as
/// lenient parsers do) breaks every link form (`[text](url)`, `[text][ref]`, `[ref]: url`,
/// `![image](url)`) while the text reads the same. Bare URLs stay visible as what they are.
pub fn inert_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']' {
            let next = chars.clone().find(|n| *n != ' ' && *n != '\t');
            if matches!(next, Some('(' | '[' | ':')) {
                out.push('\u{2060}');
            }
        }
    }
    out
}

fn text_block(text: &str) -> Value {
    json!({"type": "TextBlock", "text": crate::text::truncate_chars(text, 2000), "wrap": true})
}

/// The Adaptive Card of a message: the title, a fact set, a link to the incident channel when
/// the card is posted elsewhere, and the links as buttons. Pure.
pub fn adaptive_card(message: &ChatMessage, channel: Option<&ChannelRef>) -> Value {
    let mut title = text_block(&inert_markdown(&message.title));
    title["weight"] = json!("Bolder");
    title["size"] = json!("Medium");
    match message.kind {
        MessageKind::Recovery => title["color"] = json!("Good"),
        MessageKind::Alert if message.title.contains("RESOLVED") => title["color"] = json!("Good"),
        MessageKind::Alert => title["color"] = json!("Attention"),
        _ => {}
    }
    let mut body = vec![title];
    if !message.fields.is_empty() {
        let facts: Vec<Value> = message
            .fields
            .iter()
            .map(|(k, v)| {
                json!({
                    "title": inert_markdown(k),
                    "value": inert_markdown(&crate::text::truncate_chars(v, 1000)),
                })
            })
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    if let Some(ch) = channel {
        body.push(channel_line(ch));
    }
    let actions: Vec<Value> = message
        .links
        .iter()
        .map(|(label, url)| json!({"type": "Action.OpenUrl", "title": label, "url": url}))
        .collect();
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = json!(actions);
    }
    card
}

fn channel_line(ch: &ChannelRef) -> Value {
    match &ch.url {
        Some(url) => text_block(&format!(
            "Incident channel: [{}]({url})",
            inert_markdown(&ch.name).replace('[', "(").replace(']', ")")
        )),
        None => text_block(&format!("Incident channel: {}", inert_markdown(&ch.name))),
    }
}

/// The card for a private incident in a shared channel: what happened and where to look,
/// no details.
pub fn private_card(message: &ChatMessage, channel: &ChannelRef) -> Value {
    let what = match message.kind {
        MessageKind::Alert => "Private incident update",
        MessageKind::Recovery => "Private incident resolved",
        MessageKind::Stakeholder => "Private incident",
        MessageKind::Closing => "Private incident channel archived",
    };
    let mut title = text_block(what);
    title["weight"] = json!("Bolder");
    json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [title, channel_line(channel)],
    })
}

/// The message envelope a Workflows webhook accepts (`contentUrl` must be present, null).
pub fn envelope(card: Value) -> Value {
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: MessageKind, title: &str) -> ChatMessage {
        ChatMessage {
            kind,
            title: title.into(),
            fields: vec![
                ("Agent".into(), "web-01".into()),
                ("Value".into(), "95.5%".into()),
            ],
            links: vec![("ilert alert".into(), "https://x.ilert.com/a/1".into())],
            text: title.into(),
            alert_of: None,
            occasion: None,
        }
    }

    #[test]
    fn names_follow_teams_rules() {
        assert_eq!(
            sanitize_name("pandorafms_alert_6182268"),
            "pandorafms_alert_6182268"
        );
        assert_eq!(
            sanitize_name("Prod: #42 / \"CPU\" <load>?"),
            "Prod 42 CPU load"
        );
        assert_eq!(sanitize_name("_.hidden."), "hidden");
        assert_eq!(
            sanitize_name("CON ~ web-01, lpt1 Forms.. _VTI_ COM10 desktop.INI 42 nul"),
            "web-01 Forms. COM10 42"
        );
        assert_eq!(sanitize_name("AUX"), "pandora-ilert incident");
        assert_eq!(sanitize_name("???"), "pandora-ilert incident");
        let a = sanitize_name(&format!("{} 1", "x".repeat(60)));
        let b = sanitize_name(&format!("{} 2", "x".repeat(60)));
        assert_eq!(a.chars().count(), NAME_MAX);
        assert_ne!(a, b);
    }

    #[test]
    fn the_card_has_the_workflows_envelope() {
        let e = envelope(adaptive_card(
            &msg(MessageKind::Alert, "FIRING [Critical] web-01"),
            None,
        ));
        assert_eq!(e["type"], "message");
        let a = &e["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert!(a["contentUrl"].is_null() && a.get("contentUrl").is_some());
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(a["content"]["body"][0]["text"], "FIRING [Critical] web-01");
        assert_eq!(a["content"]["body"][0]["color"], "Attention");
        assert_eq!(a["content"]["body"][1]["facts"][1]["value"], "95.5%");
        assert_eq!(a["content"]["actions"][0]["url"], "https://x.ilert.com/a/1");
    }

    #[test]
    fn a_card_posted_elsewhere_links_the_incident_channel() {
        let ch = ChannelRef {
            id: "19:x".into(),
            name: "pandorafms_alert_1".into(),
            url: Some("https://teams.example/c".into()),
        };
        let c = adaptive_card(&msg(MessageKind::Recovery, "RESOLVED web-01"), Some(&ch));
        assert_eq!(c["body"][0]["color"], "Good");
        assert_eq!(
            c["body"][2]["text"],
            "Incident channel: [pandorafms_alert_1](https://teams.example/c)"
        );
    }

    #[test]
    fn a_private_card_carries_no_details() {
        let ch = ChannelRef {
            id: "19:x".into(),
            name: "secret".into(),
            url: None,
        };
        let c = private_card(
            &msg(MessageKind::Alert, "FIRING [Critical] db-01 / Auth"),
            &ch,
        );
        let text = c.to_string();
        assert!(!text.contains("db-01") && !text.contains("95.5"), "{text}");
    }

    #[test]
    fn graph_errors_are_sorted_by_what_to_do() {
        let e = |status, code: &str, message: &str| Refusal {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: Some(Duration::from_secs(3)),
            body: Value::Null,
        };
        assert_eq!(
            classify(&e(429, "TooManyRequests", ""), "x", "P"),
            ChatError::RateLimited(Some(Duration::from_secs(3)))
        );
        assert!(matches!(
            classify(&e(502, "", ""), "x", "P"),
            ChatError::Transient(_)
        ));
        assert!(
            matches!(classify(&e(403, "Forbidden", "Missing role"), "create", "Channel.Create"), ChatError::Permanent(m) if m.contains("Channel.Create"))
        );
        assert!(is_post_refusal(&e(
            401,
            "Unauthorized",
            "Message POST is allowed in application-only context only for import purposes."
        )));
        assert!(is_duplicate_name(&e(
            400,
            "BadRequest",
            "Channel name already existed, please use other name."
        )));
    }

    proptest::proptest! {
        #![proptest_config(crate::http::arbitrary::config(1000))]

        /// Any Graph, token or webhook answer: no panic; success only on a 2xx; a redirect is
        /// a configuration error naming the setting.
        #[test]
        fn any_answer_is_classified(r in crate::http::arbitrary::answer()) {
            let now = Timestamp::from_millis(0);
            let redirect = (300..=399).contains(&r.status);
            let read = |setting, reader| api::answer(&r, now, setting, reader);
            match read("[teams] graph_url", read_graph) {
                Ok(_) => proptest::prop_assert!((200..=299).contains(&r.status)),
                Err(f) => {
                    let e = f.into_chat("Teams: Graph", |f| classify(f, "create the channel", "Channel.Create"));
                    if redirect {
                        proptest::prop_assert!(matches!(e, ChatError::Permanent(ref m) if m.contains("[teams] graph_url")), "{:?}", e);
                    }
                }
            }
            match read("[teams] login_url", entra::read_token) {
                Ok(_) => proptest::prop_assert_eq!(r.status, 200),
                Err(f) => {
                    let e = f.into_chat("Teams: token endpoint", |r| entra::refused("Teams", "", r));
                    if redirect {
                        proptest::prop_assert!(matches!(e, ChatError::Permanent(ref m) if m.contains("[teams] login_url")), "{:?}", e);
                    }
                }
            }
            match read("[teams] webhook_url", read_webhook) {
                Ok(_) => proptest::prop_assert!((200..=299).contains(&r.status)),
                Err(f) => {
                    let e = f.into_chat("Teams webhook", webhook_refused);
                    if redirect {
                        proptest::prop_assert!(matches!(e, ChatError::Permanent(ref m) if m.contains("[teams] webhook_url")), "{:?}", e);
                    }
                }
            }
        }
    }

    #[test]
    fn card_text_from_pandora_renders_no_link() {
        let m = ChatMessage::build(
            MessageKind::Alert,
            "FIRING [Reset your password](https://evil.example)".into(),
            vec![("Agent".into(), "[x][1]\n[1]: https://evil.example".into())],
            Vec::new(),
        );
        let card = adaptive_card(&m, None).to_string();
        assert!(!card.contains("](https://evil"), "{card}");
        assert!(!card.contains("][1]"), "{card}");
        assert!(!card.contains("]: https://evil"), "{card}");
    }
}
