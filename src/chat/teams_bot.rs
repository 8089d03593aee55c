//! Microsoft Teams through a Bot Framework bot: the one way an application may post into a
//! channel **and edit** what it posted (Graph refuses application posts outside imports).
//!
//! - Token: client credentials at the Microsoft identity platform for the scope
//!   `https://api.botframework.com/.default` (Bot Connector quickstart, "Get an access
//!   token"); cached under `meta/` until shortly before it expires, never logged.
//! - The alert card starts a thread in the incident channel: `POST {serviceUrl}/v3/conversations`
//!   with `isGroup: true` and `channelData.channel.id`; the answer's conversation id and
//!   activity id together are the message id kept in the incident record.
//! - Re-fires, acknowledgements and the recovery edit that card in place
//!   (`PUT …/v3/conversations/{conversation}/activities/{activity}`); follow-ups are replies in
//!   the thread (`POST …/v3/conversations/{conversation}/activities`).
//!
//! Errors are `{"error": {"code", "message"}}`; `403 BotNotInConversationRoster` means the bot
//! cannot reach the channel (its app is not installed in the team, or the channel is private
//! and apps are restricted there); the caller decides what to do about it.

use std::time::Duration;

use serde_json::{json, Value};

use super::api::{self, Refusal};
use super::entra::{self, ClientCredentials};
use super::{ChatError, Context};
use crate::config::TeamsBot;
use crate::http::{encode_component, Request, Response};
use crate::text::one_line;
use crate::time::Timestamp;

/// The scope of a Bot Connector token (Bot Connector quickstart, "Get an access token").
pub const BOT_SCOPE: &str = "https://api.botframework.com/.default";
/// A cached token is used only if it stays valid at least this much longer.
const TOKEN_SLACK: Duration = Duration::from_secs(300);
/// Separates the conversation id from the activity id in a stored message id; neither
/// contains it (conversation ids are `19:…@thread.tacv2;messageid=…`, activity ids digits).
const ID_SEPARATOR: char = '|';

/// A card the bot posted: the thread's conversation and the activity in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotMessageId {
    /// The conversation (the channel thread).
    pub conversation: String,
    /// The activity (the message) in it.
    pub activity: String,
}

impl BotMessageId {
    /// The form kept in the incident record's `message_id`.
    pub fn encode(&self) -> String {
        format!("{}{ID_SEPARATOR}{}", self.conversation, self.activity)
    }

    /// Reads a stored message id; `None` for ids that are not the bot's (a webhook card).
    pub fn parse(id: &str) -> Option<BotMessageId> {
        let (conversation, activity) = id.split_once(ID_SEPARATOR)?;
        (!conversation.is_empty() && !activity.is_empty()).then(|| BotMessageId {
            conversation: conversation.to_string(),
            activity: activity.to_string(),
        })
    }
}

/// The bot is not in the channel's roster: its app is not installed in the team, or the
/// channel is private and apps are restricted there (msteams-docs "Status codes from bot
/// conversational APIs": 403 `BotNotInConversationRoster`).
pub fn not_in_roster(r: &Refusal) -> bool {
    r.status == 403 && r.code == "BotNotInConversationRoster"
}

/// What a Bot Connector refusal means; configuration problems say what to fix (msteams-docs
/// "Status codes from bot conversational APIs").
pub fn classify(what: &str, e: &Refusal) -> ChatError {
    let detail = format!(
        "HTTP {} {}: {}",
        e.status,
        e.code,
        one_line(&e.message, 200)
    );
    match e.status {
        429 => ChatError::RateLimited(e.retry_after),
        500..=599 | 408 | 412 => ChatError::Transient(format!("Teams bot: {what}: {detail}")),
        404 => ChatError::MessageGone(format!("Teams bot: {what}: {detail}")),
        401 => ChatError::Permanent(format!(
            "Teams bot: {what}: {detail}; check [teams] bot_app_id, bot_secret and bot_tenant, \
             and that the Azure Bot registration has the Microsoft Teams channel enabled"
        )),
        403 if e.code == "BotDisabledByAdmin" => ChatError::Permanent(format!(
            "Teams bot: {what}: {detail}; a Teams admin blocked the app: allow it in the Teams \
             admin center (Teams apps, Manage apps, and the app permission policies)"
        )),
        403 if e.code == "BotNotInConversationRoster" => ChatError::Permanent(format!(
            "Teams bot: {what}: {detail}; the bot's Teams app is not installed in the team: \
             set [teams] bot_teams_app_id and grant TeamsAppInstallation.ReadWriteSelfForTeam.All, \
             or install the app in the team by hand (`pandora-ilert doctor` says how)"
        )),
        _ => ChatError::Permanent(format!("Teams bot: {what}: {detail}")),
    }
}

