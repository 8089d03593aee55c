//! Matrix incident rooms over the client-server API v3, authenticated by the bot's access token.
//!
//! - One room per incident, found again by its canonical alias `#<template name>:<server>`.
//!   The server name comes from the homeserver itself (`whoami`), because the alias must be on
//!   the bot's server whatever the URL's host is. An alias that is already taken (another run,
//!   another Pandora server, or a concurrent first firing) means the room exists: we join it
//!   and reuse it, never create a second.
//! - Private routes: `preset: private_chat` (invite only). Public routes: `preset:
//!   public_chat` (anyone on the homeserver who knows the alias may join) but `visibility:
//!   private`, so incident rooms are not published in the room directory; `m.federate: false`
//!   (unless `[matrix] federate`) keeps them on this homeserver. Rooms are not encrypted: the
//!   bot does not do end-to-end encryption (`doctor` warns about encrypted rooms).
//! - Error answers are told apart by status and `errcode` only, never by their text, which
//!   differs between Synapse, Dendrite and conduwuit/tuwunel.
//! - Messages carry an HTML body with a plain-text fallback. Re-fires and recovery edit the
//!   pinned alert message with `m.replace`; its id stays the original event id, so the pin stays.
//! - Transaction ids are derived from the room and the message's occasion (`pi-<room
//!   hash>-note-on-<occasion hash>`): the caller names which intended message it is from
//!   durable state (an incident's post counter, a storm's start, the command replied to), so a
//!   request retried after a timeout or a crash is deduplicated by the homeserver instead of
//!   posting twice, while a second message with the same text (the same ilert change twice)
//!   still posts. Without an occasion the headline stands in for it. They are scoped to one device (access token), so two Pandora servers meet in
//!   one room by its alias, not by transaction id, and the second finds the first one's alert
//!   message by its content marker (`ALERT_MARKER`) when it joins a room it did not create.
//!   (Synapse remembers transaction ids for about a day.)
//! - Archiving makes the room read-only (only the bot's power level may send or change state),
//!   invite-only, and deletes the alias so it no longer points at it. No tombstone: a tombstone
//!   names a successor room and there is none. The bot stays, so the history stays readable.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::api::{self, ApiError, Refusal};
use super::{
    Capabilities, ChannelRef, ChannelSpec, ChatBackend, ChatError, ChatMessage, Context,
    HistoryItem, PostedAlert,
};
use crate::chat::message::MessageKind;
use crate::config::MatrixConfig;
use crate::deadline::MARGIN;
use crate::http::{encode_component, Request, Response};
use crate::text::fnv1a_hex;
use crate::text::one_line;
use crate::time::Timestamp;

/// Room alias localparts are at most this long (the whole alias is limited to 255 bytes).
const MAX_LOCALPART: usize = 200;
/// Messages per history page.
const HISTORY_PAGE: u32 = 100;
/// History pages read at most (bounds a run on a very chatty room).
const HISTORY_MAX_PAGES: usize = 100;
/// Joins tried while a room behind a taken alias is still being created (about 1.5 s in all).
const JOIN_ATTEMPTS: u32 = 5;
/// Power level that archiving requires for everything.
const ARCHIVED_LEVEL: i64 = 100;

/// The Matrix backend for one delivery.
pub struct Matrix<'a> {
    cfg: &'a MatrixConfig,
    ctx: &'a Context<'a>,
    /// The bot's user id and server name (`whoami`), asked once per delivery.
    whoami: Option<(String, String)>,
    /// The room the last `open_channel` joined behind a taken alias (another server's or an
    /// earlier run's), whose alert message `posted_alert` looks for.
    adopted: Option<String>,
}

impl<'a> Matrix<'a> {
    /// The backend for one delivery.
    pub fn new(cfg: &'a MatrixConfig, ctx: &'a Context<'a>) -> Self {
        Matrix {
            cfg,
            ctx,
            whoami: None,
            adopted: None,
        }
    }

