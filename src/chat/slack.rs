//! Slack: the whole incident-channel flow through the Web API with one bot token.
//!
//! Every method is `POST {api_url}/<method>` with a JSON body (`conversations.list` and
//! `conversations.history` are `GET` with a query), `Authorization: Bearer xoxb-…`. Slack
//! answers HTTP 200 with `{"ok": true, …}` or `{"ok": false, "error": "<code>"}`; only rate
//! limits come as HTTP 429 with `Retry-After`. Codes are sorted into retryable, success-like,
//! configuration (dead letter with what to fix) and permanent.
//!
//! A channel name can already exist: an earlier run, or another Pandora server with its own
//! store, created it (`name_taken`), and archived channels keep their names. We reuse such a
//! channel only when it is provably ours (its purpose is this incident's line, or it has no
//! purpose yet and our bot created it, and it is not archived: bot tokens cannot unarchive);
//! otherwise we take a suffixed name, the same one every server would pick.

use serde_json::{json, Value};

use super::api::{self, ApiError, Refusal};
use super::message::MessageKind;
use super::{
    alternative_names, shorten_name, Capabilities, ChannelRef, ChannelSpec, ChatBackend, ChatError,
    ChatMessage, Context, HistoryItem, PostedAlert,
};
use crate::config::SlackConfig;
use crate::http::{encode_component, Request, Response};
use crate::text::one_line;
use crate::time::Timestamp;

/// Slack's limit for channel names.
pub const NAME_MAX: usize = 80;
/// Slack's limit for a topic or purpose.
pub const TOPIC_MAX: usize = 250;
/// Pages of `conversations.list` we read at most while looking for a taken name.
const LIST_PAGES_MAX: usize = 50;
/// Pages of `conversations.history` read at most while looking for the alert message of an
/// adopted channel (it is among the channel's first messages).
const ADOPT_PAGES_MAX: usize = 10;
/// The `event_type` of the message metadata that marks an incident's alert message
/// (docs.slack.dev/messaging/message-metadata: `metadata` = `event_type` + `event_payload`).
pub const ALERT_EVENT_TYPE: &str = "pandora_ilert_alert";

/// The Slack backend for one delivery.
pub struct Slack<'a> {
    cfg: &'a SlackConfig,
    ctx: &'a Context<'a>,
    bot_user: Option<String>,
    /// The channel the last `open_channel` adopted (created by another server or an earlier
    /// run), whose alert message `posted_alert` looks for.
    adopted: Option<String>,
}

/// What an `ok: false` code means for the delivery. Configuration problems say what to fix.
pub fn classify(method: &str, code: &str, needed: Option<&str>) -> ChatError {
    match code {
        "ratelimited" | "rate_limited" | "message_limit_exceeded" => ChatError::RateLimited(None),
        "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout"
        | "team_added_to_org" => ChatError::Transient(format!("Slack {method}: {code}")),
        "invalid_auth"
        | "not_authed"
        | "token_revoked"
        | "token_expired"
        | "account_inactive"
        | "not_allowed_token_type"
        | "ekm_access_denied" => ChatError::Permanent(format!(
            "Slack {method}: {code}: the bot token was refused; set [slack] token to the app's \
             bot token (xoxb-…) and check that the app is still installed in the workspace"
        )),
        "missing_scope" => ChatError::Permanent(format!(
            "Slack {method}: missing_scope: add the bot token scope '{}' to the Slack app and \
             reinstall it (docs/chat.md lists every scope)",
            needed.unwrap_or("see docs/chat.md")
        )),
        "restricted_action" => ChatError::Permanent(format!(
            "Slack {method}: restricted_action: the workspace settings do not let the app do \
             this; ask a Slack admin to allow apps to create and manage channels"
        )),
        "channel_not_found" => ChatError::Permanent(format!(
            "Slack {method}: channel_not_found: the channel was deleted, or it is private and \
             the bot is not in it (check stakeholder_channel in the route)"
        )),
        "not_in_channel" => ChatError::Permanent(format!(
            "Slack {method}: not_in_channel: invite the app to the channel (/invite @app) or \
             give it the chat:write.public scope"
        )),
        "is_archived" => ChatError::Permanent(format!(
            "Slack {method}: is_archived: the channel was archived; unarchive it in Slack, then \
             run `pandora-ilert requeue`"
        )),
        "user_not_found" | "user_not_visible" | "cant_invite" => ChatError::Permanent(format!(
            "Slack {method}: {code}: check the user ids in the route's invite list (U…)"
        )),
        "too_many_convos_for_team" | "too_many_convos_for_app_on_team" => {
            ChatError::Permanent(format!(
                "Slack {method}: {code}: the workspace has too many channels; archive old ones"
            ))
        }
        // usergroups.users.list (SAR usergroups.users.list.json `errors`).
        "no_such_subteam" => ChatError::Permanent(format!(
            "Slack {method}: no_such_subteam: a user group in the route's chatops_allow_groups \
             does not exist; fix its id (S…)"
        )),
        "plan_upgrade_required" => ChatError::Permanent(format!(
            "Slack {method}: plan_upgrade_required: this workspace's plan has no user groups; \
             list people in chatops_allow instead"
        )),
        "message_not_found" | "cant_update_message" | "edit_window_closed" => {
            ChatError::MessageGone(format!("Slack {method}: {code}"))
        }
        other => ChatError::Permanent(format!("Slack {method}: {other}")),
    }
}

