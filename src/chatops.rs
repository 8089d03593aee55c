//! ChatOps read back from chat during each plugin run and each `pandora-ilert watch` pass:
//! - intake channels: a message starting with the route's prefix (`!incident database is slow`)
//!   becomes an ilert alert on that route, and the reporter gets a reply in thread with the
//!   incident channel;
//! - incident channels: `!ack`, `!resolve`, `!note`, `!status`, `!help`; ACCEPT / RESOLVE go to
//!   ilert attributed to the person who typed them, each command is answered in thread;
//! - storm channels: `!open KEY` gives a summarised incident its own channel now; after a storm
//!   the ones still open get theirs (`open_after_storms`).
//!
//! Only the route's responders act (`may_act`: invitees, `chatops_allow`, Slack
//! `chatops_allow_groups`, Matrix `chatops_min_power`). Read positions (Matrix: a `/sync`
//! `next_batch`; Slack: a `ts`) are kept in the store (intake and storm: `meta/`, incidents:
//! their chat state, committed with the commands they read), so no message is acted on twice;
//! Slack reads are paced to stay within Tier 3; parsing and decisions are pure.

use std::time::Duration;

use serde_json::json;

use crate::chat::message::ACKED_BY;
use crate::chat::{self, ChannelRef, ChatBackend, ChatMessage, Context, HistoryItem};
use crate::config::{ChatPlatform, ChatRoute, Config, IlertApi, Route};
use crate::deadline::Deadline;
use crate::delivery::Deliverer;
use crate::http::Http;
use crate::ilert::{IlertEvent, IlertEventType};
use crate::incident::{Incident, IncidentState};
use crate::lifecycle::{chat_action, Action, ChatChange};
use crate::pandora::{Alert, AlertInput};
use crate::store::{Durability, EventKind, EventLogLine, LockError, OutboxEntry, Store};
use crate::text::fnv1a_hex;
use crate::time::Timestamp;

/// On the first read of a channel, messages older than this are history, not requests.
pub const FIRST_READ_WINDOW: Duration = Duration::from_secs(600);

/// Slack's `conversations.history` is Tier 3, "50+ per minute" per method, app and workspace
/// (docs.slack.dev/apis/web-api/rate-limits): every reader together (watchers, plugin runs)
/// reads a Slack channel again only after `channels × 1.25 s`, so the reads of all channels
/// add up to at most 48 a minute, spread over the minute rather than in bursts. Pure.
pub fn slack_read_spacing(channels: usize) -> Duration {
    Duration::from_millis(channels as u64 * 1250)
}

/// Whether a channel last read at `last` is due again. Pure.
fn read_due(last: Option<Timestamp>, spacing: Duration, now: Timestamp) -> bool {
    last.is_none_or(|t| now.since(t) >= spacing || t.millis() > now.millis())
}

/// Incident chat state key: when the channel was last read (Slack pacing).
const READ_AT: &str = "read_at";

/// For a channel whose last read is kept in `meta/<name>` (intake and storm channels): whether
/// it is due (always outside Slack), and if so records this read.
fn channel_due(ctx: &Context<'_>, backend: ChatPlatform, name: &str, spacing: Duration) -> bool {
    if backend != ChatPlatform::Slack {
        return true;
    }
    let name = crate::store::encode_key(name);
    let last = ctx
        .store
        .read_meta(&name)
        .and_then(|t| t.parse().ok())
        .map(Timestamp::from_millis);
    if !read_due(last, spacing, ctx.now) {
        return false;
    }
    ctx.store.write_meta(&name, &ctx.now.millis().to_string());
    true
}

/// A command typed in an incident channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `!help`: what the commands are.
    Help,
    /// `!status`: state, who acknowledged, the ilert link, age.
    Status,
    /// `!note TEXT`: a key note for the timeline.
    Note(String),
    /// `!ack [note]`: acknowledge in ilert.
    Ack(String),
    /// `!resolve [note]`: resolve in ilert.
    Resolve(String),
}

impl Command {
    /// True for commands that change something (and so need authority).
    pub fn acts(&self) -> bool {
        !matches!(self, Command::Help | Command::Status)
    }
}

/// The answer to `!help`.
pub const HELP: &str = "Commands in this channel: !ack [note] acknowledges in ilert; \
     !resolve [note] resolves in ilert; !note TEXT adds a key note to the timeline; \
     !status shows the state, who acknowledged, the ilert link and the age; !help shows this. \
     Only this incident's responders may use !ack, !resolve and !note.";

/// Parses a command (case-insensitive word, optional text after a space). An edit of a message
/// (Matrix shows it as `(edit) …`) is not a command: the original was the one to act on.
pub fn parse_command(text: &str) -> Option<Command> {
    let t = text.trim();
    let (word, note) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    let note = note.trim().to_string();
    match word.to_ascii_lowercase().as_str() {
        "!help" => Some(Command::Help),
        "!status" => Some(Command::Status),
        "!note" => Some(Command::Note(note)),
        "!ack" | "!acknowledge" => Some(Command::Ack(note)),
        "!resolve" | "!resolved" => Some(Command::Resolve(note)),
        _ => None,
    }
}

/// The key named by `!open KEY` typed in a storm channel. Pure.
pub fn parse_open(text: &str) -> Option<&str> {
    let mut words = text.split_whitespace();
    let word = words.next()?;
    word.eq_ignore_ascii_case("!open")
        .then(|| words.next())
        .flatten()
}

