//! What the chat messages say, as plain data (pure). Each backend renders a `ChatMessage` in
//! its own format (Block Kit, HTML, Adaptive Card) and always with a plain-text fallback.

use crate::config::ChatRoute;
use crate::incident::Incident;
use crate::time::Timestamp;

/// The kind of message, so backends can style it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// The pinned alert message (kept up to date).
    Alert,
    /// The recovery message.
    Recovery,
    /// A one-line stakeholder update.
    Stakeholder,
    /// A closing line before archiving.
    Closing,
}

/// A chat message as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatMessage {
    /// Kind.
    pub kind: MessageKind,
    /// Headline, e.g. `FIRING [Critical] web-01 / CPU Load`.
    pub title: String,
    /// Label/value rows.
    pub fields: Vec<(String, String)>,
    /// (text, url) links.
    pub links: Vec<(String, String)>,
    /// Plain-text fallback carrying the same information.
    pub text: String,
    /// The incident key when this is an incident's alert card: backends attach it as a
    /// machine-readable marker (Slack message metadata, a Matrix content key), so another
    /// Pandora server that adopts the channel finds the card instead of posting a second.
    pub alert_of: Option<String>,
    /// Which intended message this is, from durable state the caller holds when it decides
    /// to post (an incident record's post counter, a storm's start, a command's event id): the
    /// same on every retry of that one message, different for every other. Matrix builds the
    /// transaction id from it, so a retry after a timeout or a crash is deduplicated by the
    /// homeserver while a second, separately intended message with the same text still
    /// posts. `None`: the text tells messages apart (a duplicate of it is never intended).
    /// Slack and Teams ignore it.
    pub occasion: Option<String>,
}

impl ChatMessage {
    pub(crate) fn build(
        kind: MessageKind,
        title: String,
        fields: Vec<(String, String)>,
        links: Vec<(String, String)>,
    ) -> Self {
        let mut text = title.clone();
        for (k, v) in &fields {
            text.push_str(&format!("\n{k}: {v}"));
        }
        for (t, u) in &links {
            text.push_str(&format!("\n{t}: {u}"));
        }
        ChatMessage {
            kind,
            title,
            fields,
            links,
            text,
            alert_of: None,
            occasion: None,
        }
    }

    /// The message as the one intended on `occasion` (see the field).
    pub fn on(mut self, occasion: impl Into<String>) -> Self {
        self.occasion = Some(occasion.into());
        self
    }
}

fn drill(incident: &Incident) -> &'static str {
    if incident.drill {
        "DRILL "
    } else {
        ""
    }
}

/// The chat state's `extra` entry naming who acknowledged from chat (`!ack`).
pub const ACKED_BY: &str = "acked_by";

/// Who acknowledged the incident: from chat (`!ack`), else as mirrored from ilert.
pub fn acked_by(incident: &Incident) -> Option<String> {
    incident
        .chat
        .as_ref()
        .and_then(|c| c.extra.get(ACKED_BY).cloned())
        .or_else(|| {
            incident
                .ilert_mirror
                .as_ref()
                .filter(|m| m.status == "ACCEPTED")
                .map(|m| m.accepted_by.clone().unwrap_or_else(|| "ilert".into()))
        })
}

/// The chat state's `extra` entry set while ilert has refused the incident's ALERT for good
/// (its value: why): nobody was paged.
pub const NOT_PAGED: &str = "not_paged";

/// Why ilert refused the incident's alert, while it has not been delivered since.
pub fn not_paged(incident: &Incident) -> Option<&str> {
    incident
        .chat
        .as_ref()
        .and_then(|c| c.extra.get(NOT_PAGED))
        .map(String::as_str)
}

/// The state word when it is more than firing/resolved (`NOT PAGED`, `ACKNOWLEDGED by X`):
/// the pinned message is re-rendered when it changes.
pub fn special_state(incident: &Incident) -> Option<String> {
    if !incident.is_open() {
        return None;
    }
    if not_paged(incident).is_some() {
        return Some("NOT PAGED".into());
    }
    acked_by(incident)
        .map(|who| format!("ACKNOWLEDGED by {who}"))
        .or_else(|| escalated(incident).map(|level| format!("ESCALATED to level {level}")))
}