/// A failed call of `method`, classified.
fn chat_error(method: &str, e: ApiError) -> ChatError {
    e.into_chat(&format!("Slack {method}"), |r| refused(method, r))
}

/// What Slack's refusal of `method` means: the status first (429 and 5xx are retried), then
/// the `ok: false` code of a Web API answer.
fn refused(method: &str, r: &Refusal) -> ChatError {
    match r.status {
        429 => ChatError::RateLimited(r.retry_after),
        500.. => ChatError::Transient(format!("Slack {method}: HTTP {}", r.status)),
        200 if r.body.is_object() => classify(method, &r.code, r.body["needed"].as_str()),
        status => {
            let what = format!(
                "Slack {method}: HTTP {status} without a Web API answer ({})",
                r.message
            );
            if status == 200 {
                ChatError::Transient(what)
            } else {
                ChatError::Permanent(format!("{what}; check [slack] api_url"))
            }
        }
    }
}

/// Reads a Web API answer: success is HTTP 200 with `ok: true`; the code of an `ok: false`
/// is in `error`.
fn read(resp: &Response, now: Timestamp) -> Result<Value, Refusal> {
    let body = resp.json();
    if resp.status == 200 && body["ok"].as_bool() == Some(true) {
        return Ok(body);
    }
    let code = match body["error"].as_str() {
        _ if resp.status != 200 || !body.is_object() => "",
        Some(code) => code,
        None => "unknown_error",
    };
    Err(Refusal {
        status: resp.status,
        code: code.to_string(),
        message: one_line(&resp.body, 120),
        retry_after: resp.retry_after_delay(now),
        body,
    })
}

impl<'a> Slack<'a> {
    /// A backend for one delivery.
    pub fn new(cfg: &'a SlackConfig, ctx: &'a Context<'a>) -> Self {
        Slack {
            cfg,
            ctx,
            bot_user: None,
            adopted: None,
        }
    }

    fn request(&self, req: Request, method: &str) -> Result<Value, ApiError> {
        let token = self.cfg.token.expose();
        let result = api::call(self.ctx, req, Some(token), "[slack] api_url", read);
        let body = match &result {
            Ok(body) | Err(ApiError::Refused(Refusal { body, .. })) => body,
            Err(_) => &Value::Null,
        };
        if let Some(w) = body["warning"].as_str() {
            log::debug!("Slack {method}: warning {w}");
        }
        result
    }

    /// A write method with a JSON body.
    fn call(&self, method: &str, args: Value) -> Result<Value, ApiError> {
        let url = format!("{}/{method}", self.cfg.api_url);
        self.request(Request::new("POST", url).json(args), method)
    }

    /// A read method with a query string.
    fn get(&self, method: &str, query: &[(&str, &str)]) -> Result<Value, ApiError> {
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", encode_component(v)))
            .collect();
        let url = format!("{}/{method}?{}", self.cfg.api_url, q.join("&"));
        self.request(Request::new("GET", url), method)
    }

    /// Our bot's user id (`auth.test`), to recognise channels it created.
    fn bot_user(&mut self) -> Result<String, ChatError> {
        if let Some(u) = &self.bot_user {
            return Ok(u.clone());
        }
        let body = self
            .call("auth.test", json!({}))
            .map_err(|f| chat_error("auth.test", f))?;
        let user = body["user_id"].as_str().unwrap_or_default().to_string();
        self.bot_user = Some(user.clone());
        Ok(user)
    }

    /// The channel called `name`, archived or not, among those the bot can see.
    fn find_by_name(&self, name: &str) -> Result<Option<Value>, ChatError> {
        let mut cursor = String::new();
        for _ in 0..LIST_PAGES_MAX {
            let mut q = vec![
                ("types", "public_channel,private_channel"),
                ("exclude_archived", "false"),
                ("limit", "200"),
            ];
            if !cursor.is_empty() {
                q.push(("cursor", cursor.as_str()));
            }
            let body = self
                .get("conversations.list", &q)
                .map_err(|f| chat_error("conversations.list", f))?;
            if let Some(ch) = body["channels"]
                .as_array()
                .and_then(|chs| chs.iter().find(|c| c["name"] == name))
            {
                return Ok(Some(ch.clone()));
            }
            cursor = body["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if cursor.is_empty() {
                return Ok(None);
            }
        }
        log::warn!(
            "Slack: #{name} not found in the first {LIST_PAGES_MAX} pages of conversations.list"
        );
        Ok(None)
    }

    fn channel_ref(id: &str, name: &str) -> ChannelRef {
        ChannelRef {
            id: id.to_string(),
            name: name.to_string(),
            url: Some(format!("https://slack.com/app_redirect?channel={id}")),
        }
    }

    fn set_purpose(&self, id: &str, purpose: &str) -> Result<(), ChatError> {
        self.call(
            "conversations.setPurpose",
            json!({"channel": id, "purpose": escape_within(purpose, TOPIC_MAX)}),
        )
        .map(drop)
        .map_err(|f| chat_error("conversations.setPurpose", f))
    }