/// The answer to `!status`. Pure.
pub fn status_line(incident: &Incident, acked_by: Option<&str>, now: Timestamp) -> String {
    let mut s = if incident.is_open() {
        format!(
            "FIRING for {}",
            crate::time::human_duration(now.since(incident.opened_at))
        )
    } else {
        let at = incident.resolved_at.unwrap_or(incident.last_seen);
        format!(
            "RESOLVED after {}",
            crate::time::human_duration(at.since(incident.opened_at))
        )
    };
    s.push_str(&format!(
        ": {} ({} firing(s), opened {})",
        incident.first.subject(),
        incident.times_fired,
        incident.opened_at
    ));
    let acked = acked_by.map(str::to_string).or_else(|| {
        incident
            .ilert_mirror
            .as_ref()
            .and_then(|m| m.accepted_by.clone())
    });
    match acked {
        Some(who) => s.push_str(&format!("; acknowledged by {who}")),
        None if incident.is_open() => s.push_str("; not acknowledged"),
        None => {}
    }
    match &incident.ilert_alert {
        Some(link) => s.push_str(&format!("; ilert: {link}")),
        None => s.push_str(&format!("; ilert alert key {}", incident.key)),
    }
    if incident.drill {
        s.push_str(" (a drill)");
    }
    s.push('.');
    s
}

/// The report text after the route's prefix, if the message is a report.
pub fn parse_report(text: &str, prefix: &str) -> Option<String> {
    let t = text.trim();
    let head = t.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = t[prefix.len()..].trim();
    let starts_clean = t[prefix.len()..]
        .chars()
        .next()
        .is_none_or(char::is_whitespace);
    (starts_clean && !rest.is_empty()).then(|| rest.to_string())
}

/// Splits a leading Pandora severity word (`critical`, `major`, `minor`, `warning`, `normal`,
/// `informational`/`info`, `maintenance`) off a report: `!incident minor db slow`. Pure.
pub fn split_severity(report: &str) -> (Option<&'static str>, &str) {
    let (word, rest) = report
        .split_once(char::is_whitespace)
        .unwrap_or((report, ""));
    let word = word
        .trim_matches(|c| c == '[' || c == ']')
        .to_ascii_lowercase();
    let word = if word == "info" {
        "informational".into()
    } else {
        word
    };
    match crate::pandora::SEVERITY_NAMES
        .iter()
        .find(|n| n.eq_ignore_ascii_case(&word))
    {
        Some(name) if !rest.trim().is_empty() => (Some(name), rest.trim()),
        _ => (None, report),
    }
}

/// What a poll pass did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// `!incident` reports turned into alerts.
    pub reports: usize,
    /// `!ack` / `!resolve` obeyed.
    pub commands: usize,
    /// Problems (one line each).
    pub errors: Vec<String>,
}

/// Opens an incident from a chat report through the normal alert path.
pub type OpenIncident<'a> = dyn FnMut(Alert, &str) -> Option<Incident> + 'a;

/// Reads every intake channel and every open incident channel once; `paced` (the watcher's
/// passes) reads a Slack channel only when `slack_read_spacing` has passed since any reader
/// last read it. The plugin, every few minutes, reads them all.
pub fn poll(
    config: &Config,
    store: &Store,
    http: &Http,
    deadline: Deadline,
    paced: bool,
    open_incident: &mut OpenIncident<'_>,
) -> Report {
    let mut report = Report::default();
    let now = Timestamp::now();
    let ctx = Context {
        config,
        store,
        http,
        deadline,
        now,
    };
    // Commands are read in the channels of open incidents (the `open/` index: the cost does
    // not grow with the closed incidents the store keeps), and only when some route takes
    // commands: without one, no record needs reading at all.
    let any_commands = config
        .routes
        .iter()
        .any(|r| r.chat.as_ref().is_some_and(|c| c.commands));
    let open = if any_commands {
        store.open_incidents()
    } else {
        Vec::new()
    };
    let slack_channels = config
        .routes
        .iter()
        .filter(|r| {
            r.chat
                .as_ref()
                .is_some_and(|c| c.backend == ChatPlatform::Slack && c.intake_channel.is_some())
        })
        .count()
        + open
            .iter()
            .filter(|i| {
                i.chat
                    .as_ref()
                    .is_some_and(|c| c.backend == Some(ChatPlatform::Slack))
            })
            .count()
        + config
            .routes
            .iter()
            .filter(|r| {
                r.chat
                    .as_ref()
                    .is_some_and(|c| c.backend == ChatPlatform::Slack && c.commands)
                    && store.load_storm(&r.name).chat.channel_id.is_some()
            })
            .count();
    let spacing = if paced {
        slack_read_spacing(slack_channels)
    } else {
        Duration::ZERO
    };
    for route in &config.routes {
        let Some(chat) = route.chat.as_ref().filter(|c| c.intake_channel.is_some()) else {
            continue;
        };
        if deadline.remaining() < Duration::from_secs(1) {
            break;
        }
        if let Err(e) = poll_intake(&ctx, route, chat, spacing, open_incident, &mut report) {
            report
                .errors
                .push(format!("intake channel of route {}: {e}", route.name));
        }
    }
    for route in &config.routes {
        let Some(chat) = route.chat.as_ref().filter(|c| c.commands) else {
            continue;
        };
        if deadline.remaining() < Duration::from_secs(1) {
            break;
        }
        if let Err(e) = poll_storm(&ctx, route, chat, spacing, &mut report) {
            report
                .errors
                .push(format!("storm channel of route {}: {e}", route.name));
        }
    }
    for incident in open {
        if deadline.remaining() < Duration::from_secs(1) {
            break;
        }
        let Some(state) = incident
            .chat
            .as_ref()
            .filter(|c| c.channel_id.is_some() && c.archived_at.is_none())
        else {
            continue;
        };
        if !incident.is_open() {
            continue;
        }
        let Some(route) = config.route(&incident.route) else {
            continue;
        };
        if !route.chat.as_ref().is_some_and(|c| c.commands) {
            continue;
        }
        let Some(platform) = state.backend else {
            continue;
        };
        if let Err(e) = poll_incident(&ctx, route, platform, &incident.key, spacing, &mut report) {
            report
                .errors
                .push(format!("incident {}: {e}", incident.key));
        }
    }
    report
}