/// The escalation level ilert has paged beyond the first, while nobody has acknowledged.
fn escalated(incident: &Incident) -> Option<u32> {
    incident
        .ilert_mirror
        .as_ref()
        .filter(|m| m.status == "PENDING")
        .and_then(|m| m.level)
        .filter(|l| *l > 1)
}

/// `FIRING`, `NOT PAGED`, `ACKNOWLEDGED by X` or `RESOLVED`.
fn state_word(incident: &Incident) -> String {
    match special_state(incident) {
        Some(s) => s,
        None if incident.is_open() => "FIRING".into(),
        None => "RESOLVED".into(),
    }
}

/// The prominent line while nobody was paged, and the one when ilert has the alert again.
pub fn paging_line(incident: &Incident) -> ChatMessage {
    let title = match not_paged(incident) {
        Some(why) => format!(
            "⚠️ NOT PAGED: ilert refused this alert ({why}), so nobody was paged. Page the on-call \
             by hand, fix the cause and run `pandora-ilert requeue`."
        ),
        None => "ilert has this alert now: the on-call is being paged.".to_string(),
    };
    ChatMessage::build(MessageKind::Stakeholder, title, Vec::new(), Vec::new())
}

/// The longest topic (Slack's limit; the others allow more).
const TOPIC_MAX_CHARS: usize = 250;

/// `FIRING - web-01 / CPU Load` (the channel topic; plain text, short), with ` - ilert: URL`
/// when the ilert alert's link is known and fits.
pub fn topic(incident: &Incident) -> String {
    topic_after(incident, "")
}

/// The topic after `prefix`; the link only when it fits whole.
fn topic_after(incident: &Incident, prefix: &str) -> String {
    let state = state_word(incident);
    let t = format!(
        "{prefix}{}{state} - {}",
        drill(incident),
        incident.first.subject()
    );
    let linked = incident
        .ilert_alert
        .as_ref()
        .map(|url| format!("{t} - ilert: {url}"))
        .filter(|l| l.chars().count() <= TOPIC_MAX_CHARS);
    linked.unwrap_or_else(|| crate::text::truncate_chars(&t, TOPIC_MAX_CHARS))
}

/// How much of the alert's description/runbook text the pinned message carries (Slack allows
/// 2,000 characters per field).
const DETAILS_MAX_CHARS: usize = 1500;

/// `ARCHIVED - RESOLVED - web-01 / CPU Load`: the topic of an archived channel.
pub fn archived_topic(incident: &Incident) -> String {
    topic_after(incident, "ARCHIVED - ")
}

/// The pinned alert message, rendered from the record's current state; `console_url` gives the
/// Pandora links when the alert carried no `_homeurl_`.
pub fn alert_message(incident: &Incident, console_url: Option<&str>) -> ChatMessage {
    let a = &incident.first;
    let state = state_word(incident);
    let title = format!(
        "{}{state} [{}] {}",
        drill(incident),
        a.severity,
        a.subject()
    );
    let mut fields = vec![
        ("Agent".to_string(), a.agent.clone()),
        ("Module".to_string(), a.module.clone()),
        ("Severity".to_string(), a.severity.to_string()),
        ("Value".to_string(), incident.last.value()),
        ("Group".to_string(), a.group.clone()),
        (
            "First fired".to_string(),
            when(incident.opened_at, &a.timestamp_raw),
        ),
    ];
    if incident.times_fired > 1 {
        fields.push(("Times fired".into(), incident.times_fired.to_string()));
        fields.push((
            "Last seen".into(),
            when(incident.last_seen, &incident.last.timestamp_raw),
        ));
    }
    if let Some(r) = incident.resolved_at {
        fields.push(("Resolved".into(), when(r, &incident.last.timestamp_raw)));
    }
    fields.push(("Incident key".into(), incident.key.clone()));
    if let Some(m) = incident.ilert_mirror.as_ref().filter(|m| m.id > 0) {
        let mut state = match (m.status.as_str(), &m.accepted_by) {
            ("ACCEPTED", Some(who)) => format!("acknowledged by {who}"),
            ("ACCEPTED", None) => "acknowledged".to_string(),
            (other, _) => other.to_lowercase(),
        };
        if let Some(level) = m.level.filter(|_| m.status == "PENDING") {
            state.push_str(&format!(", escalation level {level}"));
        }
        if let Some(people) = m.responders.as_ref().filter(|r| !r.is_empty()) {
            state.push_str(&format!("; responders: {}", people.join(", ")));
        }
        fields.push(("ilert".into(), format!("alert {} {state}", m.id)));
    }
    if let Some(d) = &a.details {
        fields.push((
            "Details".into(),
            crate::text::truncate_chars(d.trim(), DETAILS_MAX_CHARS),
        ));
    }
    fields.retain(|(_, v)| !v.trim().is_empty());
    let mut card = ChatMessage::build(
        MessageKind::Alert,
        title,
        fields,
        links(incident, console_url),
    );
    card.alert_of = Some(incident.key.clone());
    card
}