    /// One client-server API call, its failure for the caller to read.
    fn api(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}/_matrix/client/v3{path}", self.cfg.homeserver);
        let mut req = Request::new(method, url);
        if let Some(b) = body {
            req = req.json(b);
        }
        let token = self.cfg.access_token.expose();
        api::call(self.ctx, req, Some(token), "[matrix] homeserver", read)
    }

    /// One client-server API call, its failure classified.
    fn call(
        &self,
        method: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ChatError> {
        self.api(method, path, body).map_err(chat_error)
    }

    /// The bot's user id and server name (the part after the first `:` of the user id).
    fn whoami(&mut self) -> Result<(String, String), ChatError> {
        if let Some(w) = &self.whoami {
            return Ok(w.clone());
        }
        let who = self.call("GET", "/account/whoami", None)?;
        let user = who["user_id"].as_str().unwrap_or_default();
        let Some((_, server)) = user.split_once(':') else {
            return Err(ChatError::Permanent(format!(
                "the homeserver's whoami answer has no usable user id ({user:?})"
            )));
        };
        if server != self.cfg.server_name {
            log::debug!(
                "matrix: aliases use the bot's server name {server} (config server_name is {})",
                self.cfg.server_name
            );
        }
        let w = (user.to_string(), server.to_string());
        self.whoami = Some(w.clone());
        Ok(w)
    }

    /// The bot's server name.
    fn server_name(&mut self) -> Result<String, ChatError> {
        Ok(self.whoami()?.1)
    }

    /// The bot's own user id.
    pub fn own_user_id(&mut self) -> Result<String, ChatError> {
        Ok(self.whoami()?.0)
    }

    /// One event of a room (`GET /rooms/{roomId}/event/{eventId}`, spec `room_event.yaml`);
    /// `None` when the homeserver does not have it (404 `M_NOT_FOUND`).
    fn event(&self, room: &str, event_id: &str) -> Result<Option<Value>, ChatError> {
        let path = format!(
            "/rooms/{}/event/{}",
            encode_component(room),
            encode_component(event_id)
        );
        match self.api("GET", &path, None) {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::Refused(e)) if e.code == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(chat_error(e)),
        }
    }

    /// Joins a room by id or alias (a no-op when already joined); returns the room id.
    fn join(&self, room: &str) -> Result<String, ApiError> {
        let v = self.api(
            "POST",
            &format!("/join/{}", encode_component(room)),
            Some(json!({})),
        )?;
        Ok(v["room_id"].as_str().unwrap_or(room).to_string())
    }

    /// Joins the room behind an alias that createRoom found taken. Synapse points the alias
    /// at a new room a moment before the room has its first events; a join in that moment
    /// fails with 404 (it takes the room for a remote one), so wait briefly and try again.
    fn join_taken_alias(&self, alias: &str) -> Result<String, ChatError> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match self.join(alias) {
                Ok(room) => return Ok(room),
                Err(ApiError::Refused(a)) if a.code == "M_FORBIDDEN" => {
                    return Err(ChatError::Permanent(format!(
                        "room alias {alias} belongs to a room the bot may not join ({}); invite the bot user or change the route's channel_template",
                        a.message
                    )))
                }
                Err(ApiError::Refused(a)) if a.status == 404 => {
                    let wait = Duration::from_millis(100 * u64::from(attempt));
                    if attempt >= JOIN_ATTEMPTS || wait + MARGIN * 2 > self.ctx.deadline.remaining() {
                        return Err(ChatError::Transient(format!(
                            "room alias {alias} is taken but its room cannot be joined yet ({}: {})",
                            a.code, a.message
                        )));
                    }
                    log::debug!("matrix: room behind {alias} not joinable yet ({}); retrying", a.code);
                    std::thread::sleep(wait);
                }
                Err(e) => return Err(chat_error(e)),
            }
        }
    }

    fn send(&self, room: &str, txn: &str, content: Value) -> Result<String, ChatError> {
        let v = self.call(
            "PUT",
            &format!(
                "/rooms/{}/send/m.room.message/{}",
                encode_component(room),
                encode_component(txn)
            ),
            Some(content),
        )?;
        v["event_id"].as_str().map(str::to_string).ok_or_else(|| {
            ChatError::Transient("the homeserver answered a message without an event_id".into())
        })
    }

    /// One page of `/messages` from `from` (or the newest end) in direction `dir`.
    fn messages(&self, room: &str, dir: &str, from: Option<&str>) -> Result<Value, ChatError> {
        let mut path = format!(
            "/rooms/{}/messages?dir={dir}&limit={HISTORY_PAGE}",
            encode_component(room)
        );
        if let Some(f) = from {
            path.push_str(&format!("&from={}", encode_component(f)));
        }
        self.call("GET", &path, None)
    }

    /// New messages of one room with `/sync` (spec `sync.yaml`): from `since` (a `next_batch`
    /// of an earlier sync) or, without one, the room's latest messages; returns them oldest
    /// first with this sync's `next_batch`. The filter keeps only this room's `m.room.message`
    /// timeline (no state, presence, receipts or account data). A `limited` timeline (more
    /// messages since `since` than the filter's limit) is completed backwards with
    /// `/messages` from its `prev_batch` down to `since`, so no command is skipped.
    fn sync_room(
        &self,
        room: &str,
        since: Option<&str>,
        timeout: Duration,
    ) -> Result<(Vec<HistoryItem>, String), ChatError> {
        let page = self.sync(&room_sync_filter(room), since, timeout)?;
        let next = next_batch(&page)?;
        let timeline = &page["rooms"]["join"][room]["timeline"];
        let (mut items, _) = history_page(
            &json!({"chunk": timeline["events"].clone()}),
            &HashSet::new(),
        );
        if let (Some(since), true, Some(prev)) = (
            since,
            timeline["limited"].as_bool() == Some(true),
            timeline["prev_batch"].as_str(),
        ) {
            let mut gap = self.read_gap(room, prev, since)?;
            gap.append(&mut items);
            items = gap;
        }
        Ok((items, next))
    }

    /// One `GET /sync` with an inline filter; `timeout` is how long the homeserver may hold
    /// the request open waiting for something new (0: answer at once). `set_presence=offline`
    /// so polling never shows the bot as online.
    fn sync(
        &self,
        filter: &Value,
        since: Option<&str>,
        timeout: Duration,
    ) -> Result<Value, ChatError> {
        let mut path = format!(
            "/sync?filter={}&timeout={}&set_presence=offline",
            encode_component(&filter.to_string()),
            timeout.as_millis()
        );
        if let Some(s) = since {
            path.push_str(&format!("&since={}", encode_component(s)));
        }
        self.call("GET", &path, None)
    }

    /// The messages a limited sync timeline left out: backwards from `prev_batch` to `since`
    /// (`to`, spec `message_pagination.yaml`), at most `HISTORY_MAX_PAGES` pages; oldest first.
    fn read_gap(
        &self,
        room: &str,
        prev_batch: &str,
        since: &str,
    ) -> Result<Vec<HistoryItem>, ChatError> {
        let none = HashSet::new();
        let mut items = Vec::new();
        let mut from = prev_batch.to_string();
        for page_no in 1..=HISTORY_MAX_PAGES {
            let path = format!(
                "/rooms/{}/messages?dir=b&limit={HISTORY_PAGE}&from={}&to={}",
                encode_component(room),
                encode_component(&from),
                encode_component(since)
            );
            let page = self.call("GET", &path, None)?;
            let (mut got, next) = history_page(&page, &none);
            items.append(&mut got);
            match next {
                Some(_) if page_no == HISTORY_MAX_PAGES => log::warn!(
                    "matrix: more than {} messages in room {room} since the last read; the oldest are not read as commands",
                    HISTORY_MAX_PAGES * HISTORY_PAGE as usize
                ),
                Some(n) => from = n,
                None => break,
            }
        }
        items.reverse();
        Ok(items)
    }

    /// Reads forwards from a `/messages` token (positions stored by earlier versions).
    fn read_forward(&self, room: &str, from: &str) -> Result<Vec<HistoryItem>, ChatError> {
        let none = HashSet::new();
        let mut items = Vec::new();
        let mut from = from.to_string();
        for _ in 0..HISTORY_MAX_PAGES {
            let page = self.messages(room, "f", Some(&from))?;
            let (mut got, next) = history_page(&page, &none);
            items.append(&mut got);
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        Ok(items)
    }

    /// Waits up to `timeout` for a new message in any room the bot is in (a long-poll
    /// `/sync`), so `watch` acts at once instead of at its next pass; returns the position to
    /// wait from next time and whether a message came. Only a signal: what is acted on is
    /// read per room from the stored positions. The first call (no `since`) answers at once.
    /// Messages sent by `bot` (its answers and cards, from this or another process) do not
    /// wake it: they are no command, and would only cost one more pass.
    pub fn wait_for_messages(
        &self,
        since: Option<&str>,
        timeout: Duration,
        bot: &str,
    ) -> Result<(String, bool), ChatError> {
        // The long-poll must end before the request's own timeout.
        let budget = self
            .ctx
            .deadline
            .request_timeout(self.ctx.config.request_timeout)
            .map(|t| t.saturating_sub(Duration::from_secs(1)))
            .unwrap_or_default();
        let timeout = if since.is_some() {
            timeout.min(budget)
        } else {
            Duration::ZERO
        };
        let page = self.sync(&wake_filter(bot), since, timeout)?;
        let came = since.is_some()
            && page["rooms"]["join"].as_object().is_some_and(|rooms| {
                rooms.values().any(|r| {
                    r["timeline"]["events"]
                        .as_array()
                        .is_some_and(|e| !e.is_empty())
                })
            });
        Ok((next_batch(&page)?, came))
    }

    /// A state event's content, `None` when the room has none.
    fn state(&self, room: &str, kind: &str) -> Result<Option<Value>, ChatError> {
        match self.api("GET", &state_path(room, kind), None) {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::Refused(e)) if e.code == "M_NOT_FOUND" => Ok(None),
            Err(e) => Err(chat_error(e)),
        }
    }

    fn put_state(&self, room: &str, kind: &str, content: Value) -> Result<(), ChatError> {
        self.call("PUT", &state_path(room, kind), Some(content))?;
        Ok(())
    }

    /// True when `user` has joined `room` or is invited to it already (their `m.room.member`
    /// state event), so an invite refused with `M_FORBIDDEN` was a no-op.
    fn is_member(&self, room: &str, user: &str) -> Result<bool, ChatError> {
        let path = format!(
            "{}/{}",
            state_path(room, "m.room.member"),
            encode_component(user)
        );
        match self.api("GET", &path, None) {
            Ok(v) => Ok(matches!(v["membership"].as_str(), Some("join" | "invite"))),
            Err(ApiError::Refused(e)) if e.code == "M_NOT_FOUND" => Ok(false),
            Err(e) => Err(chat_error(e)),
        }
    }

    /// Deletes an alias if (and only if) it still points at `room`.
    fn drop_alias(&self, room: &str, alias: &str) -> Result<(), ChatError> {
        let path = format!("/directory/room/{}", encode_component(alias));
        match self.api("GET", &path, None) {
            Ok(v) if v["room_id"].as_str() == Some(room) => {}
            Ok(_) => return Ok(()),
            Err(ApiError::Refused(e)) if e.code == "M_NOT_FOUND" => return Ok(()),
            Err(e) => return Err(chat_error(e)),
        }
        match self.api("DELETE", &path, None) {
            Ok(_) => Ok(()),
            Err(ApiError::Refused(e)) if e.code == "M_NOT_FOUND" => Ok(()),
            Err(e) => Err(chat_error(e)),
        }
    }
}