/// The Bot Connector, as `entra::call` reaches it: any 401 is a token to replace.
const CONNECTOR: entra::TokenApi = entra::TokenApi {
    who: "Teams bot",
    url_setting: "[teams] bot_service_url",
    read: read_connector,
    invalid_token: |r| r.status == 401,
    refreshing: "Teams bot: the Bot Connector refused the token; fetching a new one",
};

/// Reads a Bot Connector answer: a 2xx is the value (`Null` when empty), anything else the
/// connector's `{"error": {"code", "message"}}` (a bare `{"message"}` on 401).
fn read_connector(resp: &Response, now: Timestamp) -> Result<Value, Refusal> {
    api::rest_answer(resp, now, "/error/code", "/error/message").map_err(|mut r| {
        if let Some(m) = r.body["message"].as_str().filter(|_| r.code.is_empty()) {
            r.message = m.to_string();
        }
        r
    })
}

/// The message activity carrying `card` (an Adaptive Card) with `text` as the notification
/// preview. Pure.
pub fn activity(card: Value, text: &str) -> Value {
    json!({
        "type": "message",
        "summary": crate::text::truncate_chars(text, 200),
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": card,
        }],
    })
}

/// The bot's client for one delivery.
pub struct BotClient<'a> {
    cfg: &'a TeamsBot,
    ctx: &'a Context<'a>,
    token: Option<String>,
}

impl<'a> BotClient<'a> {
    /// A client for one delivery.
    pub fn new(cfg: &'a TeamsBot, ctx: &'a Context<'a>) -> Self {
        BotClient {
            cfg,
            ctx,
            token: None,
        }
    }

    /// The `meta/` entry caching this bot's token.
    pub fn token_meta(cfg: &TeamsBot) -> String {
        let who = format!("{}\u{0}{}", cfg.token_url, cfg.app_id);
        format!(
            "teams-bot-token-{}",
            &crate::text::fnv1a_hex(who.as_bytes())[..12]
        )
    }

    /// A Bot Connector token: this run's, the cached one while it stays valid, or a new one.
    fn token(&mut self, fresh: bool) -> Result<String, ChatError> {
        if !fresh {
            if let Some(t) = &self.token {
                return Ok(t.clone());
            }
        }
        let creds = ClientCredentials {
            who: "Teams bot",
            url: self.cfg.token_url.clone(),
            url_setting: "[teams] bot_token_url",
            client_id: &self.cfg.app_id,
            secret: self.cfg.secret.expose(),
            scope: BOT_SCOPE,
            meta: Self::token_meta(self.cfg),
            check: "check [teams] bot_app_id, bot_secret and bot_tenant (a single-tenant bot \
                    needs its own tenant id there)",
            margin: TOKEN_SLACK,
        };
        let token = entra::token(self.ctx, &creds, fresh)?;
        self.token = Some(token.clone());
        Ok(token)
    }

    /// One Bot Connector call; a token the connector calls invalid is replaced once
    /// (`entra::call`).
    fn call(
        &mut self,
        method: &'static str,
        url: &str,
        body: Value,
    ) -> Result<Result<Value, Refusal>, ChatError> {
        let ctx = self.ctx;
        let request = || Request::new(method, url).json(body.clone());
        entra::call(ctx, &CONNECTOR, request, |fresh| self.token(fresh))
    }

    fn conversations_url(&self) -> String {
        format!("{}/v3/conversations", self.cfg.service_url)
    }