fn poll_intake(
    ctx: &Context<'_>,
    route: &Route,
    chat: &ChatRoute,
    spacing: Duration,
    open: &mut OpenIncident<'_>,
    report: &mut Report,
) -> Result<(), String> {
    let Some(channel_id) = &chat.intake_channel else {
        return Ok(());
    };
    if !channel_due(
        ctx,
        chat.backend,
        &format!("intake-read-at-{}", route.name),
        spacing,
    ) {
        return Ok(());
    }
    let mut backend = chat::backend(chat.backend, ctx)?;
    let ch = backend
        .existing_channel(channel_id)
        .map_err(|e| e.to_string())?;
    let cursor_name = format!("intake-cursor-{}", crate::store::encode_key(&route.name));
    let cursor = ctx.store.read_meta(&cursor_name);
    let (items, next) = backend
        .read_new(&ch, cursor.as_deref())
        .map_err(|e| e.to_string())?;
    for m in fresh(&items, cursor.is_none(), ctx.now) {
        let Some(text) = parse_report(&m.text, &chat.intake_prefix) else {
            continue;
        };
        let alert = report_alert(chat.backend, &ch, m, &text);
        let key = alert.key.clone();
        let incident = open(alert, &route.name);
        report.reports += 1;
        // A replayed message (crash before the cursor was saved) re-fires: reply only once.
        if incident.as_ref().is_some_and(|i| i.times_fired > 1) {
            continue;
        }
        // The reporter knows most about it: bring them into the incident channel.
        if let Some(room) = incident
            .as_ref()
            .and_then(|i| i.chat.as_ref())
            .and_then(|c| c.channel_id.clone().map(|id| (id, c)))
            .map(|(id, c)| ChannelRef {
                id,
                name: c.channel_name.clone().unwrap_or_default(),
                url: c.channel_url.clone(),
            })
        {
            let reporter = std::slice::from_ref(&m.author);
            if let Err(e) = backend
                .invite(&room, reporter)
                .and_then(|()| backend.empower(&room, reporter))
            {
                report
                    .errors
                    .push(format!("invite {} to #{}: {e}", m.author, room.name));
            }
        }
        let where_ = incident
            .as_ref()
            .and_then(|i| i.chat.as_ref())
            .and_then(|c| {
                c.channel_url
                    .clone()
                    .or_else(|| c.channel_name.as_ref().map(|n| format!("#{n}")))
            })
            .unwrap_or_else(|| "the incident channel is being opened".into());
        let reply = ChatMessage::build(
            chat::message::MessageKind::Stakeholder,
            format!(
                "Incident opened in ilert for {} (key {key}): {where_}",
                m.author
            ),
            Vec::new(),
            Vec::new(),
        );
        if let Err(e) = backend.reply(&ch, &m.id, &reply) {
            report.errors.push(format!("reply to {}: {e}", m.author));
        }
    }
    if let Some(next) = next {
        ctx.store.write_meta(&cursor_name, &next);
    }
    Ok(())
}

/// The alert for a chat report; its key is stable per message, so a replay only re-fires.
/// The report text is the subject (topic, pinned title); a leading severity word sets the
/// severity (default Critical: someone thought it worth reporting).
fn report_alert(backend: ChatPlatform, ch: &ChannelRef, m: &HistoryItem, report: &str) -> Alert {
    let (severity, text) = split_severity(report);
    // Matrix aliases already start with `#`.
    let channel = ch.name.trim_start_matches('#');
    let input = AlertInput {
        event: Some("alert".into()),
        agent: Some(format!("chat report by {}", m.author)),
        module: Some(crate::text::truncate_chars(text, 120)),
        severity: Some(severity.unwrap_or("Critical").into()),
        summary: Some(format!("[Chat] {text}")),
        details: Some(format!(
            "Reported in chat by {} in #{channel} at {}:\n{text}",
            m.author, m.at
        )),
        extra: vec![
            ("reporter".into(), m.author.clone()),
            ("chat_message".into(), m.id.clone()),
        ],
        ..Default::default()
    };
    let mut alert = Alert::from_input(&input, "").unwrap_or_else(|_| unreachable_alert());
    alert.key = format!(
        "chat-{}",
        fnv1a_hex(format!("{backend}\u{0}{}\u{0}{}", ch.id, m.id).as_bytes())
    );
    alert.warnings.clear();
    alert
}

fn unreachable_alert() -> Alert {
    // from_input only fails without agent and module; report_alert always sets both.
    Alert::from_input(
        &AlertInput {
            event: Some("alert".into()),
            agent: Some("chat".into()),
            ..Default::default()
        },
        "",
    )
    .expect("an alert with an agent always parses")
}

/// Messages to act on: all after a known cursor; on a first read only recent ones.
fn fresh(
    items: &[HistoryItem],
    first_read: bool,
    now: Timestamp,
) -> impl Iterator<Item = &HistoryItem> {
    items
        .iter()
        .filter(move |m| !first_read || now.since(m.at) <= FIRST_READ_WINDOW)
}