impl ChatBackend for Matrix<'_> {
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn sanitize_name(&self, name: &str) -> String {
        alias_localpart(name)
    }

    fn open_channel(&mut self, spec: &ChannelSpec) -> Result<ChannelRef, ChatError> {
        let server = self.server_name()?;
        let localpart = alias_localpart(&spec.name);
        let alias = format!("#{localpart}:{server}");
        let body = json!({
            "name": spec.name,
            "topic": spec.topic,
            "room_alias_name": localpart,
            "preset": if spec.private { "private_chat" } else { "public_chat" },
            "visibility": "private",
            // `m.federate: false` keeps users of other servers out, so a public route's room
            // is "anyone on this homeserver" (spec create_room.yaml, `creation_content`).
            "creation_content": { "m.federate": self.cfg.federate },
        });
        let room = match self.api("POST", "/createRoom", Some(body)) {
            Ok(v) => v["room_id"].as_str().map(str::to_string).ok_or_else(|| {
                ChatError::Transient("createRoom answered without a room_id".into())
            })?,
            // Taken: an earlier run (maybe one that timed out after the server created the
            // room), another Pandora server, or a concurrent first firing (Synapse answers that
            // race with 409) made it. Join and reuse it. Told by errcode and status only: the
            // error text differs between servers.
            Err(ApiError::Refused(e)) if e.code == "M_ROOM_IN_USE" || e.status == 409 => {
                log::info!("matrix: room alias {alias} exists already; reusing its room");
                let room = self.join_taken_alias(&alias)?;
                self.adopted = Some(room.clone());
                room
            }
            Err(e) => return Err(chat_error(e)),
        };
        Ok(ChannelRef {
            id: room,
            name: localpart,
            url: Some(matrix_to(&alias)),
        })
    }

    /// Looks at the pinned events first (`m.room.pinned_events`, then each event), then at the
    /// newest page of `/messages` (a card posted but not yet pinned). A card is ours to adopt
    /// when its content carries this incident's marker (`ALERT_MARKER`) and this bot user
    /// sent it: an edit (`m.replace`) must come from the original's sender (spec
    /// `event_replacements.md`), so another bot user's card could not be kept up to date.
    fn posted_alert(
        &mut self,
        channel: &ChannelRef,
        key: &str,
    ) -> Result<Option<PostedAlert>, ChatError> {
        let room = channel.id.as_str();
        if self.adopted.as_deref() != Some(room) {
            return Ok(None);
        }
        let (me, _) = self.whoami()?;
        let pinned: Vec<String> = self
            .state(room, "m.room.pinned_events")?
            .and_then(|v| v["pinned"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let mut foreign = None;
        for id in pinned.iter().rev() {
            let Some(ev) = self.event(room, id)? else {
                continue;
            };
            match card_sender(&ev, key) {
                Some(sender) if sender == me => {
                    return Ok(Some(PostedAlert {
                        id: id.clone(),
                        pinned: true,
                    }))
                }
                Some(sender) => foreign = Some(sender.to_string()),
                None => {}
            }
        }
        if foreign.is_none() {
            let page = self.messages(room, "b", None)?;
            for ev in page["chunk"].as_array().into_iter().flatten() {
                let id = ev["event_id"].as_str().unwrap_or_default();
                match card_sender(ev, key) {
                    Some(sender) if sender == me && !id.is_empty() => {
                        return Ok(Some(PostedAlert {
                            id: id.to_string(),
                            pinned: pinned.iter().any(|p| p == id),
                        }))
                    }
                    Some(sender) => foreign = Some(sender.to_string()),
                    None => {}
                }
            }
        }
        if let Some(sender) = foreign {
            log::warn!(
                "matrix: room {room} holds incident {key}'s alert message from {sender}, not \
                 from this bot ({me}); Matrix lets only its sender edit it, so this server \
                 posts its own. Give every Pandora server the same bot user (each may have \
                 its own access token)"
            );
        }
        Ok(None)
    }

    fn post(&mut self, channel: &ChannelRef, message: &ChatMessage) -> Result<String, ChatError> {
        self.send(
            &channel.id,
            &txn_id(&channel.id, &post_purpose(message)),
            message_content(message),
        )
    }

    fn update(
        &mut self,
        channel: &ChannelRef,
        message_id: &str,
        message: &ChatMessage,
    ) -> Result<(), ChatError> {
        let content = edit_content(message_id, message);
        let purpose = edit_purpose(&content, message);
        self.send(&channel.id, &txn_id(&channel.id, &purpose), content)?;
        Ok(())
    }

    fn pin(&mut self, channel: &ChannelRef, message_id: &str) -> Result<(), ChatError> {
        let current = self.state(&channel.id, "m.room.pinned_events")?;
        if let Some(content) = with_pin(current.as_ref(), message_id) {
            self.put_state(&channel.id, "m.room.pinned_events", content)?;
        }
        Ok(())
    }

    fn set_topic(&mut self, channel: &ChannelRef, topic: &str) -> Result<(), ChatError> {
        self.put_state(&channel.id, "m.room.topic", json!({ "topic": topic }))
    }

    fn invite(&mut self, channel: &ChannelRef, users: &[String]) -> Result<(), ChatError> {
        let path = format!("/rooms/{}/invite", encode_component(&channel.id));
        for user in users {
            match self.api("POST", &path, Some(json!({ "user_id": user }))) {
                Ok(_) => {}
                // The spec gives no errcode for "already a member" (a 403 `M_FORBIDDEN`, worded
                // differently by Synapse, Dendrite and conduwuit/tuwunel): ask the room.
                Err(ApiError::Refused(e))
                    if e.code == "M_FORBIDDEN" && self.is_member(&channel.id, user)? => {}
                // One bad entry in the route's invite list must not keep the room from
                // getting its alert: say so and invite the others.
                Err(ApiError::Refused(e))
                    if e.code == "M_INVALID_PARAM" || e.code == "M_NOT_FOUND" =>
                {
                    log::warn!(
                        "matrix: cannot invite {user:?} ({}: {}); fix the route's invite list (full user ids like @alice:example.org)",
                        e.code,
                        e.message
                    );
                }
                Err(e) => return Err(chat_error(e)),
            }
        }
        Ok(())
    }

    fn archive(&mut self, channel: &ChannelRef) -> Result<(), ChatError> {
        let room = channel.id.as_str();
        // Read-only first: the room stops taking messages even if the alias steps fail.
        let levels = self
            .state(room, "m.room.power_levels")?
            .unwrap_or(json!({}));
        if let Some(content) = read_only_power_levels(&levels) {
            self.put_state(room, "m.room.power_levels", content)?;
        }
        let rules = self.state(room, "m.room.join_rules")?;
        if rules.as_ref().and_then(|r| r["join_rule"].as_str()) != Some("invite") {
            self.put_state(room, "m.room.join_rules", json!({ "join_rule": "invite" }))?;
        }
        // The aliases go before the canonical-alias event, so a retry still finds them there.
        let canonical = self.state(room, "m.room.canonical_alias")?;
        let mut aliases = canonical.as_ref().map(aliases_of).unwrap_or_default();
        // The alias we made, in case the canonical-alias event no longer names it.
        let name = channel.name.trim_start_matches('#');
        if !name.is_empty() {
            let server = self.server_name()?;
            aliases.push(format!("#{}:{server}", alias_localpart(name)));
        }
        let mut seen = HashSet::new();
        aliases.retain(|a| seen.insert(a.clone()));
        for alias in &aliases {
            self.drop_alias(room, alias)?;
        }
        if let Some(c) = canonical {
            if !aliases_of(&c).is_empty() {
                self.put_state(room, "m.room.canonical_alias", json!({}))?;
            }
        }
        Ok(())
    }

    fn history(&mut self, channel: &ChannelRef) -> Result<Vec<HistoryItem>, ChatError> {
        let room = channel.id.as_str();
        let pinned: HashSet<String> = self
            .state(room, "m.room.pinned_events")?
            .and_then(|v| v["pinned"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let mut items = Vec::new();
        let mut from: Option<String> = None;
        for page_no in 1..=HISTORY_MAX_PAGES {
            let page = self.messages(room, "b", from.as_deref())?;
            let (mut got, next) = history_page(&page, &pinned);
            items.append(&mut got);
            match next {
                Some(_) if page_no == HISTORY_MAX_PAGES => log::warn!(
                    "matrix: room {room} has more than {} messages; the timeline shows the newest only",
                    HISTORY_MAX_PAGES * HISTORY_PAGE as usize
                ),
                Some(n) => from = Some(n),
                None => break,
            }
        }
        // Pages come newest first.
        items.reverse();
        Ok(items)
    }

    fn read_new(
        &mut self,
        channel: &ChannelRef,
        cursor: Option<&str>,
    ) -> Result<(Vec<HistoryItem>, Option<String>), ChatError> {
        let room = channel.id.as_str();
        match cursor.map(SyncCursor::parse) {
            Some(SyncCursor::Sync(since)) => {
                let (items, next) = self.sync_room(room, Some(since), Duration::ZERO)?;
                Ok((items, Some(SyncCursor::stored(&next))))
            }
            // A position stored by an earlier version (a `/messages` token): the position is
            // taken from `/sync` first, then the old one is read up to now, once. A message
            // typed between the two requests may be read twice, never missed.
            Some(SyncCursor::Legacy(from)) => {
                let (_, next) = self.sync_room(room, None, Duration::ZERO)?;
                let items = self.read_forward(room, from)?;
                Ok((items, Some(SyncCursor::stored(&next))))
            }
            None => {
                let (items, next) = self.sync_room(room, None, Duration::ZERO)?;
                Ok((items, Some(SyncCursor::stored(&next))))
            }
        }
    }

    fn withdraw_invites(
        &mut self,
        channel: &ChannelRef,
        users: &[String],
    ) -> Result<(), ChatError> {
        let room = encode_component(&channel.id);
        for user in users {
            let member = format!(
                "/rooms/{room}/state/m.room.member/{}",
                encode_component(user)
            );
            let membership = match self.api("GET", &member, None) {
                Ok(v) => v["membership"].as_str().unwrap_or_default().to_string(),
                Err(ApiError::Refused(e)) if e.code == "M_NOT_FOUND" => continue,
                Err(e) => return Err(chat_error(e)),
            };
            // Only an invitation still pending: members who joined keep their place (and the
            // history); a kick of an invited user withdraws the invite (spec: membership).
            if membership != "invite" {
                continue;
            }
            self.call(
                "POST",
                &format!("/rooms/{room}/kick"),
                Some(json!({
                    "user_id": user,
                    "reason": "The incident is resolved and this room is archived: the invitation is withdrawn.",
                })),
            )?;
        }
        Ok(())
    }

    fn empower(&mut self, channel: &ChannelRef, users: &[String]) -> Result<(), ChatError> {
        let room = channel.id.as_str();
        let levels = self
            .state(room, "m.room.power_levels")?
            .unwrap_or_else(|| json!({}));
        if let Some(content) = with_responder_levels(&levels, users) {
            self.put_state(room, "m.room.power_levels", content)?;
        }
        Ok(())
    }

    fn power_level(&mut self, channel: &ChannelRef, user: &str) -> Result<Option<i64>, ChatError> {
        let levels = self.state(&channel.id, "m.room.power_levels")?;
        Ok(Some(user_power(levels.as_ref(), user)))
    }

    fn reply(
        &mut self,
        channel: &ChannelRef,
        parent_id: &str,
        message: &ChatMessage,
    ) -> Result<String, ChatError> {
        let txn = txn_id(&channel.id, &reply_purpose(parent_id, message));
        let mut content = message_content(message);
        content["m.relates_to"] = json!({
            "rel_type": "m.thread",
            "event_id": parent_id,
            "is_falling_back": true,
            "m.in_reply_to": { "event_id": parent_id },
        });
        match self.send(&channel.id, &txn, content.clone()) {
            // A message inside a thread cannot start one: answer it as a plain reply.
            Err(ChatError::Permanent(m)) if m.starts_with("HTTP 400") => {
                content["m.relates_to"] = json!({ "m.in_reply_to": { "event_id": parent_id } });
                self.send(&channel.id, &format!("{txn}-plain"), content)
            }
            r => r,
        }
    }

    fn existing_channel(&mut self, id: &str) -> Result<ChannelRef, ChatError> {
        // Joining is a no-op when the bot is in the room, accepts a pending invite, and
        // resolves an alias in the same call.
        let room = self.join(id).map_err(|e| match e {
            ApiError::Refused(a) if a.code == "M_FORBIDDEN" || a.code == "M_NOT_FOUND" => {
                ChatError::Permanent(format!(
                    "stakeholder room {id} cannot be joined ({}: {}); invite the bot user to it or fix stakeholder_channel",
                    a.code, a.message
                ))
            }
            other => chat_error(other),
        })?;
        Ok(ChannelRef {
            id: room,
            name: id.to_string(),
            url: id.starts_with('#').then(|| matrix_to(id)),
        })
    }
}

/// A failed call, classified.
fn chat_error(e: ApiError) -> ChatError {
    e.into_chat("Matrix", classify)
}

/// What a Matrix error answer (`{"errcode": "M_…", "error": "…"}`) means for the delivery.
fn classify(r: &Refusal) -> ChatError {
    let what = if r.code.is_empty() {
        format!("HTTP {}", r.status)
    } else {
        format!("HTTP {} {}", r.status, r.code)
    };
    let detail = if r.message.is_empty() {
        what
    } else {
        format!("{what}: {}", r.message)
    };
    match (r.status, r.code.as_str()) {
        (429, _) | (_, "M_LIMIT_EXCEEDED") => ChatError::RateLimited(r.retry_after),
        (_, "M_UNKNOWN_TOKEN" | "M_MISSING_TOKEN") | (401, _) => ChatError::Permanent(format!(
            "the homeserver refused the access token ({detail}); set [matrix] access_token to a valid token of the bot user"
        )),
        (_, "M_FORBIDDEN") => ChatError::Permanent(format!(
            "not allowed ({detail}); the bot user must be in the room with enough power"
        )),
        (408 | 500..=599, _) => ChatError::Transient(detail),
        _ => ChatError::Permanent(detail),
    }
}

/// Reads a homeserver answer: a 2xx is the value, anything else the Matrix error.
fn read(resp: &Response, now: Timestamp) -> Result<Value, Refusal> {
    api::rest_answer(resp, now, "/errcode", "/error").map_err(|mut r| {
        r.message = one_line(&r.message, 200);
        // `retry_after_ms` in the body (older servers, and Synapse still sends it) wins over
        // the `Retry-After` header (newer spec versions).
        if let Some(ms) = r.body["retry_after_ms"].as_u64() {
            r.retry_after = Some(Duration::from_millis(ms).min(crate::http::MAX_RETRY_AFTER));
        }
        r
    })
}

fn state_path(room: &str, kind: &str) -> String {
    format!("/rooms/{}/state/{kind}", encode_component(room))
}

/// An alias localpart from a channel name: lowercase `a-z 0-9 . _ = -`, other characters
/// become `-`, runs of `-` collapse, and the length is bounded. (`/` is valid in aliases but
/// some proxies mangle an encoded slash in a path, so it is replaced too.)
pub fn alias_localpart(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '=') {
            c
        } else {
            '-'
        };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let mut out = out.trim_matches('-').to_string();
    out.truncate(MAX_LOCALPART);
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() {
        "incident".to_string()
    } else {
        out
    }
}

/// A matrix.to link people can click (`https://matrix.to/#/#alias:server`).
fn matrix_to(alias: &str) -> String {
    format!("https://matrix.to/#/{alias}")
}

/// A transaction id that is the same for every retry of one purpose in one room.
fn txn_id(room: &str, purpose: &str) -> String {
    format!("pi-{}-{purpose}", fnv1a_hex(room.as_bytes()))
}

/// What a post is, for its transaction id: the same on a retry of one intended message,
/// different for every other message in the room. The caller's `occasion` says which message
/// it is (an incident's post counter, a storm's start), so a second message with the same
/// text (an ilert state that changed the same way twice) is not taken for a retry and
/// dropped. Without one, the kind and headline tell messages apart, and the closing line is
/// once per room (its text shows a growing age).
fn post_purpose(m: &ChatMessage) -> String {
    let kind = match m.kind {
        MessageKind::Alert => "alert",
        MessageKind::Recovery => "recovery",
        MessageKind::Stakeholder => "note",
        MessageKind::Closing => "closing",
    };
    match (&m.occasion, m.kind) {
        (Some(o), _) => format!("{kind}-on-{}", fnv1a_hex(o.as_bytes())),
        (None, MessageKind::Closing) => kind.into(),
        (None, _) => format!("{kind}-{}", fnv1a_hex(m.title.as_bytes())),
    }
}

/// What an edit is, for its transaction id: its content, and the caller's occasion when it
/// names one. Content alone would make an edit back to an earlier content (acknowledged,
/// pending, acknowledged again) look like a retry of the first, and the homeserver would
/// drop it, leaving the message showing the state in between.
fn edit_purpose(content: &Value, m: &ChatMessage) -> String {
    let content = content.to_string();
    match &m.occasion {
        Some(o) => format!(
            "edit-on-{}",
            fnv1a_hex(format!("{o}\u{0}{content}").as_bytes())
        ),
        None => format!("edit-{}", fnv1a_hex(content.as_bytes())),
    }
}

/// What a reply is, for its transaction id: one per message replied to and occasion (or,
/// without one, headline), so answers to two commands with the same text both post.
fn reply_purpose(parent_id: &str, m: &ChatMessage) -> String {
    match &m.occasion {
        Some(o) => format!(
            "reply-on-{}",
            fnv1a_hex(format!("{parent_id}\u{0}{o}").as_bytes())
        ),
        None => format!(
            "reply-{}",
            fnv1a_hex(format!("{parent_id}\u{0}{}", m.title).as_bytes())
        ),
    }
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>"),
            c => out.push(c),
        }
    }
    out
}