/// The recovery message.
pub fn recovery_message(incident: &Incident) -> ChatMessage {
    let title = format!("{}RESOLVED {}", drill(incident), incident.first.subject());
    let mut fields = vec![("Value".to_string(), incident.last.value())];
    if let Some(r) = incident.resolved_at {
        fields.push(("Resolved".into(), when(r, &incident.last.timestamp_raw)));
        fields.push((
            "Duration".into(),
            crate::time::human_duration(r.since(incident.opened_at)),
        ));
    }
    fields.retain(|(_, v)| !v.trim().is_empty());
    ChatMessage::build(MessageKind::Recovery, title, fields, Vec::new())
}

/// One stakeholder line; a private incident's line carries no details.
pub fn stakeholder_line(incident: &Incident, channel_link: &str) -> ChatMessage {
    let state = match (incident.is_open(), acked_by(incident)) {
        (false, _) => "resolved".to_string(),
        (true, Some(who)) => format!("acknowledged by {who}"),
        (true, None) => "opened".to_string(),
    };
    let title = if incident.private {
        format!(
            "{}Private incident {state}: {channel_link}",
            drill(incident)
        )
    } else {
        format!(
            "{}Incident {state}: [{}] {} - {channel_link}{}",
            drill(incident),
            incident.first.severity,
            incident.first.subject(),
            incident
                .ilert_alert
                .as_deref()
                .map(|u| format!(" - ilert: {u}"))
                .unwrap_or_default()
        )
    };
    ChatMessage::build(MessageKind::Stakeholder, title, Vec::new(), Vec::new())
}

/// The line posted before a channel is archived.
pub fn closing_line(incident: &Incident, now: Timestamp) -> ChatMessage {
    let since = incident
        .resolved_at
        .map(|r| crate::time::human_duration(now.since(r)))
        .unwrap_or_default();
    ChatMessage::build(
        MessageKind::Closing,
        format!("Archiving this channel: the incident was resolved {since} ago. The history stays readable."),
        Vec::new(),
        Vec::new(),
    )
}

/// The placeholders a `channel_template` may use.
pub const CHANNEL_PLACEHOLDERS: [&str; 1] = ["id"];

/// The channel name from the route's template: `{id}` is the Pandora alert id (the incident
/// key when there is none); a later incident of the same alert gets `-<n>` so names stay unique
/// (an archived channel keeps its name).
pub fn channel_name(incident: &Incident, route: &ChatRoute) -> String {
    let id = if incident.alert_id.is_empty() {
        incident.key.clone()
    } else {
        incident.alert_id.clone()
    };
    let mut name = crate::template::render(&route.channel_template, |p| {
        (p == CHANNEL_PLACEHOLDERS[0]).then_some(id.as_str())
    });
    if incident.seq > 1 {
        name.push_str(&format!("-{}", incident.seq));
    }
    if incident.drill {
        name = format!("drill-{name}");
    }
    name
}