fn poll_incident(
    ctx: &Context<'_>,
    route: &Route,
    platform: ChatPlatform,
    key: &str,
    spacing: Duration,
    report: &mut Report,
) -> Result<(), String> {
    let Some(_lock) = ctx
        .store
        .try_lock_incident(key)
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let Some(mut incident) = ctx.store.load_incident(key) else {
        return Ok(());
    };
    let Some(mut state) = incident.chat.clone() else {
        return Ok(());
    };
    let Some(id) = state.channel_id.clone() else {
        return Ok(());
    };
    let ch = ChannelRef {
        id,
        name: state.channel_name.clone().unwrap_or_default(),
        url: state.channel_url.clone(),
    };
    let Some(chat_route) = route.chat.as_ref() else {
        return Ok(());
    };
    let mut backend = chat::backend(platform, ctx)?;
    if !backend.capabilities().history {
        // Teams app-only cannot read channel messages: nothing to poll.
        return Ok(());
    }
    if platform == ChatPlatform::Slack {
        let last = state
            .extra
            .get(READ_AT)
            .and_then(|t| t.parse().ok())
            .map(Timestamp::from_millis);
        if !read_due(last, spacing, ctx.now) {
            return Ok(());
        }
    }
    let cursor = state.extra.get("read_cursor").cloned();
    let (items, next) = backend
        .read_new(&ch, cursor.as_deref())
        .map_err(|e| e.to_string())?;
    // The commands' deliveries, the record change and the read position are committed in one
    // write at the end: a kill before it re-reads the commands, never half-applies one.
    let mut queued: Vec<OutboxEntry> = Vec::new();
    let opened_at = incident.opened_at;
    for m in items
        .iter()
        .filter(|m| cursor.is_some() || m.at >= opened_at)
    {
        let Some(cmd) = parse_command(&m.text) else {
            continue;
        };
        if cmd.acts() && !authorized(ctx, backend.as_mut(), &ch, chat_route, &m.author) {
            refuse(ctx, backend.as_mut(), &ch, m, key, incident.seq, report);
            continue;
        }
        let answer = match &cmd {
            Command::Help => HELP.to_string(),
            Command::Status => {
                let acked = chat::message::acked_by(&incident);
                status_line(&incident, acked.as_deref(), ctx.now)
            }
            Command::Note(text) if text.is_empty() => {
                "Usage: !note TEXT (the text goes to the incident timeline as a key note).".into()
            }
            Command::Note(text) => {
                ctx.store.log_event(
                    key,
                    &EventLogLine {
                        at: m.at,
                        seq: incident.seq,
                        kind: EventKind::Note,
                        text: text.clone(),
                        by: m.author.clone(),
                        step: None,
                    },
                );
                report.commands += 1;
                format!("Noted for the timeline, {}.", m.author)
            }
            Command::Ack(_) | Command::Resolve(_) if !incident.is_open() => {
                "This incident is already resolved.".into()
            }
            Command::Ack(_) if route.source.api == IlertApi::Pandorafms => {
                "This route sends to ilert's Pandora FMS endpoint, which cannot acknowledge; acknowledge in the ilert app.".into()
            }
            Command::Ack(note) | Command::Resolve(note) => {
                let resolve = matches!(cmd, Command::Resolve(_));
                let (event_type, verb) = if resolve {
                    (IlertEventType::Resolve, "Resolved")
                } else {
                    (IlertEventType::Accept, "Acknowledged")
                };
                // With [ilert] api_token and a known alert: accept/resolve by id; else an event.
                if !crate::ilert_sync::command(
                    ctx.config,
                    ctx.http,
                    &mut incident,
                    resolve,
                    ctx.deadline,
                ) {
                    let action = Action::Ilert(command_event(
                        &incident, route, event_type, &m.author, note,
                    ));
                    queued.push(queue_entry(&mut incident, action, ctx.now));
                }
                if resolve {
                    incident.state = IncidentState::Resolved;
                    incident.resolved_at = Some(ctx.now);
                    queued.push(queue_entry(
                        &mut incident,
                        chat_action(platform, ChatChange::Recover),
                        ctx.now,
                    ));
                } else if let Some(c) = incident.chat.as_mut() {
                    c.extra.insert(ACKED_BY.into(), m.author.clone());
                    // Re-render in place: topic, pinned message, one stakeholder line.
                    queued.push(queue_entry(
                        &mut incident,
                        chat_action(platform, ChatChange::Refire),
                        ctx.now,
                    ));
                }
                report.commands += 1;
                ctx.store.log_event(
                    key,
                    &EventLogLine {
                        at: m.at,
                        seq: incident.seq,
                        kind: EventKind::FromChat(event_type),
                        text: format!("{} typed {:?} in #{}", m.author, m.text.trim(), ch.name),
                        by: m.author.clone(),
                        step: None,
                    },
                );
                format!("{verb} in ilert by {}.", m.author)
            }
        };
        reply(backend.as_mut(), &ch, m, &answer, report);
    }
    state = incident.chat.clone().unwrap_or(state);
    if let Some(next) = next {
        state.extra.insert("read_cursor".into(), next);
    }
    if platform == ChatPlatform::Slack {
        state
            .extra
            .insert(READ_AT.into(), ctx.now.millis().to_string());
    }
    incident.chat = Some(state);
    let any_queued = !queued.is_empty();
    ctx.store
        .update_record(key, Durability::Commit, |r| {
            r.incident = Some(incident);
            r.queue.extend(queued);
        })
        .map_err(|e| e.to_string())?;
    if any_queued {
        let mut d = Deliverer::new(ctx.config, ctx.store, ctx.http, ctx.deadline, false);
        d.deliver_incident(key, usize::MAX);
    }
    Ok(())
}