/// The `formatted_body`: title, label/value list, links (only http(s) ones become links).
fn html_body(m: &ChatMessage) -> String {
    let mut html = format!("<p><strong>{}</strong></p>", escape_html(&m.title));
    if !m.fields.is_empty() {
        html.push_str("<ul>");
        for (k, v) in &m.fields {
            html.push_str(&format!(
                "<li><strong>{}:</strong> {}</li>",
                escape_html(k),
                escape_html(v)
            ));
        }
        html.push_str("</ul>");
    }
    if !m.links.is_empty() {
        let links: Vec<String> = m
            .links
            .iter()
            .map(|(text, url)| {
                if url.starts_with("https://") || url.starts_with("http://") {
                    format!("<a href=\"{}\">{}</a>", escape_html(url), escape_html(text))
                } else {
                    format!("{}: {}", escape_html(text), escape_html(url))
                }
            })
            .collect();
        html.push_str(&format!("<p>{}</p>", links.join(" | ")));
    }
    html
}

/// An `m.room.message` content: HTML plus the plain fallback.
fn message_content(m: &ChatMessage) -> Value {
    // Notices do not notify by default push rules; the closing line needs no one's attention.
    let msgtype = if m.kind == MessageKind::Closing {
        "m.notice"
    } else {
        "m.text"
    };
    let mut content = json!({
        "msgtype": msgtype,
        "body": plain_body(&m.text),
        "format": "org.matrix.custom.html",
        "formatted_body": html_body(m),
        // Intentional mentions (spec v1.7): we mention no one, so text from a monitored host
        // (`@room`, a user id) cannot ping anybody; servers then skip the keyword rules.
        "m.mentions": {},
    });
    if let Some(key) = &m.alert_of {
        content[ALERT_MARKER] = json!(key);
    }
    content
}

