//! Chat incident channels: one small trait per platform (`ChatBackend`), one way to call the
//! platforms' APIs (`api`), and `sync`, which brings an incident's channel in line with its
//! record one idempotent step at a time. Chat deliveries are their own outbox lane per backend, so a chat
//! outage never delays the ilert event.

pub mod api;
pub mod entra;
pub mod matrix;
pub mod message;
pub mod slack;
pub mod storm;
pub mod sync;
pub mod teams;
pub mod teams_bot;

use std::fmt;
use std::time::Duration;

use crate::config::{ChatPlatform, Config};
use crate::deadline::Deadline;
use crate::http::{Http, TransportError};
use crate::store::Store;
use crate::time::Timestamp;

pub use message::ChatMessage;
pub use sync::sync;

/// What a backend can do; the sync skips what a platform cannot (e.g. a Teams webhook can only
/// post).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Create a channel per incident (else `open_channel` returns a fixed channel).
    pub create: bool,
    /// Edit a posted message.
    pub update: bool,
    /// Pin a message.
    pub pin: bool,
    /// Set a topic.
    pub topic: bool,
    /// Invite users.
    pub invite: bool,
    /// Archive a channel.
    pub archive: bool,
    /// Read history back.
    pub history: bool,
}

impl Capabilities {
    /// Everything (Slack, Matrix).
    pub const ALL: Capabilities = Capabilities {
        create: true,
        update: true,
        pin: true,
        topic: true,
        invite: true,
        archive: true,
        history: true,
    };
    /// Posting only (a Teams webhook).
    pub const POST_ONLY: Capabilities = Capabilities {
        create: false,
        update: false,
        pin: false,
        topic: false,
        invite: false,
        archive: false,
        history: false,
    };
}

/// The channel to open for an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelSpec {
    /// Name from the template, not yet sanitised for the platform.
    pub name: String,
    /// Private (invite only).
    pub private: bool,
    /// Initial topic.
    pub topic: String,
    /// A description / purpose line.
    pub description: String,
}

/// An opened channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelRef {
    /// Platform id (Slack `C…`, Matrix `!room:server`, Teams `19:…`).
    pub id: String,
    /// Name as the platform has it.
    pub name: String,
    /// Link for people, if known.
    pub url: Option<String>,
}

/// One message read back from a channel (for the timeline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryItem {
    /// When it was posted.
    pub at: Timestamp,
    /// Author (user id or display name).
    pub author: String,
    /// Text.
    pub text: String,
    /// Pinned now.
    pub pinned: bool,
    /// Platform message id.
    pub id: String,
}

/// An incident's alert message found in a channel adopted from another Pandora server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostedAlert {
    /// Platform message id (Slack `ts`, Matrix event id).
    pub id: String,
    /// Pinned in the channel already.
    pub pinned: bool,
}

/// A chat API failure, classified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatError {
    /// 429 / rate-limit codes; `after` is the platform's own wait.
    RateLimited(Option<Duration>),
    /// Worth retrying (5xx, `internal_error`, …).
    Transient(String),
    /// No answer (timeout, refused).
    Transport(TransportError),
    /// Will not work as is (bad token, missing scope, channel gone): dead letter.
    Permanent(String),
    /// The message to edit or pin no longer exists (someone deleted it): `sync` posts the
    /// alert message anew and repoints the record at it. Backends that cannot tell never
    /// return it.
    MessageGone(String),
}

impl fmt::Display for ChatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChatError::RateLimited(Some(d)) => {
                write!(f, "rate limited (retry after {}s)", d.as_secs())
            }
            ChatError::RateLimited(None) => f.write_str("rate limited"),
            ChatError::Transient(m) => write!(f, "temporary failure: {m}"),
            ChatError::Transport(e) => write!(f, "{e}"),
            ChatError::Permanent(m) => f.write_str(m),
            ChatError::MessageGone(m) => write!(f, "message gone: {m}"),
        }
    }
}