    /// The replies in the thread under `parent` (not the parent itself), marked as such.
    fn thread_replies(
        &self,
        channel: &ChannelRef,
        parent: &str,
    ) -> Result<Vec<HistoryItem>, ChatError> {
        let mut out: Vec<HistoryItem> = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut q = vec![
                ("channel", channel.id.as_str()),
                ("ts", parent),
                ("limit", "200"),
            ];
            if !cursor.is_empty() {
                q.push(("cursor", cursor.as_str()));
            }
            let body = match self.get("conversations.replies", &q) {
                Ok(b) => b,
                // Deleted since the history page was read.
                Err(f) if f.is(&["thread_not_found"]) => break,
                Err(f) => return Err(chat_error("conversations.replies", f)),
            };
            for m in body["messages"].as_array().into_iter().flatten() {
                let ts = m["ts"].as_str().unwrap_or_default();
                // Each page may open with the parent again; it is in the history already.
                if ts == parent || out.iter().any(|i| i.id == ts) {
                    continue;
                }
                let mut item = history_item(m, &channel.id);
                item.text = format!("(in thread) {}", item.text);
                out.push(item);
            }
            cursor = next_cursor(&body);
            if cursor.is_empty() {
                break;
            }
        }
        Ok(out)
    }

    /// Reuses a channel that `conversations.create` said exists, when it is ours.
    fn adopt(&mut self, name: &str, purpose: &str) -> Result<Option<ChannelRef>, ChatError> {
        let Some(found) = self.find_by_name(name)? else {
            // Taken by a channel the bot cannot see (private, or deleted but reserved).
            return Ok(None);
        };
        let theirs = unescape(found["purpose"]["value"].as_str().unwrap_or_default());
        let id = found["id"].as_str().unwrap_or_default().to_string();
        let ours = if theirs.is_empty() {
            // Created but the purpose never set (a run stopped in between): ours only if our
            // bot created it.
            let creator = found["creator"].as_str().unwrap_or_default();
            creator == self.bot_user()?
        } else {
            theirs == purpose
        };
        if !ours || id.is_empty() {
            return Ok(None);
        }
        if found["is_archived"].as_bool() == Some(true) {
            // An earlier incident of the same alert, closed and archived (the store that knew
            // it is gone). Bot tokens cannot unarchive (api.slack.com/methods/
            // conversations.unarchive answers `not_in_channel`), and the closed incident's
            // channel should stay closed anyway: take the next name, as every server would.
            log::info!(
                "Slack: #{name} is an archived channel of an earlier incident of this alert; \
                 taking another name"
            );
            return Ok(None);
        }
        if theirs.is_empty() {
            self.set_purpose(&id, purpose)?;
        }
        log::info!(
            "Slack: #{name} already exists and is this incident's (an earlier run or another \
             Pandora server created it); reusing it"
        );
        Ok(Some(Self::channel_ref(&id, name)))
    }
}