/// The content key that marks an incident's alert message with the incident key (custom
/// keys are namespaced, Java-package style: spec `appendices.md` §Common Namespaced
/// Identifier Grammar), so a server adopting the room finds the card.
pub const ALERT_MARKER: &str = "org.pandorafms.ilert.incident";

/// The sender of `ev` when it is incident `key`'s alert message (an original, not an edit).
fn card_sender<'v>(ev: &'v Value, key: &str) -> Option<&'v str> {
    let content = &ev["content"];
    let original = content["m.relates_to"]["rel_type"] != "m.replace";
    (ev["type"] == "m.room.message" && original && content[ALERT_MARKER] == key)
        .then(|| ev["sender"].as_str())
        .flatten()
}

/// The plain body with `@room` defused for homeservers and clients older than intentional
/// mentions (their `.m.rule.roomnotif` matches `@room` in the body): a word joiner after `@`.
fn plain_body(text: &str) -> String {
    text.replace("@room", "@\u{2060}room")
}

/// An edit of `original` (`m.replace`): clients show `m.new_content`; the outer body, marked
/// with `* `, is for clients that do not understand edits.
fn edit_content(original: &str, m: &ChatMessage) -> Value {
    let new = message_content(m);
    let mut outer = Map::new();
    outer.insert("msgtype".into(), new["msgtype"].clone());
    outer.insert("body".into(), json!(format!("* {}", plain_body(&m.text))));
    outer.insert("format".into(), json!("org.matrix.custom.html"));
    outer.insert(
        "formatted_body".into(),
        json!(format!("* {}", html_body(m))),
    );
    outer.insert("m.mentions".into(), json!({}));
    outer.insert("m.new_content".into(), new);
    outer.insert(
        "m.relates_to".into(),
        json!({ "rel_type": "m.replace", "event_id": original }),
    );
    Value::Object(outer)
}