fn when(t: Timestamp, pandora: &str) -> String {
    if pandora.trim().is_empty() {
        t.rfc3339().replace('T', " ").replace('Z', " UTC")
    } else {
        format!(
            "{} UTC (Pandora: {pandora})",
            t.rfc3339().replace('T', " ").trim_end_matches('Z')
        )
    }
}

fn links(incident: &Incident, console_url: Option<&str>) -> Vec<(String, String)> {
    let a = &incident.first;
    let mut out = Vec::new();
    let home = Some(a.homeurl.as_str())
        .filter(|h| !h.is_empty())
        .or(console_url)
        .unwrap_or_default();
    if !home.is_empty() && !a.agent_id.is_empty() {
        out.push((
            "Pandora FMS agent".to_string(),
            format!(
                "{home}/index.php?sec=estado&sec2=operation/agentes/ver_agente&id_agente={}",
                a.agent_id
            ),
        ));
    } else if !home.is_empty() {
        out.push(("Pandora FMS console".to_string(), home.to_string()));
    }
    if let Some(url) = &incident.ilert_alert {
        out.push(("ilert alert".to_string(), url.clone()));
    }
    out
}

/// The storm channel's running summary, grouped by agent group.
pub fn storm_summary(state: &crate::storm::StormState) -> ChatMessage {
    let (state_word, since) = match (state.active_since, state.ended_storm) {
        (Some(s), _) => ("ALERT STORM", s),
        (None, Some(s)) => ("STORM OVER", s),
        (None, None) => ("QUIET", Timestamp::from_millis(0)),
    };
    let title = format!(
        "{state_word} on route '{}' since {}: {} new incident(s) summarised here instead of one channel each; every ilert event is still delivered",
        state.route,
        since.rfc3339().replace('T', " ").replace('Z', " UTC"),
        state.total
    );
    let fields = state
        .groups
        .iter()
        .map(|(group, t)| {
            let hidden = (t.open + t.resolved).saturating_sub(t.recent.len() as u32);
            let more = if hidden > 0 {
                format!(" (+{hidden} more)")
            } else {
                String::new()
            };
            (
                format!("{group}: {} open, {} resolved", t.open, t.resolved),
                format!("{}{more}", t.recent.join(", ")),
            )
        })
        .chain(std::iter::once((
            "Own channels".to_string(),
            "Type !open KEY here (the key in brackets) to give an incident its own channel now; \
             those still open get theirs when the storm is over."
                .to_string(),
        )))
        .collect();
    ChatMessage::build(MessageKind::Alert, title, fields, Vec::new())
}

/// The storm channel's topic.
pub fn storm_topic(state: &crate::storm::StormState) -> String {
    if state.is_active() {
        format!(
            "STORM - route {}: {} incidents summarised",
            state.route, state.total
        )
    } else {
        format!(
            "QUIET - route {}: incidents get their own channel",
            state.route
        )
    }
}

/// The one line stakeholders get when a storm starts (active) or ends.
/// Each names the storm by its start, so the lines of two storms are two messages (Matrix
/// takes a repeated text as a retry of the same message: `post_purpose`).
pub fn storm_stakeholder_line(state: &crate::storm::StormState, link: &str) -> ChatMessage {
    let began = |t: Option<Timestamp>| {
        t.map(|t| t.rfc3339().replace('T', " ").replace('Z', " UTC"))
            .unwrap_or_default()
    };
    let title = if state.is_active() {
        format!(
            "Alert storm on route '{}': new incidents are summarised in {link} instead of a channel each; ilert still gets every alert. It began {}.",
            state.route,
            began(state.active_since)
        )
    } else {
        format!(
            "The alert storm on route '{}' is over ({} incident(s) summarised in {link}); new incidents get their own channel again. It began {}.",
            state.route,
            state.total,
            began(state.ended_storm)
        )
    };
    ChatMessage::build(MessageKind::Stakeholder, title, Vec::new(), Vec::new())
}