impl ChatBackend for Slack<'_> {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn sanitize_name(&self, name: &str) -> String {
        sanitize_name(name)
    }

    fn open_channel(&mut self, spec: &ChannelSpec) -> Result<ChannelRef, ChatError> {
        // As Slack will read it back: the escaped form is what must fit in 250 characters.
        let purpose = unescape(&escape_within(&spec.description, TOPIC_MAX));
        for name in alternative_names(&spec.name, &purpose, NAME_MAX) {
            let created = self.call(
                "conversations.create",
                json!({"name": name, "is_private": spec.private}),
            );
            match created {
                Ok(body) => {
                    let id = body["channel"]["id"].as_str().unwrap_or_default();
                    let actual = body["channel"]["name"].as_str().unwrap_or(&name);
                    if id.is_empty() {
                        return Err(ChatError::Transient(
                            "Slack conversations.create: answer without a channel id".into(),
                        ));
                    }
                    // The purpose marks the channel as this incident's for later runs and other
                    // servers; if this call fails, the retry recognises the channel by creator.
                    self.set_purpose(id, &purpose)?;
                    return Ok(Self::channel_ref(id, actual));
                }
                Err(f) if f.is(&["name_taken"]) => {
                    if let Some(ch) = self.adopt(&name, &purpose)? {
                        self.adopted = Some(ch.id.clone());
                        return Ok(ch);
                    }
                    log::warn!(
                        "Slack: #{name} is taken by a channel that is not this incident's; \
                         trying another name"
                    );
                }
                Err(f) => return Err(chat_error("conversations.create", f)),
            }
        }
        Err(ChatError::Permanent(format!(
            "Slack: #{} and its alternatives are all taken by other channels; rename them or \
             change the route's channel_template",
            spec.name
        )))
    }

    /// Reads the adopted channel's history (`conversations.history` with
    /// `include_all_metadata=true`, scopes `channels:history` / `groups:history`, newest first)
    /// for our bot's message whose metadata names this incident; `pinned_to` says if it is
    /// pinned. Bounded to `ADOPT_PAGES_MAX` pages.
    fn posted_alert(
        &mut self,
        channel: &ChannelRef,
        key: &str,
    ) -> Result<Option<PostedAlert>, ChatError> {
        if self.adopted.as_deref() != Some(channel.id.as_str()) {
            return Ok(None);
        }
        let bot = self.bot_user()?;
        let mut cursor = String::new();
        for _ in 0..ADOPT_PAGES_MAX {
            let mut q = vec![
                ("channel", channel.id.as_str()),
                ("include_all_metadata", "true"),
                ("limit", "100"),
            ];
            if !cursor.is_empty() {
                q.push(("cursor", cursor.as_str()));
            }
            let body = self
                .get("conversations.history", &q)
                .map_err(|f| chat_error("conversations.history", f))?;
            let found = body["messages"].as_array().into_iter().flatten().find(|m| {
                m["metadata"]["event_type"] == ALERT_EVENT_TYPE
                    && m["metadata"]["event_payload"]["incident"] == key
                    && m["user"] == bot.as_str()
            });
            if let Some(m) = found {
                let item = history_item(m, &channel.id);
                return Ok(Some(PostedAlert {
                    id: item.id,
                    pinned: item.pinned,
                }));
            }
            cursor = next_cursor(&body);
            if cursor.is_empty() {
                break;
            }
        }
        Ok(None)
    }

    fn post(&mut self, channel: &ChannelRef, message: &ChatMessage) -> Result<String, ChatError> {
        let mut args = render(message);
        args["channel"] = json!(channel.id);
        args["unfurl_links"] = json!(false);
        args["unfurl_media"] = json!(false);
        let body = self
            .call("chat.postMessage", args)
            .map_err(|f| chat_error("chat.postMessage", f))?;
        body["ts"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| ChatError::Transient("Slack chat.postMessage: answer without ts".into()))
    }

    fn reply(
        &mut self,
        channel: &ChannelRef,
        parent_id: &str,
        message: &ChatMessage,
    ) -> Result<String, ChatError> {
        let mut args = render(message);
        args["channel"] = json!(channel.id);
        args["thread_ts"] = json!(parent_id);
        let body = self
            .call("chat.postMessage", args)
            .map_err(|f| chat_error("chat.postMessage", f))?;
        Ok(body["ts"].as_str().unwrap_or_default().to_string())
    }

    /// Messages after `cursor` (a `ts`; `oldest` is exclusive), oldest first. Thread replies
    /// are not in `conversations.history`, so our own replies never come back as commands.
    /// Without a cursor: the latest page only (an intake channel may be long).
    fn read_new(
        &mut self,
        channel: &ChannelRef,
        cursor: Option<&str>,
    ) -> Result<(Vec<HistoryItem>, Option<String>), ChatError> {
        let mut items = Vec::new();
        let mut page = String::new();
        loop {
            let mut q = vec![("channel", channel.id.as_str()), ("limit", "200")];
            if let Some(c) = cursor {
                q.push(("oldest", c));
            }
            if !page.is_empty() {
                q.push(("cursor", page.as_str()));
            }
            let body = self
                .get("conversations.history", &q)
                .map_err(|f| chat_error("conversations.history", f))?;
            for m in body["messages"].as_array().into_iter().flatten() {
                items.push(history_item(m, &channel.id));
            }
            page = body["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if page.is_empty() || cursor.is_none() {
                break;
            }
        }
        items.sort_by_key(|i| ts_order(&i.id));
        let next = items
            .last()
            .map(|i| i.id.clone())
            .or_else(|| cursor.map(str::to_string));
        Ok((items, next))
    }

    /// `usergroups.users.list` (GET, scope `usergroups:read`, Tier 2; answer `{"ok": true,
    /// "users": ["U060R4BJ4", …]}`, SAR `usergroups.users.list.json`). Disabled groups count
    /// as empty: a group switched off allows nobody.
    fn group_members(&mut self, group: &str) -> Result<Option<Vec<String>>, ChatError> {
        let body = self
            .get("usergroups.users.list", &[("usergroup", group)])
            .map_err(|e| chat_error("usergroups.users.list", e))?;
        let users = body["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(str::to_string))
            .collect();
        Ok(Some(users))
    }

    fn update(
        &mut self,
        channel: &ChannelRef,
        message_id: &str,
        message: &ChatMessage,
    ) -> Result<(), ChatError> {
        let mut args = render(message);
        args["channel"] = json!(channel.id);
        args["ts"] = json!(message_id);
        self.call("chat.update", args)
            .map(drop)
            .map_err(|f| chat_error("chat.update", f))
    }

    fn pin(&mut self, channel: &ChannelRef, message_id: &str) -> Result<(), ChatError> {
        match self.call(
            "pins.add",
            json!({"channel": channel.id, "timestamp": message_id}),
        ) {
            Ok(_) => Ok(()),
            Err(f) if f.is(&["already_pinned"]) => Ok(()),
            Err(f) => Err(chat_error("pins.add", f)),
        }
    }

    fn set_topic(&mut self, channel: &ChannelRef, topic: &str) -> Result<(), ChatError> {
        self.call(
            "conversations.setTopic",
            json!({"channel": channel.id, "topic": escape_within(topic, TOPIC_MAX)}),
        )
        .map(drop)
        .map_err(|f| chat_error("conversations.setTopic", f))
    }

    fn invite(&mut self, channel: &ChannelRef, users: &[String]) -> Result<(), ChatError> {
        // One call per user: with several, one already-member fails the whole call and Slack
        // does not say which were added.
        for user in users {
            match self.call(
                "conversations.invite",
                json!({"channel": channel.id, "users": user}),
            ) {
                Ok(_) => {}
                Err(f) if f.is(&["already_in_channel", "cant_invite_self"]) => {}
                Err(f) => return Err(chat_error("conversations.invite", f)),
            }
        }
        Ok(())
    }

    fn archive(&mut self, channel: &ChannelRef) -> Result<(), ChatError> {
        match self.call("conversations.archive", json!({"channel": channel.id})) {
            Ok(_) => Ok(()),
            Err(f) if f.is(&["already_archived"]) => Ok(()),
            Err(f) => Err(chat_error("conversations.archive", f)),
        }
    }

    /// The channel's messages and, for those with replies, their threads (replies are only in
    /// `conversations.replies`, one call per thread, Tier 3), oldest first.
    fn history(&mut self, channel: &ChannelRef) -> Result<Vec<HistoryItem>, ChatError> {
        let mut items = Vec::new();
        let mut threads = Vec::new();
        let mut cursor = String::new();
        loop {
            let mut q = vec![("channel", channel.id.as_str()), ("limit", "200")];
            if !cursor.is_empty() {
                q.push(("cursor", cursor.as_str()));
            }
            let body = self
                .get("conversations.history", &q)
                .map_err(|f| chat_error("conversations.history", f))?;
            for m in body["messages"].as_array().into_iter().flatten() {
                if m["reply_count"].as_u64().unwrap_or(0) > 0 {
                    threads.push(m["ts"].as_str().unwrap_or_default().to_string());
                }
                items.push(history_item(m, &channel.id));
            }
            cursor = next_cursor(&body);
            if cursor.is_empty() {
                break;
            }
        }
        for parent in threads.iter().filter(|t| !t.is_empty()) {
            items.extend(self.thread_replies(channel, parent)?);
        }
        // Slack pages newest first; replies fall between the messages they answered.
        items.sort_by_key(|i| ts_order(&i.id));
        Ok(items)
    }
}