/// The pinned-events content with `event_id` added, keeping other pins; `None` when it is
/// pinned already.
fn with_pin(current: Option<&Value>, event_id: &str) -> Option<Value> {
    let mut pins: Vec<Value> = current
        .and_then(|c| c["pinned"].as_array().cloned())
        .unwrap_or_default();
    if pins.iter().any(|p| p.as_str() == Some(event_id)) {
        return None;
    }
    pins.push(json!(event_id));
    Some(json!({ "pinned": pins }))
}

/// Power level given to invited responders: the level `m.room.topic`, `m.room.pinned_events`
/// and other state events need by default (`state_default` 50 in the `private_chat` and
/// `public_chat` presets), below the bot's 100 so they cannot take the room over.
const RESPONDER_LEVEL: i64 = 50;

/// Power levels with each of `users` raised to at least `RESPONDER_LEVEL`; `None` when
/// nothing changes (nobody is ever lowered).
fn with_responder_levels(current: &Value, users: &[String]) -> Option<Value> {
    let needed = RESPONDER_LEVEL;
    let mut levels = current.as_object().cloned().unwrap_or_default();
    let mut people = levels
        .get("users")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut changed = false;
    for u in users {
        if user_power(Some(current), u) < needed {
            people.insert(u.clone(), json!(needed));
            changed = true;
        }
    }
    levels.insert("users".into(), Value::Object(people));
    changed.then_some(Value::Object(levels))
}

/// A user's power level from an `m.room.power_levels` content: their entry in `users`, else
/// `users_default` (spec: both default to 0 when the room has no such event).
fn user_power(levels: Option<&Value>, user: &str) -> i64 {
    let Some(levels) = levels else { return 0 };
    levels["users"][user]
        .as_i64()
        .or_else(|| levels["users_default"].as_i64())
        .unwrap_or(0)
}

/// Power levels that let only level-100 users (the bot that created the room) send or change
/// anything; `None` when they already do.
fn read_only_power_levels(current: &Value) -> Option<Value> {
    let mut levels = current.as_object().cloned().unwrap_or_default();
    let mut changed = false;
    for key in ["events_default", "state_default", "invite"] {
        if levels.get(key).and_then(Value::as_i64).unwrap_or(0) < ARCHIVED_LEVEL {
            levels.insert(key.into(), json!(ARCHIVED_LEVEL));
            changed = true;
        }
    }
    if let Some(Value::Object(events)) = levels.get_mut("events") {
        for v in events.values_mut() {
            if v.as_i64().unwrap_or(0) < ARCHIVED_LEVEL {
                *v = json!(ARCHIVED_LEVEL);
                changed = true;
            }
        }
    }
    changed.then_some(Value::Object(levels))
}

/// The aliases named by an `m.room.canonical_alias` content.
fn aliases_of(content: &Value) -> Vec<String> {
    let mut out: Vec<String> = content["alias"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(alt) = content["alt_aliases"].as_array() {
        out.extend(alt.iter().filter_map(|a| a.as_str().map(str::to_string)));
    }
    out
}

/// A stored read position: a `/sync` `next_batch` (stored as `sync:<token>`), or a
/// `/messages` token stored by an earlier version.
#[derive(Debug, PartialEq, Eq)]
enum SyncCursor<'a> {
    Sync(&'a str),
    Legacy(&'a str),
}

impl<'a> SyncCursor<'a> {
    const PREFIX: &'static str = "sync:";
    fn parse(stored: &'a str) -> Self {
        match stored.strip_prefix(Self::PREFIX) {
            Some(t) => SyncCursor::Sync(t),
            None => SyncCursor::Legacy(stored),
        }
    }
    fn stored(next_batch: &str) -> String {
        format!("{}{next_batch}", Self::PREFIX)
    }
}

/// The `/sync` filter for reading one room's messages (spec `definitions/sync_filter.yaml`):
/// only that room's `m.room.message` timeline, up to a page of them; no state, ephemeral
/// events, presence or account data. (Redacted commands arrive without a body and are
/// skipped.)
fn room_sync_filter(room: &str) -> Value {
    json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "rooms": [room],
            "timeline": {"types": ["m.room.message"], "limit": HISTORY_PAGE},
            "state": {"types": [], "lazy_load_members": true},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    })
}

/// The `/sync` filter for `watch`'s wake-up: one message of any room is enough, unless the
/// bot sent it (`not_senders`, spec `definitions/room_event_filter.yaml`).
fn wake_filter(bot: &str) -> Value {
    json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": {"types": ["m.room.message"], "not_senders": [bot], "limit": 1},
            "state": {"types": [], "lazy_load_members": true},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    })
}

/// The `next_batch` of a sync answer (required by the spec).
fn next_batch(page: &Value) -> Result<String, ChatError> {
    page["next_batch"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ChatError::Transient("the homeserver answered /sync without a next_batch".into())
        })
}