/// Reads the route's storm channel for `!open KEY`: a responder asks for a summarised
/// incident's own channel now, storm or not. The read position is in `meta/`, like the intake
/// channel's; opening is idempotent, so a message read twice opens one channel.
fn poll_storm(
    ctx: &Context<'_>,
    route: &Route,
    chat: &ChatRoute,
    spacing: Duration,
    report: &mut Report,
) -> Result<(), String> {
    let storm = ctx.store.load_storm(&route.name);
    let Some(id) = storm.chat.channel_id.clone() else {
        return Ok(());
    };
    if !channel_due(
        ctx,
        chat.backend,
        &format!("storm-read-at-{}", route.name),
        spacing,
    ) {
        return Ok(());
    }
    let ch = ChannelRef {
        id,
        name: storm.chat.channel_name.clone().unwrap_or_default(),
        url: storm.chat.channel_url.clone(),
    };
    let mut backend = chat::backend(chat.backend, ctx)?;
    if !backend.capabilities().history {
        return Ok(());
    }
    let cursor_name = format!("storm-cursor-{}", crate::store::encode_key(&route.name));
    let cursor = ctx.store.read_meta(&cursor_name);
    let (items, next) = backend
        .read_new(&ch, cursor.as_deref())
        .map_err(|e| e.to_string())?;
    let storm_key = format!("storm-{}", route.name);
    for m in fresh(&items, cursor.is_none(), ctx.now) {
        let Some(key) = parse_open(&m.text) else {
            continue;
        };
        if !authorized(ctx, backend.as_mut(), &ch, chat, &m.author) {
            refuse(ctx, backend.as_mut(), &ch, m, &storm_key, 0, report);
            continue;
        }
        let why = format!("{} asked for it in #{}", m.author, ch.name);
        let answer = match give_own_channel(
            ctx.config,
            ctx.store,
            ctx.http,
            ctx.deadline,
            key,
            &why,
            &m.author,
        ) {
            Ok(OwnChannel::Opened(at)) => {
                report.commands += 1;
                format!(
                    "Opened the channel of incident {key} for {}: {at}",
                    m.author
                )
            }
            Ok(OwnChannel::Has(at)) => format!("Incident {key} has its channel: {at}"),
            Ok(OwnChannel::NotOpen) => {
                format!("There is no open incident {key} on this route (the keys are in the summary, in brackets).")
            }
            Ok(OwnChannel::Busy) => format!("Incident {key} is busy; try again in a moment."),
            Err(e) => {
                report.errors.push(format!("!open {key}: {e}"));
                format!("Incident {key}: its channel could not be opened ({e}).")
            }
        };
        reply(backend.as_mut(), &ch, m, &answer, report);
    }
    if let Some(next) = next {
        ctx.store.write_meta(&cursor_name, &next);
    }
    Ok(())
}

/// What `give_own_channel` found or did.
#[derive(Debug, PartialEq, Eq)]
pub enum OwnChannel {
    /// The channel was queued and delivered (as far as it got): where it is, or will be.
    Opened(String),
    /// It has a channel already.
    Has(String),
    /// No such open incident.
    NotOpen,
    /// Someone else holds the incident's lock.
    Busy,
}

/// Where an incident's channel is, for people: its link, else `#name`, else a promise.
fn channel_words(incident: &Incident) -> String {
    incident
        .chat
        .as_ref()
        .and_then(|c| {
            c.channel_url
                .clone()
                .or_else(|| c.channel_name.as_ref().map(|n| format!("#{n}")))
        })
        .unwrap_or_else(|| "the channel is being opened".into())
}

/// Gives an open incident summarised in a storm its own channel: the channel's opening is
/// queued in the incident's record (one write under its lock) and delivered at once.
pub fn give_own_channel(
    config: &Config,
    store: &Store,
    http: &Http,
    deadline: Deadline,
    key: &str,
    why: &str,
    by: &str,
) -> Result<OwnChannel, String> {
    let Some(lock) = store.try_lock_incident(key).map_err(|e| e.to_string())? else {
        return Ok(OwnChannel::Busy);
    };
    let Some(mut incident) = store.load_incident(key).filter(Incident::is_open) else {
        return Ok(OwnChannel::NotOpen);
    };
    if incident.chat.is_some() {
        return Ok(OwnChannel::Has(channel_words(&incident)));
    }
    let Some(chat) = config.route(&incident.route).and_then(|r| r.chat.as_ref()) else {
        return Ok(OwnChannel::NotOpen);
    };
    let now = Timestamp::now();
    incident.chat = Some(crate::incident::ChatState {
        backend: Some(chat.backend),
        ..Default::default()
    });
    let entry = queue_entry(
        &mut incident,
        chat_action(chat.backend, ChatChange::Open),
        now,
    );
    let seq = incident.seq;
    store
        .update_record(key, Durability::Commit, |r| {
            r.incident = Some(incident);
            r.queue.push(entry);
        })
        .map_err(|e| e.to_string())?;
    store.log_event(
        key,
        &EventLogLine {
            at: now,
            seq,
            kind: EventKind::Chat,
            text: format!("its own channel after the storm summary: {why}"),
            by: by.to_string(),
            step: None,
        },
    );
    Deliverer::new(config, store, http, deadline, false).deliver_incident(key, usize::MAX);
    drop(lock);
    let words = store
        .load_incident(key)
        .map(|i| channel_words(&i))
        .unwrap_or_else(|| "the channel is being opened".into());
    Ok(OwnChannel::Opened(words))
}