fn next_cursor(body: &Value) -> String {
    body["response_metadata"]["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Exact order of Slack `ts` values (`seconds.micros`), finer than a millisecond timestamp.
fn ts_order(ts: &str) -> (u64, u64) {
    let (s, m) = ts.split_once('.').unwrap_or((ts, "0"));
    (s.parse().unwrap_or(0), m.parse().unwrap_or(0))
}

/// A Slack message as a timeline item; `ts` is `seconds.micros` and is also the message id.
fn history_item(m: &Value, channel: &str) -> HistoryItem {
    let ts = m["ts"].as_str().unwrap_or_default();
    let author = ["user", "bot_id", "username"]
        .iter()
        .find_map(|k| m[*k].as_str())
        .unwrap_or("unknown");
    let pinned = m["pinned_to"]
        .as_array()
        .is_some_and(|p| p.iter().any(|c| c == channel));
    HistoryItem {
        at: ts_to_timestamp(ts),
        author: author.to_string(),
        text: unescape(m["text"].as_str().unwrap_or_default()),
        pinned,
        id: ts.to_string(),
    }
}

/// `1700000000.000100` → a timestamp (millisecond precision).
pub fn ts_to_timestamp(ts: &str) -> Timestamp {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, "0"));
    let secs: i64 = secs.parse().unwrap_or(0);
    // The first three fraction digits, padded; anything else (a server's odd `ts`) counts 0.
    let millis = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .try_fold(0i64, |m, b| {
            char::from(b).to_digit(10).map(|d| m * 10 + i64::from(d))
        })
        .unwrap_or(0);
    Timestamp::from_millis(secs.saturating_mul(1000).saturating_add(millis))
}

/// Lowercase `a-z0-9-_`, anything else a hyphen, no runs or edge hyphens, at most 80
/// characters (a cut name keeps a hash of the whole so it stays unique), never empty.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-' {
            c
        } else {
            '-'
        };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    let out = out.trim_end_matches('-');
    let out = if out.trim_matches(['-', '_']).is_empty() {
        "pandora-ilert-incident"
    } else {
        out
    };
    shorten_name(out, NAME_MAX)
}