/// The messages of one `/messages` page (in page order) and the token of the next page.
fn history_page(page: &Value, pinned: &HashSet<String>) -> (Vec<HistoryItem>, Option<String>) {
    let chunk = page["chunk"].as_array().cloned().unwrap_or_default();
    let mut items = Vec::new();
    for ev in &chunk {
        if ev["type"] != "m.room.message" {
            continue;
        }
        let content = &ev["content"];
        let text = if content["m.relates_to"]["rel_type"] == "m.replace" {
            let new = content["m.new_content"]["body"]
                .as_str()
                .unwrap_or_default();
            format!("{}{new}", super::EDIT_MARK)
        } else {
            content["body"].as_str().unwrap_or_default().to_string()
        };
        // A redacted message has no body left.
        if text.is_empty() {
            continue;
        }
        let id = ev["event_id"].as_str().unwrap_or_default().to_string();
        items.push(HistoryItem {
            at: Timestamp::from_millis(ev["origin_server_ts"].as_i64().unwrap_or(0)),
            author: ev["sender"].as_str().unwrap_or_default().to_string(),
            text,
            pinned: pinned.contains(&id),
            id,
        });
    }
    // The last page has no `end`, or (some servers) repeats an empty chunk.
    let next = page["end"]
        .as_str()
        .filter(|_| !chunk.is_empty())
        .map(str::to_string);
    (items, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: MessageKind) -> ChatMessage {
        ChatMessage {
            kind,
            title: "FIRING [Critical] web-01 / <CPU> & Load".into(),
            fields: vec![("Agent".into(), "web-01".into())],
            links: vec![
                (
                    "Pandora FMS agent".into(),
                    "http://pandora.example/index.php?a=1&b=\"2\"".into(),
                ),
                ("ilert alert".into(), "javascript:alert(1)".into()),
            ],
            text: "FIRING [Critical] web-01 / <CPU> & Load\nAgent: web-01".into(),
            alert_of: None,
            occasion: None,
        }
    }

    #[test]
    fn alias_localparts_keep_only_allowed_characters() {
        assert_eq!(
            alias_localpart("pandorafms_alert_6182268"),
            "pandorafms_alert_6182268"
        );
        assert_eq!(alias_localpart("Web-01 / CPU Load"), "web-01-cpu-load");
        assert_eq!(alias_localpart("drill-a:b#c"), "drill-a-b-c");
        assert_eq!(alias_localpart("x=1.2"), "x=1.2");
        assert_eq!(alias_localpart("--Ünïcode--"), "n-code");
        assert_eq!(alias_localpart("  "), "incident");
        assert_eq!(alias_localpart(&"a".repeat(500)).len(), MAX_LOCALPART);
    }

    #[test]
    fn html_is_escaped_and_only_web_links_are_links() {
        let html = html_body(&msg(MessageKind::Alert));
        assert!(
            html.starts_with(
                "<p><strong>FIRING [Critical] web-01 / &lt;CPU&gt; &amp; Load</strong></p>"
            ),
            "{html}"
        );
        assert!(
            html.contains("<li><strong>Agent:</strong> web-01</li>"),
            "{html}"
        );
        assert!(
            html.contains("<a href=\"http://pandora.example/index.php?a=1&amp;b=&quot;2&quot;\">Pandora FMS agent</a>"),
            "{html}"
        );
        assert!(html.contains("ilert alert: javascript:alert(1)"), "{html}");
        assert!(!html.contains("href=\"javascript"), "{html}");
    }

    #[test]
    fn messages_carry_html_and_the_plain_fallback() {
        let c = message_content(&msg(MessageKind::Alert));
        assert_eq!(c["msgtype"], "m.text");
        assert_eq!(c["format"], "org.matrix.custom.html");
        assert_eq!(c["body"], msg(MessageKind::Alert).text);
        assert_eq!(
            message_content(&msg(MessageKind::Closing))["msgtype"],
            "m.notice"
        );
    }

    #[test]
    fn an_edit_replaces_the_original_with_new_content() {
        let m = msg(MessageKind::Alert);
        let e = edit_content("$orig", &m);
        assert_eq!(e["m.relates_to"]["rel_type"], "m.replace");
        assert_eq!(e["m.relates_to"]["event_id"], "$orig");
        assert_eq!(e["m.new_content"]["body"], m.text);
        assert_eq!(e["m.new_content"]["formatted_body"], html_body(&m));
        assert!(e["m.new_content"].get("m.relates_to").is_none());
        assert_eq!(e["body"], format!("* {}", m.text));
    }

    #[test]
    fn transaction_ids_are_stable_per_room_and_message() {
        let a = txn_id("!room:localhost", "alert");
        assert_eq!(a, txn_id("!room:localhost", "alert"));
        assert_ne!(a, txn_id("!other:localhost", "alert"));
        assert_ne!(a, txn_id("!room:localhost", "recovery"));
        assert!(a.starts_with("pi-") && a.ends_with("-alert"), "{a}");

        // A retry of the same post: same purpose, even if the details moved on meanwhile.
        let alert = msg(MessageKind::Alert);
        let mut later = alert.clone();
        later.fields.push(("Times fired".into(), "2".into()));
        later.text.push_str("\nTimes fired: 2");
        assert_eq!(post_purpose(&alert), post_purpose(&later));
        // Two storms' summaries in one room are two messages.
        let mut next_storm = alert.clone();
        next_storm.title = "ALERT STORM on route 'default' since 2026-11-24 09:00:00 UTC".into();
        assert_ne!(post_purpose(&alert), post_purpose(&next_storm));
        assert_ne!(
            post_purpose(&alert),
            post_purpose(&msg(MessageKind::Recovery))
        );
        let mut closing = msg(MessageKind::Closing);
        let before = post_purpose(&closing);
        closing.title = "Archiving this channel: resolved 8d ago".into();
        assert_eq!(post_purpose(&closing), before);
    }

    /// The same line twice (ilert acknowledged, pending, acknowledged again) is two messages
    /// when the caller names two occasions; a retry of one occasion is one message, whatever
    /// its details; replies follow the occasion, or the message replied to and the headline.
    #[test]
    fn transaction_ids_follow_the_occasion_not_the_text() {
        let line = |occasion: &str| msg(MessageKind::Stakeholder).on(occasion);
        let room = "!room:localhost";
        let post = |m: &ChatMessage| txn_id(room, &post_purpose(m));
        assert_ne!(post(&line("7/1#3 ilert")), post(&line("7/1#4 ilert")));
        assert_eq!(post(&line("7/1#3 ilert")), post(&line("7/1#3 ilert")));
        // Same occasion, different kind: two messages (a step that posts at a count another
        // step's unrecorded post took).
        let mut rec = line("7/1#3 ilert");
        rec.kind = MessageKind::Recovery;
        assert_ne!(post(&line("7/1#3 ilert")), post(&rec));
        // With an occasion the headline is not part of the id: a retried card that shows a
        // later state is still the one card.
        let mut moved = line("7/1#3 alert");
        moved.title = "RESOLVED [Critical] web-01 / CPU Load".into();
        assert_eq!(post(&line("7/1#3 alert")), post(&moved));
        // The fallback without an occasion is the headline, and a different id space.
        let plain = msg(MessageKind::Stakeholder);
        assert_ne!(post(&plain), post(&line("")));
        assert_eq!(post(&plain), post(&plain.clone()));

        // Replies: two commands with the same answer are two replies; one command's
        // answer retried is one.
        let answer = msg(MessageKind::Stakeholder);
        assert_ne!(
            reply_purpose("$cmd1", &answer),
            reply_purpose("$cmd2", &answer)
        );
        assert_eq!(
            reply_purpose("$cmd1", &answer),
            reply_purpose("$cmd1", &answer.clone())
        );
        assert_ne!(
            reply_purpose("$cmd1", &answer.clone().on("a")),
            reply_purpose("$cmd1", &answer.clone().on("b"))
        );
    }

    /// An edit back to an earlier content is a new edit when its occasion is new; one edit
    /// retried is one.
    #[test]
    fn an_edit_back_to_an_earlier_content_gets_its_own_transaction() {
        let card = msg(MessageKind::Alert);
        let content = edit_content("$orig", &card);
        let first = edit_purpose(&content, &card.clone().on("7/1#2 edit"));
        assert_eq!(
            first,
            edit_purpose(&content, &card.clone().on("7/1#2 edit"))
        );
        assert_ne!(
            first,
            edit_purpose(&content, &card.clone().on("7/1#4 edit"))
        );
        let mut recovered = msg(MessageKind::Alert);
        recovered.text = "RESOLVED [Critical] web-01 / CPU Load".into();
        let other = edit_content("$orig", &recovered);
        assert_ne!(first, edit_purpose(&other, &card.clone().on("7/1#2 edit")));
        assert_eq!(
            edit_purpose(&content, &card),
            edit_purpose(&content, &card.clone())
        );
    }

    #[test]
    fn pins_merge_and_pinning_twice_changes_nothing() {
        assert_eq!(with_pin(None, "$a"), Some(json!({"pinned": ["$a"]})));
        let cur = json!({"pinned": ["$x"]});
        assert_eq!(
            with_pin(Some(&cur), "$a"),
            Some(json!({"pinned": ["$x", "$a"]}))
        );
        assert_eq!(with_pin(Some(&json!({"pinned": ["$a"]})), "$a"), None);
    }

    #[test]
    fn a_users_power_level_falls_back_to_users_default_then_zero() {
        let levels = json!({"users": {"@a:s": 50}, "users_default": 10});
        assert_eq!(user_power(Some(&levels), "@a:s"), 50);
        assert_eq!(user_power(Some(&levels), "@b:s"), 10);
        assert_eq!(user_power(Some(&json!({"users": {}})), "@b:s"), 0);
        assert_eq!(user_power(None, "@b:s"), 0);
    }

    #[test]
    fn responders_get_the_level_to_pin_and_set_the_topic_once() {
        let cur =
            json!({"users": {"@bot:s": 100}, "state_default": 50, "events": {"m.room.topic": 50}});
        let users = vec!["@a:s".to_string(), "@bot:s".to_string()];
        let new = with_responder_levels(&cur, &users).unwrap();
        assert_eq!(new["users"]["@a:s"], 50);
        assert_eq!(new["users"]["@bot:s"], 100, "never lowered");
        assert_eq!(new["state_default"], 50, "other keys kept");
        assert_eq!(with_responder_levels(&new, &users), None);
    }

    #[test]
    fn archived_power_levels_leave_only_level_100() {
        let cur = json!({"events": {"m.room.name": 50, "m.room.tombstone": 150},
                         "events_default": 0, "state_default": 50, "invite": 0,
                         "users": {"@bot:x": 100}, "kick": 50});
        let ro = read_only_power_levels(&cur).unwrap();
        assert_eq!(ro["events_default"], 100);
        assert_eq!(ro["state_default"], 100);
        assert_eq!(ro["invite"], 100);
        assert_eq!(ro["events"]["m.room.name"], 100);
        assert_eq!(ro["events"]["m.room.tombstone"], 150);
        assert_eq!(ro["users"], json!({"@bot:x": 100}));
        assert_eq!(ro["kick"], 50);
        assert_eq!(read_only_power_levels(&ro), None);
    }

    #[test]
    fn errors_map_to_outbox_dispositions() {
        let now = Timestamp::from_millis(0);
        let err = |status, body: Value| {
            api::answer(
                &Response::new(status, body.to_string()),
                now,
                "[matrix] homeserver",
                read,
            )
            .map_err(chat_error)
            .unwrap_err()
        };
        assert_eq!(
            err(
                429,
                json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too Many Requests", "retry_after_ms": 2500})
            ),
            ChatError::RateLimited(Some(Duration::from_millis(2500)))
        );
        let header = Response {
            retry_after: Some("7".into()),
            ..Response::new(429, "{}")
        };
        assert_eq!(
            chat_error(api::answer(&header, now, "[matrix] homeserver", read).unwrap_err()),
            ChatError::RateLimited(Some(Duration::from_secs(7)))
        );
        for code in ["M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"] {
            let e = err(
                401,
                json!({"errcode": code, "error": "Invalid access token passed."}),
            );
            assert!(
                matches!(&e, ChatError::Permanent(m) if m.contains("access_token")),
                "{e:?}"
            );
        }
        assert!(matches!(
            err(403, json!({"errcode": "M_FORBIDDEN", "error": "no"})),
            ChatError::Permanent(m) if m.contains("enough power")
        ));
        let bad_gateway = Response::new(502, "<html>Bad gateway</html>");
        assert!(matches!(
            chat_error(api::answer(&bad_gateway, now, "[matrix] homeserver", read).unwrap_err()),
            ChatError::Transient(m) if m.contains("502") && m.contains("Bad gateway")
        ));
    }

    #[test]
    fn history_pages_keep_messages_and_mark_edits_and_pins() {
        let page = json!({
            "chunk": [
                {"type": "m.room.message", "event_id": "$e", "sender": "@bot:x", "origin_server_ts": 3000,
                 "content": {"body": "* new", "m.new_content": {"body": "new"},
                             "m.relates_to": {"rel_type": "m.replace", "event_id": "$a"}}},
                {"type": "m.room.topic", "event_id": "$t", "sender": "@bot:x", "origin_server_ts": 2000,
                 "content": {"topic": "FIRING"}},
                {"type": "m.room.message", "event_id": "$r", "sender": "@alice:x", "origin_server_ts": 1500,
                 "content": {}},
                {"type": "m.room.message", "event_id": "$a", "sender": "@bot:x", "origin_server_ts": 1000,
                 "content": {"body": "FIRING web-01"}}
            ],
            "start": "s1", "end": "s2"
        });
        let pinned: HashSet<String> = ["$a".to_string()].into();
        let (items, next) = history_page(&page, &pinned);
        assert_eq!(next.as_deref(), Some("s2"));
        let got: Vec<(&str, &str, bool)> = items
            .iter()
            .map(|i| (i.id.as_str(), i.text.as_str(), i.pinned))
            .collect();
        assert_eq!(
            got,
            [("$e", "(edit) new", false), ("$a", "FIRING web-01", true)]
        );
        assert_eq!(items[1].at, Timestamp::from_millis(1000));
        assert_eq!(items[1].author, "@bot:x");
        let (_, last) = history_page(&json!({"chunk": [], "start": "s2"}), &pinned);
        assert_eq!(last, None);
    }

    #[test]
    fn read_positions_from_sync_are_told_from_older_messages_tokens() {
        let stored = SyncCursor::stored("s72594_4483_1934");
        assert_eq!(stored, "sync:s72594_4483_1934");
        assert_eq!(
            SyncCursor::parse(&stored),
            SyncCursor::Sync("s72594_4483_1934")
        );
        assert_eq!(
            SyncCursor::parse("t47-1234_0_0"),
            SyncCursor::Legacy("t47-1234_0_0")
        );
        let f = room_sync_filter("!r:s");
        assert_eq!(f["room"]["rooms"], json!(["!r:s"]));
        assert_eq!(f["room"]["timeline"]["types"], json!(["m.room.message"]));
        assert_eq!(f["room"]["state"]["types"], json!([]));
        assert!(next_batch(&json!({"next_batch": ""})).is_err());
        assert_eq!(next_batch(&json!({"next_batch": "s1"})).unwrap(), "s1");
    }

    #[test]
    fn canonical_alias_lists_main_and_alternative_aliases() {
        let c = json!({"alias": "#a:x", "alt_aliases": ["#b:x"]});
        assert_eq!(aliases_of(&c), ["#a:x", "#b:x"]);
        assert!(aliases_of(&json!({})).is_empty());
    }

    proptest::proptest! {
        #![proptest_config(crate::http::arbitrary::config(1000))]

        /// Any homeserver answer: no panic; success only on a 2xx; a redirect is a
        /// configuration error naming `[matrix] homeserver`.
        #[test]
        fn any_answer_is_classified(r in crate::http::arbitrary::answer()) {
            match api::answer(&r, Timestamp::from_millis(0), "[matrix] homeserver", read) {
                Ok(_) => proptest::prop_assert!((200..=299).contains(&r.status)),
                Err(f) => {
                    let e = chat_error(f);
                    if (300..=399).contains(&r.status) {
                        proptest::prop_assert!(matches!(e, ChatError::Permanent(ref m) if m.contains("[matrix] homeserver")), "{:?}", e);
                    }
                    if let ChatError::RateLimited(Some(d)) = e {
                        proptest::prop_assert!(d <= crate::http::MAX_RETRY_AFTER);
                    }
                }
            }
        }
    }

    #[test]
    fn no_message_can_ping_the_room() {
        let m = ChatMessage::build(
            MessageKind::Alert,
            "FIRING @room web-01".into(),
            vec![("Agent".into(), "@room".into())],
            Vec::new(),
        );
        let c = message_content(&m);
        assert_eq!(c["m.mentions"], json!({}));
        assert!(!c["body"].as_str().unwrap().contains("@room"));
        let e = edit_content("$orig", &m);
        assert_eq!(e["m.mentions"], json!({}));
        assert_eq!(e["m.new_content"]["m.mentions"], json!({}));
        assert!(!e["body"].as_str().unwrap().contains("@room"));
    }
}