    /// Starts a thread in the channel `channel_id` with `activity` as its first message.
    pub fn start_thread(
        &mut self,
        channel_id: &str,
        activity: Value,
    ) -> Result<Result<BotMessageId, Refusal>, ChatError> {
        let mut channel_data = json!({"channel": {"id": channel_id}});
        if self.cfg.tenant != "botframework.com" {
            channel_data["tenant"] = json!({"id": self.cfg.tenant});
        }
        let body = json!({
            "isGroup": true,
            "channelData": channel_data,
            "activity": activity,
        });
        let url = self.conversations_url();
        let v = match self.call("POST", &url, body)? {
            Ok(v) => v,
            Err(r) => return Ok(Err(r)),
        };
        let conversation = v["id"].as_str().unwrap_or_default();
        // The first message's id is `activityId`; Teams also ends the thread's conversation id
        // with `;messageid=<it>`.
        let activity = v["activityId"]
            .as_str()
            .map(str::to_string)
            .or_else(|| {
                conversation
                    .split_once(";messageid=")
                    .map(|(_, m)| m.to_string())
            })
            .unwrap_or_default();
        if conversation.is_empty() || activity.is_empty() {
            return Err(ChatError::Transient(
                "Teams bot: the thread was started but the answer had no conversation or \
                 activity id"
                    .into(),
            ));
        }
        Ok(Ok(BotMessageId {
            conversation: conversation.to_string(),
            activity,
        }))
    }

    /// Replaces the posted message `id` with `activity`.
    pub fn update(
        &mut self,
        id: &BotMessageId,
        activity: Value,
    ) -> Result<Result<(), Refusal>, ChatError> {
        let url = format!(
            "{}/{}/activities/{}",
            self.conversations_url(),
            encode_component(&id.conversation),
            encode_component(&id.activity)
        );
        let mut body = activity;
        body["id"] = json!(id.activity);
        Ok(self.call("PUT", &url, body)?.map(drop))
    }

    /// Posts `activity` as a reply in the thread of `id`; returns the reply's id.
    pub fn reply(
        &mut self,
        id: &BotMessageId,
        activity: Value,
    ) -> Result<Result<BotMessageId, Refusal>, ChatError> {
        let url = format!(
            "{}/{}/activities",
            self.conversations_url(),
            encode_component(&id.conversation)
        );
        Ok(self.call("POST", &url, activity)?.map(|v| BotMessageId {
            conversation: id.conversation.clone(),
            activity: v["id"].as_str().unwrap_or_default().to_string(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bot_message_id_keeps_conversation_and_activity() {
        let id = BotMessageId {
            conversation: "19:abc@thread.tacv2;messageid=1700000000001".into(),
            activity: "1700000000001".into(),
        };
        assert_eq!(BotMessageId::parse(&id.encode()), Some(id));
        assert_eq!(BotMessageId::parse("webhook-1700000000001"), None);
        assert_eq!(BotMessageId::parse("|1"), None);
    }

    #[test]
    fn connector_errors_are_sorted_by_what_to_do() {
        let e = |status, code: &str| Refusal {
            status,
            code: code.into(),
            message: "m".into(),
            retry_after: Some(Duration::from_secs(2)),
            body: Value::Null,
        };
        assert_eq!(
            classify("x", &e(429, "")),
            ChatError::RateLimited(Some(Duration::from_secs(2)))
        );
        assert!(matches!(
            classify("x", &e(404, "ActivityNotFoundInConversation")),
            ChatError::MessageGone(_)
        ));
        assert!(matches!(
            classify("x", &e(502, "")),
            ChatError::Transient(_)
        ));
        assert!(
            matches!(classify("x", &e(403, "BotDisabledByAdmin")), ChatError::Permanent(m) if m.contains("admin center"))
        );
        assert!(
            matches!(classify("x", &e(403, "BotNotInConversationRoster")), ChatError::Permanent(m) if m.contains("TeamsAppInstallation.ReadWriteSelfForTeam.All"))
        );
        assert!(not_in_roster(&e(403, "BotNotInConversationRoster")));
        assert!(!not_in_roster(&e(403, "BotDisabledByAdmin")));
        let unauthorized = read_connector(
            &Response::new(
                401,
                r#"{"message":"Authorization has been denied for this request."}"#,
            ),
            Timestamp::from_millis(0),
        )
        .unwrap_err();
        assert_eq!(
            unauthorized.message,
            "Authorization has been denied for this request."
        );
    }

    #[test]
    fn the_activity_carries_the_card() {
        let a = activity(json!({"type": "AdaptiveCard"}), "FIRING x");
        assert_eq!(a["type"], "message");
        assert_eq!(
            a["attachments"][0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        assert_eq!(a["attachments"][0]["content"]["type"], "AdaptiveCard");
    }
}