/// After a storm, the incidents it summarised that are still open get their own channels,
/// oldest first, within the route's openings a minute (the rest on later passes). Open records
/// are read only while some route's last storm may have left incidents waiting.
pub fn open_after_storms(config: &Config, store: &Store, http: &Http, deadline: Deadline) {
    let routes: Vec<&Route> = config
        .routes
        .iter()
        .filter(|r| r.chat.is_some() && store.load_storm(&r.name).may_have_waiting())
        .collect();
    if routes.is_empty() {
        return;
    }
    let mut waiting: Vec<Incident> = store
        .open_incidents()
        .into_iter()
        .filter(|i| i.storm && i.chat.is_none() && i.is_open())
        .collect();
    waiting.sort_by_key(|i| i.opened_at.millis());
    let now = Timestamp::now();
    for route in routes {
        let Some(chat) = &route.chat else { continue };
        let mine: Vec<&Incident> = waiting.iter().filter(|i| i.route == route.name).collect();
        let Ok(lock) = store.lock_storm(
            &route.name,
            std::time::Instant::now() + Duration::from_secs(1),
        ) else {
            continue;
        };
        let mut state = store.load_storm(&route.name);
        if !state.may_have_waiting() {
            continue;
        }
        let limit = match chat.storm_per_minute {
            0 => 0,
            n => n.min(crate::storm::creation_limit(chat.backend)),
        };
        let chosen: Vec<String> = mine
            .iter()
            .take_while(|_| state.admit_after_storm(limit, now))
            .map(|i| i.key.clone())
            .collect();
        if mine.is_empty() {
            // Nothing waits: later passes skip this route until the next storm ends.
            state.opened_after = state.ended_storm;
        }
        if let Err(e) = store.save_storm(&state) {
            log::error!("{e}");
            continue;
        }
        drop(lock);
        for key in chosen {
            if deadline.remaining() < Duration::from_secs(1) {
                break;
            }
            match give_own_channel(
                config,
                store,
                http,
                deadline,
                &key,
                "the storm is over",
                "pandora-ilert",
            ) {
                Ok(OwnChannel::Opened(at)) => log::info!(
                    "route {}: incident {key} gets its own channel after the storm: {at}",
                    route.name
                ),
                Ok(_) => {}
                Err(e) => log::warn!("incident {key}: own channel after the storm: {e}"),
            }
        }
    }
}

/// Whether `author` may act through commands on a route's incidents: one of the route's
/// invitees, on its `chatops_allow` list, (Matrix) at `chatops_min_power` or above in the
/// room, or (Slack) in one of the `chatops_allow_groups` (`in_group`). Anyone else could join
/// a public room and page or resolve for the whole team.
pub fn may_act(chat: &ChatRoute, author: &str, power: Option<i64>, in_group: bool) -> bool {
    chat.invite
        .iter()
        .chain(&chat.chatops_allow)
        .any(|u| u == author)
        || chat
            .chatops_min_power
            .is_some_and(|min| power.is_some_and(|p| p >= min))
        || (in_group && !chat.chatops_allow_groups.is_empty())
}

/// How long a user group's members are taken from the store before asking Slack again
/// (`usergroups.users.list` is Tier 2, "20+ per minute").
const GROUP_CACHE: Duration = Duration::from_secs(300);

/// A cached member list as stored: `<millis> <user> <user> …`. Pure.
fn parse_group_cache(text: &str, now: Timestamp) -> Option<Vec<String>> {
    let mut words = text.split_whitespace();
    let at = Timestamp::from_millis(words.next()?.parse().ok()?);
    (at.millis() <= now.millis() && now.since(at) < GROUP_CACHE)
        .then(|| words.map(str::to_string).collect())
}

/// The members of a user group: from the store while fresh, else from the platform (and
/// stored).
fn group_members(
    ctx: &Context<'_>,
    b: &mut dyn ChatBackend,
    group: &str,
) -> Result<Vec<String>, String> {
    let name = format!("slack-group-{}", crate::store::encode_key(group));
    if let Some(members) = ctx
        .store
        .read_meta(&name)
        .and_then(|t| parse_group_cache(&t, ctx.now))
    {
        return Ok(members);
    }
    let members = b
        .group_members(group)
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    ctx.store.write_meta(
        &name,
        &format!("{} {}", ctx.now.millis(), members.join(" ")),
    );
    Ok(members)
}

/// `may_act`, asking the platform for the power level or group membership only when the lists
/// do not decide. When the platform cannot answer, the person is refused (and it is logged).
fn authorized(
    ctx: &Context<'_>,
    b: &mut dyn ChatBackend,
    ch: &ChannelRef,
    chat: &ChatRoute,
    author: &str,
) -> bool {
    if may_act(chat, author, None, false) {
        return true;
    }
    if chat.chatops_min_power.is_some() {
        match b.power_level(ch, author) {
            Ok(power) if may_act(chat, author, power, false) => return true,
            Ok(_) => {}
            Err(e) => log::warn!("power level of {author} in #{}: {e}", ch.name),
        }
    }
    chat.chatops_allow_groups
        .iter()
        .any(|g| match group_members(ctx, b, g) {
            Ok(members) => may_act(chat, author, None, members.iter().any(|u| u == author)),
            Err(e) => {
                log::warn!("members of user group {g}: {e}");
                false
            }
        })
}