/// The message that says a storm passed.
pub fn storm_end(state: &crate::storm::StormState) -> ChatMessage {
    let (began, lasted) = match (state.ended_storm, state.ended_at) {
        (Some(s), Some(e)) => (
            s.rfc3339().replace('T', " ").replace('Z', " UTC"),
            crate::time::human_duration(e.since(s)),
        ),
        _ => (String::new(), String::new()),
    };
    // The start names the storm, so two storms' end lines are two different messages.
    ChatMessage::build(
        MessageKind::Recovery,
        format!(
            "The alert storm on route '{}' is over after {lasted} (it began {began}): {} incident(s) were summarised here. New incidents get their own channel again.",
            state.route, state.total
        ),
        Vec::new(),
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::IlertMirror;
    use crate::pandora::{Alert, AlertInput};

    fn incident(module: &str) -> Incident {
        let alert = Alert::from_input(
            &AlertInput {
                event: Some("alert".into()),
                alert_id: Some("7".into()),
                agent: Some("web-01".into()),
                module: Some(module.into()),
                ..AlertInput::default()
            },
            "",
        )
        .unwrap();
        Incident::example(alert, Timestamp::from_millis(0))
    }

    #[test]
    fn the_topic_links_the_ilert_alert_only_when_the_link_fits_whole() {
        let mut i = incident("CPU Load");
        assert_eq!(topic(&i), "FIRING - web-01 / CPU Load");
        let url = "https://acme.ilert.com/alert/view?id=90000";
        i.ilert_alert = Some(url.into());
        assert_eq!(
            topic(&i),
            format!("FIRING - web-01 / CPU Load - ilert: {url}")
        );
        let mut long = incident(&"m".repeat(200));
        long.ilert_alert = Some(url.into());
        let t = topic(&long);
        assert!(!t.contains("ilert:") && t.chars().count() <= 250, "{t}");
        assert!(archived_topic(&i).starts_with("ARCHIVED - FIRING"));
        assert!(archived_topic(&i).ends_with(url));
    }

    #[test]
    fn an_escalation_shows_in_topic_and_card_until_someone_acknowledges() {
        let mut i = incident("CPU Load");
        i.ilert_mirror = Some(IlertMirror {
            id: 9,
            status: "PENDING".into(),
            level: Some(2),
            responders: Some(vec!["Jane Doe".into(), "Max Muster".into()]),
            ..IlertMirror::default()
        });
        assert_eq!(topic(&i), "ESCALATED to level 2 - web-01 / CPU Load");
        let card = alert_message(&i, None);
        let ilert = card.fields.iter().find(|(k, _)| k == "ilert").unwrap();
        assert_eq!(
            ilert.1,
            "alert 9 pending, escalation level 2; responders: Jane Doe, Max Muster"
        );
        let m = i.ilert_mirror.as_mut().unwrap();
        m.status = "ACCEPTED".into();
        m.accepted_by = Some("Max Muster".into());
        assert_eq!(topic(&i), "ACKNOWLEDGED by Max Muster - web-01 / CPU Load");
        let m = i.ilert_mirror.as_mut().unwrap();
        m.status = "PENDING".into();
        m.accepted_by = None;
        m.level = Some(1);
        assert_eq!(topic(&i), "FIRING - web-01 / CPU Load");
    }

    #[test]
    fn two_storms_stakeholder_lines_differ_by_their_start() {
        use crate::storm::StormState;
        let at = |secs: i64| Timestamp::from_millis(secs * 1000);
        let mut one = StormState::new("db");
        one.active_since = Some(at(1_000));
        let mut two = one.clone();
        two.active_since = Some(at(1_002));
        let (a, b) = (
            storm_stakeholder_line(&one, "#storm").title,
            storm_stakeholder_line(&two, "#storm").title,
        );
        assert_ne!(a, b);
        assert!(a.ends_with("It began 1970-01-01 00:16:40 UTC."), "{a}");
        one.end(at(1_001));
        two.end(at(1_003));
        let (a, b) = (
            storm_stakeholder_line(&one, "#storm").title,
            storm_stakeholder_line(&two, "#storm").title,
        );
        assert!(
            a.starts_with("The alert storm on route 'db' is over"),
            "{a}"
        );
        assert_ne!(a, b);
    }
}