impl From<TransportError> for ChatError {
    fn from(e: TransportError) -> Self {
        ChatError::Transport(e)
    }
}

/// One chat platform. Implementations are thin: one method, one or two API calls.
pub trait ChatBackend {
    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;
    /// Makes a channel name valid for the platform (length, characters).
    fn sanitize_name(&self, name: &str) -> String;
    /// Creates the channel, or finds the one an earlier run (or another server) created under
    /// the same name; never creates a second.
    fn open_channel(&mut self, spec: &ChannelSpec) -> Result<ChannelRef, ChatError>;
    /// The alert message of incident `key` that is already in `channel` when the last
    /// `open_channel` adopted a channel this server did not create (another Pandora server,
    /// with its own store, created it and posted the card): found by the marker the card
    /// carries (`ChatMessage::alert_of`) and posted by this bot, so it can be edited in place.
    /// `Ok(None)` without a request when `open_channel` created the channel (the normal
    /// path), when no such message is there, and where the platform cannot look (default).
    fn posted_alert(
        &mut self,
        channel: &ChannelRef,
        key: &str,
    ) -> Result<Option<PostedAlert>, ChatError> {
        let _ = (channel, key);
        Ok(None)
    }
    /// Posts a message; returns its id.
    fn post(&mut self, channel: &ChannelRef, message: &ChatMessage) -> Result<String, ChatError>;
    /// Why this posted message cannot be edited, when the platform took it in a form that
    /// cannot be (a Teams card the bot could not post, sent through the webhook); `None` when
    /// `update` can edit it.
    fn uneditable(&self, message_id: &str) -> Option<&'static str> {
        let _ = message_id;
        None
    }
    /// Replaces a posted message's content.
    fn update(
        &mut self,
        channel: &ChannelRef,
        message_id: &str,
        message: &ChatMessage,
    ) -> Result<(), ChatError>;
    /// Pins a message (already pinned is success).
    fn pin(&mut self, channel: &ChannelRef, message_id: &str) -> Result<(), ChatError>;
    /// Sets the topic.
    fn set_topic(&mut self, channel: &ChannelRef, topic: &str) -> Result<(), ChatError>;
    /// Invites users (already a member is success).
    fn invite(&mut self, channel: &ChannelRef, users: &[String]) -> Result<(), ChatError>;
    /// Archives the channel (already archived is success).
    fn archive(&mut self, channel: &ChannelRef) -> Result<(), ChatError>;
    /// Reads the whole history, oldest first.
    fn history(&mut self, channel: &ChannelRef) -> Result<Vec<HistoryItem>, ChatError>;
    /// Messages newer than `cursor` (a platform position returned by an earlier call), oldest
    /// first, with the cursor to pass next time. With no cursor: the latest page. Used to read
    /// `!incident` reports and `!ack` / `!resolve` commands.
    fn read_new(
        &mut self,
        channel: &ChannelRef,
        cursor: Option<&str>,
    ) -> Result<(Vec<HistoryItem>, Option<String>), ChatError> {
        let _ = (channel, cursor);
        Err(ChatError::Permanent(
            "this backend cannot read messages".into(),
        ))
    }
    /// Replies to a message in its thread (platforms without threads post to the channel).
    fn reply(
        &mut self,
        channel: &ChannelRef,
        parent_id: &str,
        message: &ChatMessage,
    ) -> Result<String, ChatError> {
        let _ = parent_id;
        self.post(channel, message)
    }
    /// Posts a follow-up to the incident's alert message (recovery, paging and closing lines):
    /// a reply in its thread where the platform keeps incident updates there (a Teams bot),
    /// else a new message in the channel.
    fn follow_up(
        &mut self,
        channel: &ChannelRef,
        alert_message_id: Option<&str>,
        message: &ChatMessage,
    ) -> Result<String, ChatError> {
        let _ = alert_message_id;
        self.post(channel, message)
    }
    /// Withdraws the invitations of `users` who never joined (archiving: a pending invite to
    /// a closed room is noise); a no-op where invites cannot be pending (Slack adds members at
    /// once).
    fn withdraw_invites(
        &mut self,
        channel: &ChannelRef,
        users: &[String],
    ) -> Result<(), ChatError> {
        let _ = (channel, users);
        Ok(())
    }
    /// Lets invited responders pin messages and set the topic where the platform restricts
    /// it (Matrix: power level 50); a no-op where everyone may (Slack).
    fn empower(&mut self, channel: &ChannelRef, users: &[String]) -> Result<(), ChatError> {
        let _ = (channel, users);
        Ok(())
    }
    /// A user's power level in the channel, for platforms that have levels (Matrix); `None`
    /// where there are none.
    fn power_level(&mut self, channel: &ChannelRef, user: &str) -> Result<Option<i64>, ChatError> {
        let _ = (channel, user);
        Ok(None)
    }
    /// The members of a user group (Slack `usergroups.users.list`), for `chatops_allow_groups`;
    /// `None` where the platform has no user groups.
    fn group_members(&mut self, group: &str) -> Result<Option<Vec<String>>, ChatError> {
        let _ = group;
        Ok(None)
    }
    /// A reference to an existing channel given by id in the config (stakeholder channel).
    fn existing_channel(&mut self, id: &str) -> Result<ChannelRef, ChatError> {
        Ok(ChannelRef {
            id: id.to_string(),
            name: id.to_string(),
            url: None,
        })
    }
}