/// Escapes the three characters Slack's mrkdwn reserves.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `escape(text)` cut so that the escaped form has at most `max` characters (Slack counts
/// the text as sent), never inside an entity.
pub fn escape_within(text: &str, max: usize) -> String {
    let escaped = escape(text);
    if escaped.chars().count() <= max {
        return escaped;
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let piece = escape(c.encode_utf8(&mut [0; 4]));
        let n = piece.chars().count();
        if used + n + 1 > max {
            break;
        }
        out.push_str(&piece);
        used += n;
    }
    out.push('…');
    out
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn clip(text: &str, max: usize) -> String {
    crate::text::truncate_chars(text, max)
}

/// Fields shown in the context line under the message rather than as columns.
const CONTEXT_FIELDS: [&str; 4] = ["First fired", "Last seen", "Resolved", "Incident key"];

/// A mrkdwn link `<url|label>`. The URL ends at the first `|` or `>`, so those are
/// percent-encoded in it; both parts are escaped like any mrkdwn text (`&`, `<`, `>`), and a
/// `|` in the label stays literal (only the first one separates).
fn link(url: &str, label: &str) -> String {
    let url = url
        .replace('|', "%7C")
        .replace('<', "%3C")
        .replace('>', "%3E");
    format!("<{}|{}>", escape(&url), escape(label))
}

/// The `text` fallback and Block Kit `blocks` of a message: header, fields in columns, the
/// times in a context line, links in a last section. Pure.
pub fn render(message: &ChatMessage) -> Value {
    let mut blocks = Vec::new();
    match message.kind {
        MessageKind::Alert => blocks.push(json!({
            "type": "header",
            "text": {"type": "plain_text", "text": clip(&message.title, 150), "emoji": true},
        })),
        _ => blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&format!("*{}*", escape(&message.title)), 3000)},
        })),
    }
    let (context, columns): (Vec<_>, Vec<_>) = message
        .fields
        .iter()
        .partition(|(k, _)| CONTEXT_FIELDS.contains(&k.as_str()));
    // A section holds at most 10 fields.
    for chunk in columns.chunks(10) {
        let fields: Vec<Value> = chunk
            .iter()
            .map(|(k, v)| {
                json!({"type": "mrkdwn", "text": clip(&format!("*{}*\n{}", escape(k), escape(v)), 2000)})
            })
            .collect();
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if !context.is_empty() {
        let line: Vec<String> = context
            .iter()
            .map(|(k, v)| format!("{}: {}", escape(k), escape(v)))
            .collect();
        blocks.push(json!({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": clip(&line.join("  ·  "), 3000)}],
        }));
    }
    // Plain `<url|text>` links, not link buttons: a button click is an interaction, and an app
    // without an Interactivity Request URL (a CLI has none) shows a warning after each click
    // (slackapi/slack-github-action#513, slackapi/node-slack-sdk#869).
    let links: Vec<String> = message
        .links
        .iter()
        .filter(|(_, url)| url.len() <= 3000)
        .map(|(label, url)| link(url, label))
        .collect();
    if !links.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&links.join("  ·  "), 3000)},
        }));
    }
    let mut args = json!({
        "text": clip(&escape(&message.text), 4000),
        "blocks": blocks,
    });
    if let Some(key) = &message.alert_of {
        // Marks the incident's alert message, so a server adopting the channel finds it.
        args["metadata"] =
            json!({"event_type": ALERT_EVENT_TYPE, "event_payload": {"incident": key}});
    }
    args
}