/// The polite refusal in thread, and a line in the incident's event log.
fn refuse(
    ctx: &Context<'_>,
    b: &mut dyn ChatBackend,
    ch: &ChannelRef,
    m: &HistoryItem,
    key: &str,
    seq: u32,
    report: &mut Report,
) {
    let word = m.text.split_whitespace().next().unwrap_or_default();
    reply(
        b,
        ch,
        m,
        &format!(
            "Sorry {}, only this incident's responders can use {word} here. \
             Ask one of them, or ask an admin to add you to chatops_allow.",
            m.author
        ),
        report,
    );
    ctx.store.log_event(
        key,
        &EventLogLine {
            at: m.at,
            seq,
            kind: EventKind::CommandRefused,
            text: format!(
                "{} typed {:?} in #{} but is not allowed to act",
                m.author,
                m.text.trim(),
                ch.name
            ),
            by: m.author.clone(),
            step: None,
        },
    );
    log::info!(
        "refused {word} from {} in #{}: not allowed",
        m.author,
        ch.name
    );
}

fn reply(
    b: &mut dyn ChatBackend,
    ch: &ChannelRef,
    m: &HistoryItem,
    text: &str,
    report: &mut Report,
) {
    let msg = ChatMessage::build(
        chat::message::MessageKind::Stakeholder,
        text.to_string(),
        Vec::new(),
        Vec::new(),
    );
    if let Err(e) = b.reply(ch, &m.id, &msg) {
        report.errors.push(format!("reply in #{}: {e}", ch.name));
    }
}

/// ACCEPT / RESOLVE for an incident, with the person as the comment's creator.
fn command_event(
    incident: &Incident,
    route: &Route,
    event_type: IlertEventType,
    author: &str,
    note: &str,
) -> IlertEvent {
    let verb = if event_type == IlertEventType::Accept {
        "acknowledged"
    } else {
        "resolved"
    };
    let content = if note.is_empty() {
        format!("{verb} from chat")
    } else {
        format!("{verb} from chat: {note}")
    };
    let body = match route.source.api {
        IlertApi::Events => json!({
            "eventType": event_type.as_str(),
            "alertKey": incident.key,
            "summary": crate::text::truncate_chars(&format!("{} by {author}: {}", verb, incident.first.subject()), crate::ilert::SUMMARY_MAX_CHARS),
            "comments": [{"creator": author, "content": content}],
            "customDetails": {"by": author, "via": "chat"},
        }),
        IlertApi::Pandorafms => json!({
            "eventType": "resolved",
            "title": format!("resolved by {author}: {}", incident.first.subject()),
            "description": content,
            "incidentKey": incident.key,
            "details": {"agentName": incident.first.agent, "moduleName": incident.first.module},
        }),
    };
    IlertEvent {
        source: route.source.name.clone(),
        api: route.source.api,
        event_type,
        alert_key: incident.key.clone(),
        body,
    }
}

/// The outbox entry for a command's delivery, next in the incident's order.
fn queue_entry(incident: &mut Incident, action: Action, now: Timestamp) -> OutboxEntry {
    incident.outbox_seq += 1;
    OutboxEntry::new(
        format!("{}-cmd", Store::new_id(now)),
        &incident.key,
        incident.seq,
        incident.outbox_seq,
        now,
        action,
    )
}