/// What a chat delivery may use.
pub struct Context<'a> {
    /// Configuration.
    pub config: &'a Config,
    /// The store (to persist channel ids after each successful call).
    pub store: &'a Store,
    /// HTTP client.
    pub http: &'a Http,
    /// Run deadline.
    pub deadline: Deadline,
    /// Current time.
    pub now: Timestamp,
}

/// Builds the backend of `platform` from its config section.
pub fn backend<'a>(
    platform: ChatPlatform,
    ctx: &'a Context<'a>,
) -> Result<Box<dyn ChatBackend + 'a>, String> {
    let missing = || {
        format!(
            "chat backend '{platform}' has no [{platform}] section in {}",
            ctx.config.path.display()
        )
    };
    Ok(match platform {
        ChatPlatform::Slack => {
            let cfg = ctx.config.slack.as_ref().ok_or_else(missing)?;
            Box::new(slack::Slack::new(cfg, ctx))
        }
        ChatPlatform::Teams => {
            let cfg = ctx.config.teams.as_ref().ok_or_else(missing)?;
            Box::new(teams::Teams::new(cfg, ctx))
        }
        ChatPlatform::Matrix => {
            let cfg = ctx.config.matrix.as_ref().ok_or_else(missing)?;
            Box::new(matrix::Matrix::new(cfg, ctx))
        }
    })
}

/// Shortens a channel name to `max` characters; a cut name ends in a hash of the whole name,
/// so two long names that differ only at the end stay different.
pub fn shorten_name(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        return name.to_string();
    }
    let hash = &crate::text::fnv1a_hex(name.as_bytes())[..8];
    let keep = max.saturating_sub(hash.len() + 1);
    let head: String = name.chars().take(keep).collect();
    format!("{}-{hash}", head.trim_end_matches(['-', '_', ' ', '.']))
}

/// The alternative names to try when a name is taken by a channel that is not this
/// incident's: deterministic (so two servers racing on the same incident agree), and kept
/// inside `max` characters.
pub fn alternative_names(name: &str, seed: &str, max: usize) -> Vec<String> {
    let hash = &crate::text::fnv1a_hex(seed.as_bytes())[..6];
    let mut out = vec![name.to_string()];
    for n in 1..=3 {
        let tail = if n == 1 {
            format!("-{hash}")
        } else {
            format!("-{hash}-{n}")
        };
        let keep = max.saturating_sub(tail.chars().count());
        let head: String = name.chars().take(keep).collect();
        out.push(format!("{head}{tail}"));
    }
    out
}

impl std::error::Error for ChatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ChatError::Transport(e) => Some(e),
            _ => None,
        }
    }
}