// The integration tests' fake Slack, reused by the unit tests below to test the backend's
// calls directly (`fake` refers to its sibling `http`).
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../tests/support/slack.rs"]
mod fake;
#[cfg(test)]
#[allow(dead_code)]
#[path = "../../tests/support/http.rs"]
mod http;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::message::ChatMessage;
    use crate::config::Config;
    use crate::deadline::Deadline;
    use crate::http::Http;
    use crate::store::Store;

    use super::fake::{FakeSlack, BOT_USER, TOKEN};

    /// Runs `f` with a Slack backend pointed at `fake`.
    fn with_backend<T>(fake: &FakeSlack, f: impl FnOnce(&mut Slack<'_>) -> T) -> T {
        let dir = std::env::temp_dir().join(format!(
            "pi-slack-unit-{}-{}",
            std::process::id(),
            fake.server.addr.port()
        ));
        let store = Store::open(&dir).unwrap();
        let text = format!(
            "[slack]\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n[[route]]\nname = \"default\"\nilert_key = \"k\"\n",
            fake.url()
        );
        let config = Config::parse(std::path::Path::new("t.toml"), &text).unwrap();
        let http = Http::new(config.scrubber());
        let ctx = Context {
            config: &config,
            store: &store,
            http: &http,
            deadline: Deadline::after(std::time::Duration::from_secs(20)),
            now: Timestamp::now(),
        };
        let mut slack = Slack::new(config.slack.as_ref().unwrap(), &ctx);
        let out = f(&mut slack);
        let _ = std::fs::remove_dir_all(&dir);
        out
    }

    fn spec(name: &str) -> ChannelSpec {
        ChannelSpec {
            name: name.into(),
            private: false,
            topic: "FIRING - web-01 / CPU Load".into(),
            description: "Pandora FMS incident 42 (web-01 / CPU Load)".into(),
        }
    }

    #[test]
    fn history_reads_every_page_oldest_first_and_marks_the_pin() {
        let fake = FakeSlack::start();
        let id = fake.add_channel("pandorafms_alert_42", "", BOT_USER, false, false);
        let ts: Vec<String> = ["alert", "ack <by> Ana & co", "note", "fixed", "thanks"]
            .iter()
            .enumerate()
            .map(|(i, t)| fake.add_message(&id, &format!("U0PERSON{i}"), t))
            .collect();
        let ch = ChannelRef {
            id: id.clone(),
            name: "pandorafms_alert_42".into(),
            url: None,
        };
        let items = with_backend(&fake, |s| {
            s.pin(&ch, &ts[0]).unwrap();
            s.pin(&ch, &ts[0]).unwrap(); // already_pinned is success
            s.history(&ch).unwrap()
        });
        let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(
            texts,
            ["alert", "ack <by> Ana & co", "note", "fixed", "thanks"]
        );
        assert!(items.windows(2).all(|w| w[0].at <= w[1].at));
        let pinned: Vec<&str> = items
            .iter()
            .filter(|i| i.pinned)
            .map(|i| i.id.as_str())
            .collect();
        assert_eq!(pinned, [ts[0].as_str()]);
        assert_eq!(items[1].author, "U0PERSON1");
        let pages = fake
            .calls()
            .iter()
            .filter(|c| *c == "conversations.history")
            .count();
        assert!(pages >= 3, "follows the cursor: {pages} pages");
        assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    }

    #[test]
    fn a_channel_created_before_a_failed_purpose_call_is_recognised_as_ours() {
        let fake = FakeSlack::start();
        fake.fail_next("conversations.setPurpose", "internal_error");
        let (first, second) = with_backend(&fake, |s| {
            let first = s.open_channel(&spec("pandorafms_alert_42"));
            (first, s.open_channel(&spec("pandorafms_alert_42")))
        });
        assert!(matches!(first, Err(ChatError::Transient(_))), "{first:?}");
        let second = second.unwrap();
        let channels = fake.channels();
        assert_eq!(channels.len(), 1, "{channels:?}");
        assert_eq!(second.id, channels[0].id);
        assert_eq!(
            channels[0].purpose,
            "Pandora FMS incident 42 (web-01 / CPU Load)"
        );
    }

    #[test]
    fn a_taken_name_without_our_purpose_is_not_adopted() {
        let fake = FakeSlack::start();
        // Our bot's channel, but for something else (its purpose says so).
        fake.add_channel(
            "pandorafms_alert_42",
            "Pandora FMS incident 7 (x)",
            BOT_USER,
            false,
            false,
        );
        let ch = with_backend(&fake, |s| s.open_channel(&spec("pandorafms_alert_42"))).unwrap();
        assert_ne!(ch.name, "pandorafms_alert_42");
        assert!(ch.name.starts_with("pandorafms_alert_42-"));
        assert_eq!(fake.channels().len(), 2);
    }

    #[test]
    fn rate_limits_carry_the_retry_after() {
        let fake = FakeSlack::start();
        fake.rate_limit_next("conversations.create", 7);
        let e = with_backend(&fake, |s| s.open_channel(&spec("pandorafms_alert_42"))).unwrap_err();
        assert_eq!(
            e,
            ChatError::RateLimited(Some(std::time::Duration::from_secs(7)))
        );
    }

    fn alert() -> ChatMessage {
        ChatMessage {
            kind: MessageKind::Alert,
            title: "FIRING [Critical] web-01 / CPU <Load> & co".into(),
            fields: vec![
                ("Agent".into(), "web-01".into()),
                ("Value".into(), "95.5%".into()),
                ("First fired".into(), "2026-11-24 02:21:59 UTC".into()),
                ("Incident key".into(), "6182268".into()),
            ],
            links: vec![("ilert alert".into(), "https://x.ilert.com/a?b=1&c=2".into())],
            text: "FIRING [Critical] web-01 / CPU <Load> & co\nAgent: web-01".into(),
            alert_of: None,
            occasion: None,
        }
    }

    #[test]
    fn names_follow_slack_rules() {
        assert_eq!(
            sanitize_name("pandorafms_alert_6182268"),
            "pandorafms_alert_6182268"
        );
        assert_eq!(
            sanitize_name("Pandora FMS / Prod #42 (Ünïcode)"),
            "pandora-fms-prod-42-n-code"
        );
        assert_eq!(sanitize_name("  --  "), "pandora-ilert-incident");
        let long = format!("{}-{}", "a".repeat(100), 1);
        let long2 = format!("{}-{}", "a".repeat(100), 2);
        let (s1, s2) = (sanitize_name(&long), sanitize_name(&long2));
        assert_eq!(s1.chars().count(), NAME_MAX);
        assert_ne!(s1, s2, "cut names stay unique");
        for s in [s1, s2] {
            assert!(s
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'));
        }
    }

    #[test]
    fn alternative_names_are_deterministic_and_fit() {
        let a = alternative_names(&"x".repeat(80), "seed", NAME_MAX);
        assert_eq!(a, alternative_names(&"x".repeat(80), "seed", NAME_MAX));
        assert_eq!(a.len(), 4);
        assert!(a.iter().all(|n| n.chars().count() <= NAME_MAX), "{a:?}");
        assert_eq!(a[0], "x".repeat(80));
        assert!(a[2].ends_with("-2") && a[3].ends_with("-3"), "{a:?}");
        assert_ne!(
            a[1],
            alternative_names(&"x".repeat(80), "other seed", NAME_MAX)[1]
        );
    }

    #[test]
    fn block_kit_has_header_fields_context_links_and_escaped_fallback() {
        let v = render(&alert());
        assert_eq!(
            v["text"],
            "FIRING [Critical] web-01 / CPU &lt;Load&gt; &amp; co\nAgent: web-01"
        );
        let blocks = v["blocks"].as_array().unwrap();
        let types: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["header", "section", "context", "section"]);
        assert_eq!(
            blocks[0]["text"]["text"], "FIRING [Critical] web-01 / CPU <Load> & co",
            "plain_text is not escaped"
        );
        assert_eq!(blocks[1]["fields"][0]["text"], "*Agent*\nweb-01");
        assert_eq!(
            blocks[2]["elements"][0]["text"],
            "First fired: 2026-11-24 02:21:59 UTC  ·  Incident key: 6182268"
        );
        assert_eq!(
            blocks[3]["text"]["text"],
            "<https://x.ilert.com/a?b=1&amp;c=2|ilert alert>"
        );
        assert_eq!(
            link("https://h/x?a=<b>|c", "a|b & <c>"),
            "<https://h/x?a=%3Cb%3E%7Cc|a|b &amp; &lt;c&gt;>"
        );
    }

    #[test]
    fn a_section_holds_at_most_ten_fields() {
        let mut m = alert();
        m.fields = (0..13).map(|i| (format!("k{i}"), "v".into())).collect();
        let v = render(&m);
        let sections: Vec<usize> = v["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["fields"].as_array().map(Vec::len))
            .collect();
        assert_eq!(sections, [10, 3]);
    }

    #[test]
    fn short_messages_are_one_section() {
        let m = ChatMessage {
            kind: MessageKind::Stakeholder,
            title: "Incident opened: [Critical] a & b".into(),
            fields: vec![],
            links: vec![],
            text: "Incident opened: [Critical] a & b".into(),
            alert_of: None,
            occasion: None,
        };
        let v = render(&m);
        assert_eq!(v["blocks"].as_array().unwrap().len(), 1);
        assert_eq!(
            v["blocks"][0]["text"]["text"],
            "*Incident opened: [Critical] a &amp; b*"
        );
    }

    #[test]
    fn error_codes_are_sorted_by_what_to_do() {
        assert_eq!(
            classify("chat.postMessage", "ratelimited", None),
            ChatError::RateLimited(None)
        );
        assert!(matches!(
            classify("x", "internal_error", None),
            ChatError::Transient(_)
        ));
        let e = classify("pins.add", "missing_scope", Some("pins:write"));
        assert!(
            matches!(&e, ChatError::Permanent(m) if m.contains("'pins:write'")),
            "{e:?}"
        );
        assert!(
            matches!(classify("x", "invalid_auth", None), ChatError::Permanent(m) if m.contains("[slack] token"))
        );
        assert!(matches!(
            classify("chat.update", "message_not_found", None),
            ChatError::MessageGone(_)
        ));
        assert!(matches!(
            classify("x", "something_new", None),
            ChatError::Permanent(_)
        ));
    }

    #[test]
    fn ts_converts_to_milliseconds() {
        assert_eq!(
            ts_to_timestamp("1700000000.123456").millis(),
            1_700_000_000_123
        );
        assert_eq!(ts_to_timestamp("1700000000").millis(), 1_700_000_000_000);
        assert_eq!(ts_to_timestamp("1700000000.1").millis(), 1_700_000_000_100);
    }

    #[test]
    fn ts_with_odd_bytes_after_the_dot_does_not_panic() {
        assert_eq!(ts_to_timestamp("1700000000.é").millis(), 1_700_000_000_000);
        assert_eq!(ts_to_timestamp("1700000000.1é").millis(), 1_700_000_000_000);
        assert_eq!(ts_to_timestamp("1.").millis(), 1_000);
        let _ = ts_to_timestamp("99999999999999999999.999");
        let _ = ts_to_timestamp("9223372036854775807.999");
    }

    proptest::proptest! {
        #![proptest_config(crate::http::arbitrary::config(1000))]

        /// Any Web API answer: no panic; success only on HTTP 200 with `ok: true`; a redirect
        /// is a configuration error.
        #[test]
        fn any_answer_is_classified(r in crate::http::arbitrary::answer()) {
            let got = api::answer(&r, Timestamp::from_millis(0), "[slack] api_url", read);
            if got.is_ok() {
                proptest::prop_assert_eq!(r.status, 200);
                proptest::prop_assert_eq!(r.json()["ok"].as_bool(), Some(true));
            }
            if let Err(f) = got {
                let e = chat_error("chat.postMessage", f);
                if (300..=399).contains(&r.status) {
                    proptest::prop_assert!(matches!(e, ChatError::Permanent(ref m) if m.contains("[slack] api_url")), "{:?}", e);
                }
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn topics_and_purposes_are_escaped_within_the_limit() {
        assert_eq!(
            escape_within("<!channel> & co", 250),
            "&lt;!channel&gt; &amp; co"
        );
        let long = "<".repeat(300);
        let cut = escape_within(&long, TOPIC_MAX);
        assert!(cut.chars().count() <= TOPIC_MAX);
        assert!(cut.ends_with("&lt;…"), "{cut}");
    }
}