/// Ends storms that have been quiet long enough (no alert came to do it) and posts the end
/// message in each storm channel.
pub fn end_quiet_storms(config: &Config, store: &Store, http: &Http, deadline: Deadline) {
    let now = Timestamp::now();
    for route in &config.routes {
        let Some(chat) = &route.chat else { continue };
        let lock = match store.lock_storm(
            &route.name,
            std::time::Instant::now() + Duration::from_secs(1),
        ) {
            Ok(lock) => lock,
            Err(e) => {
                // Busy: the next pass ends it. Anything else needs someone to look.
                if matches!(e, LockError::Store(_)) {
                    log::warn!("route {}: storm state: {e}", route.name);
                }
                continue;
            }
        };
        let mut state = store.load_storm(&route.name);
        if !state.should_end(chat.storm_quiet, now) {
            continue;
        }
        let key = format!("storm-{}", route.name);
        let Ok(key_lock) = store.lock_incident(&key, deadline.instant()) else {
            continue;
        };
        let entry = OutboxEntry::new(
            format!("{}-storm", Store::new_id(now)),
            &key,
            0,
            0,
            now,
            Action::Chat(crate::lifecycle::ChatUpdate {
                backend: chat.backend,
                change: ChatChange::StormEnd,
                route: Some(route.name.clone()),
            }),
        );
        // The end message is queued before the storm is marked over: a kill between repeats
        // the message at worst, never loses it.
        if let Err(e) = store.enqueue(&entry) {
            log::error!("{e}");
            continue;
        }
        state.end(now);
        if let Err(e) = store.save_storm(&state) {
            log::error!("{e}");
        }
        drop(lock);
        Deliverer::new(config, store, http, deadline, true).deliver_incident(&key, usize::MAX);
        drop(key_lock);
        log::info!("route {}: the alert storm is over", route.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_reads_of_all_channels_stay_under_fifty_a_minute() {
        let channels = 30;
        let spacing = slack_read_spacing(channels);
        let reads_per_minute = channels as f64 * 60.0 / spacing.as_secs_f64();
        assert!(reads_per_minute <= 50.0, "{reads_per_minute}");
        let t0 = Timestamp::from_millis(1_000_000);
        assert!(read_due(None, spacing, t0));
        assert!(!read_due(Some(t0), spacing, t0.plus(spacing / 2)));
        assert!(read_due(Some(t0), spacing, t0.plus(spacing)));
        // A read time in the future (clock stepped back) does not stop reading for good.
        assert!(read_due(Some(t0.plus(spacing * 10)), spacing, t0));
    }

    #[test]
    fn open_names_a_key() {
        assert_eq!(parse_open("!open 7301"), Some("7301"));
        assert_eq!(parse_open("  !OPEN chat-ab12 please"), Some("chat-ab12"));
        assert_eq!(parse_open("!open"), None);
        assert_eq!(parse_open("!opened 7301"), None);
        assert_eq!(parse_open("please !open 7301"), None);
    }

    #[test]
    fn commands_parse_with_notes_and_any_case() {
        assert_eq!(parse_command("!ack"), Some(Command::Ack(String::new())));
        assert_eq!(
            parse_command("  !ACK looking into it "),
            Some(Command::Ack("looking into it".into()))
        );
        assert_eq!(
            parse_command("!resolve fixed the disk"),
            Some(Command::Resolve("fixed the disk".into()))
        );
        assert_eq!(parse_command("!acknowledgement"), None);
        assert_eq!(parse_command("please !ack"), None);
    }

    fn route(invite: &[&str], allow: &[&str], min_power: Option<i64>) -> ChatRoute {
        let text = "[[route]]\nname = \"r\"\nilert_key = \"k\"\nchat = \"matrix\"\n\
                    [matrix]\nhomeserver = \"http://127.0.0.1:1\"\naccess_token = \"t\"\n";
        let mut chat = Config::parse(std::path::Path::new("t.toml"), text)
            .unwrap()
            .routes[0]
            .chat
            .clone()
            .unwrap();
        chat.invite = invite.iter().map(|s| s.to_string()).collect();
        chat.chatops_allow = allow.iter().map(|s| s.to_string()).collect();
        chat.chatops_min_power = min_power;
        chat
    }

    #[test]
    fn only_invitees_the_allow_list_or_enough_power_may_act() {
        let r = route(&["@alice:s"], &["U0ABC"], None);
        assert!(may_act(&r, "@alice:s", None, false));
        assert!(may_act(&r, "U0ABC", None, false));
        assert!(
            !may_act(&r, "@eve:s", Some(100), false),
            "no power rule set"
        );
        assert!(!may_act(&r, "U0EVE", None, true), "no groups set");
        let r = route(&[], &[], Some(50));
        assert!(may_act(&r, "@mod:s", Some(50), false));
        assert!(!may_act(&r, "@eve:s", Some(0), false));
        assert!(!may_act(&r, "@eve:s", None, false));
        assert!(!may_act(&route(&[], &[], None), "@alice:s", None, false));
        let mut r = route(&[], &[], None);
        r.chatops_allow_groups = vec!["S0ONCALL".into()];
        assert!(may_act(&r, "U0GRP", None, true));
        assert!(!may_act(&r, "U0EVE", None, false));
    }

    #[test]
    fn group_members_are_cached_for_five_minutes() {
        let t0 = Timestamp::from_millis(1_000_000);
        let stored = format!("{} U1 U2", t0.millis());
        assert_eq!(
            parse_group_cache(&stored, t0.plus(Duration::from_secs(60))),
            Some(vec!["U1".to_string(), "U2".to_string()])
        );
        assert_eq!(parse_group_cache(&stored, t0.plus(GROUP_CACHE)), None);
        assert_eq!(
            parse_group_cache(&format!("{} ", t0.millis()), t0),
            Some(Vec::new()),
            "an empty group is cached too"
        );
        assert_eq!(parse_group_cache("garbage U1", t0), None);
    }

    #[test]
    fn help_status_and_note_parse_and_edits_are_not_commands() {
        assert_eq!(parse_command("!HELP"), Some(Command::Help));
        assert_eq!(parse_command("!status please"), Some(Command::Status));
        assert_eq!(
            parse_command("!note disk was full"),
            Some(Command::Note("disk was full".into()))
        );
        assert_eq!(parse_command("!note"), Some(Command::Note(String::new())));
        assert_eq!(parse_command("(edit) !resolve"), None);
        assert!(!Command::Help.acts() && !Command::Status.acts());
        assert!(Command::Note(String::new()).acts());
    }

    #[test]
    fn a_leading_severity_word_sets_the_reports_severity() {
        assert_eq!(split_severity("minor db slow"), (Some("Minor"), "db slow"));
        assert_eq!(split_severity("[WARNING] disk"), (Some("Warning"), "disk"));
        assert_eq!(split_severity("info x"), (Some("Informational"), "x"));
        assert_eq!(split_severity("database down"), (None, "database down"));
        assert_eq!(split_severity("critical"), (None, "critical"));
    }

    #[test]
    fn reports_need_the_prefix_and_some_text() {
        assert_eq!(
            parse_report("!incident database is slow", "!incident"),
            Some("database is slow".into())
        );
        assert_eq!(
            parse_report("!INCIDENT  db down", "!incident"),
            Some("db down".into())
        );
        assert_eq!(parse_report("!incident", "!incident"), None);
        assert_eq!(parse_report("!incidents are fun", "!incident"), None);
        assert_eq!(parse_report("an !incident", "!incident"), None);
        assert_eq!(parse_report("é", "!incident"), None);
    }
}
