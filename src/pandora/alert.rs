//! Pandora alert macros, as the server substitutes them into the command line, turned into an
//! `Alert`. Follows reference §1: recovery is signalled by field1's recovery value and by a
//! `[RECOVER]` prefix on text fields; values may be empty, `N/A`, multi-line, HTML or huge.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::pandora::text::fnv1a_hex;
use crate::time::LocalDateTime;

/// The prefix Pandora puts on non-empty field2..20 at recovery (reference §1.1, step 2).
const RECOVER_PREFIX: &str = "[RECOVER]";

/// Pandora's severity names, indexed by priority number (`_alert_priority_`, reference §1.3).
pub const SEVERITY_NAMES: [&str; 7] = [
    "Maintenance",
    "Informational",
    "Normal",
    "Warning",
    "Critical",
    "Minor",
    "Major",
];

/// Firing or recovery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// The alert fired (or re-fired).
    Firing,
    /// The alert recovered.
    Recovery,
}

/// Pandora's text severity (`_alert_text_severity_`), normalised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity(pub String);

impl Severity {
    /// The severity text, e.g. `Critical`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Critical and Major page with high urgency; everything else is low.
    pub fn is_high(&self) -> bool {
        matches!(self.0.to_ascii_lowercase().as_str(), "critical" | "major")
    }
    /// Normalises text or a 0-6 priority number to Pandora's names (reference §1.3); text
    /// that is neither is kept, capitalised, and nothing at all is `Critical`. The warning
    /// names the value and the mapping used when the severity was missing or is not one
    /// Pandora knows (issue #11 item 4).
    pub fn resolve(text: &str, priority: &str) -> (Severity, Option<String>) {
        let by_number = |n: &str| {
            n.trim()
                .parse::<usize>()
                .ok()
                .and_then(|i| SEVERITY_NAMES.get(i).copied())
        };
        let t = text.trim();
        if let Some(n) = by_number(t) {
            return (Severity(n.into()), None);
        }
        if let Some(n) = SEVERITY_NAMES.iter().find(|n| n.eq_ignore_ascii_case(t)) {
            return (Severity((*n).into()), None);
        }
        let urgency = |s: &Severity| if s.is_high() { "HIGH" } else { "LOW" };
        if let (false, Some(n)) = (t.is_empty(), by_number(priority)) {
            let s = Severity(n.into());
            let why = format!(
                "--severity {t:?} is not a Pandora severity ({} or 0-6): treated as '{s}' from \
                 --priority {} with ilert priority {} unless the route sets one",
                SEVERITY_NAMES.join(", "),
                priority.trim(),
                urgency(&s)
            );
            return (s, Some(why));
        }
        if !t.is_empty() {
            let mut c = t.chars();
            let first = c
                .next()
                .map(|f| f.to_uppercase().collect::<String>())
                .unwrap_or_default();
            let s = Severity(first + &c.as_str().to_lowercase());
            let why = format!(
                "--severity {t:?} is not a Pandora severity ({} or 0-6): kept as '{s}' with ilert \
                 priority {} unless the route sets one; routes match it by that text",
                SEVERITY_NAMES.join(", "),
                urgency(&s)
            );
            return (s, Some(why));
        }
        let (s, from) = match by_number(priority) {
            Some(n) => (
                Severity(n.into()),
                format!("from --priority {}", priority.trim()),
            ),
            None => (Severity("Critical".into()), "by default".to_string()),
        };
        let why = format!(
            "--severity is missing: treated as '{s}' ({from}) with ilert priority {} unless the \
             route sets one; pass \"_alert_text_severity_\"",
            urgency(&s)
        );
        (s, Some(why))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The raw values given on the `alert` command line, each optional.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AlertInput {
    /// `alert` / `resolved` (field1 / field1_recovery).
    pub event: Option<String>,
    /// `_id_alert_`.
    pub alert_id: Option<String>,
    /// `_agent_` (alias).
    pub agent: Option<String>,
    /// `_module_`.
    pub module: Option<String>,
    /// `_data_`.
    pub data: Option<String>,
    /// `_dataunit_`.
    pub unit: Option<String>,
    /// `_alert_text_severity_`.
    pub severity: Option<String>,
    /// `_alert_priority_` (0-6).
    pub priority: Option<String>,
    /// Summary text (an action field).
    pub summary: Option<String>,
    /// Long description / details (an action field).
    pub details: Option<String>,
    /// `_timestamp_`.
    pub timestamp: Option<String>,
    /// `_agentgroup_`.
    pub group: Option<String>,
    /// `_moduletags_` (comma separated).
    pub tags: Option<String>,
    /// `_alert_name_`.
    pub alert_name: Option<String>,
    /// `_homeurl_`.
    pub homeurl: Option<String>,
    /// `_id_agent_`.
    pub agent_id: Option<String>,
    /// `_id_module_`.
    pub module_id: Option<String>,
    /// `_address_`.
    pub address: Option<String>,
    /// `_alert_times_fired_`.
    pub times_fired: Option<String>,
    /// Any other macro as `name=value`.
    pub extra: Vec<(String, String)>,
}

/// An alert that cannot be understood (exit 65).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Pandora alert firing or recovery, cleaned of Pandora's quirks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// Firing or recovery.
    pub kind: AlertKind,
    /// The incident key: stable per Pandora alert (module + template), the ilert alertKey.
    pub key: String,
    /// `_id_alert_` (digits), empty for event alerts.
    pub alert_id: String,
    /// Agent alias.
    pub agent: String,
    /// Module name.
    pub module: String,
    /// Module data (the value).
    pub data: String,
    /// Unit of the data.
    pub unit: String,
    /// Severity name.
    pub severity: Severity,
    /// Priority number as Pandora gave it (may be empty).
    pub priority: String,
    /// Summary given by the action, if any (else the route's template is used).
    pub summary: Option<String>,
    /// Long text given by the action.
    pub details: Option<String>,
    /// `_timestamp_` as given.
    pub timestamp_raw: String,
    /// `_timestamp_` as ISO 8601 local time, when it parsed.
    pub timestamp_iso: Option<String>,
    /// Agent group.
    pub group: String,
    /// Module tags.
    pub tags: Vec<String>,
    /// Template name.
    pub alert_name: String,
    /// Pandora console base URL.
    pub homeurl: String,
    /// Agent id (digits).
    pub agent_id: String,
    /// Module id (digits).
    pub module_id: String,
    /// Every macro that was given, by Pandora macro name, for custom details.
    pub macros: BTreeMap<String, String>,
    /// Problems worth a log line that did not stop the alert.
    pub warnings: Vec<String>,
}

/// Removes one leading `[RECOVER]` (reference §1.1) and says whether it was there.
fn strip_recover(value: &str) -> (&str, bool) {
    match value.strip_prefix(RECOVER_PREFIX) {
        Some(rest) => (rest.trim_start(), true),
        None => (value, false),
    }
}

/// Firing or recovery (issue #11 item 2): an explicit `--event` decides, so a value that merely
/// starts with `[RECOVER]` (a log line in `_data_`) never turns a firing into a recovery. The
/// prefix is a hint only when `--event` is missing, empty or unknown; those are accepted, never
/// a lost alert, with a warning naming the value and the reading used.
fn kind_of(given: Option<&str>, event: &str, recover_hint: bool) -> (AlertKind, Option<String>) {
    const FIX: &str = "set the action's field1 to 'alert' and field1 recovery to 'resolved'";
    let hinted = |what: String| {
        if recover_hint {
            let why =
                format!("{what}: treated as a recovery (a value starts with [RECOVER]); {FIX}");
            (AlertKind::Recovery, Some(why))
        } else {
            (
                AlertKind::Firing,
                Some(format!("{what}: treated as a firing; {FIX}")),
            )
        }
    };
    match event.trim().to_ascii_lowercase().as_str() {
        "alert" | "fire" | "fired" | "firing" | "trigger" | "problem" => {
            let why = recover_hint.then(|| {
                format!(
                    "--event {:?} with a value starting with [RECOVER]: treated as a firing (--event \
                     decides); if this was a recovery, set the action's field1 recovery to 'resolved'",
                    event.trim()
                )
            });
            (AlertKind::Firing, why)
        }
        "resolved" | "resolve" | "recovered" | "recovery" | "recover" | "ok" => {
            (AlertKind::Recovery, None)
        }
        "" if given.is_none() => hinted("no --event".into()),
        "" => hinted("--event is empty".into()),
        _ => hinted(format!(
            "--event {:?} is neither 'alert' (firing) nor 'resolved' (recovery)",
            event.trim()
        )),
    }
}

/// A macro Pandora did not substitute arrives literally, e.g. `_agent_` (reference §1.2).
fn looks_unsubstituted(value: &str) -> bool {
    value.len() > 2
        && value.starts_with('_')
        && value.ends_with('_')
        && value[1..value.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Longest `_homeurl_` used for links: Slack refuses a button URL over 3,000 characters, and
/// the agent and module paths are appended to it.
pub const LINK_BASE_MAX: usize = 2000;

/// The console URL links are built on: `_homeurl_` when it is an http(s) URL of sane length
/// without spaces or control characters (text from Pandora reaches Slack buttons, Teams
/// `Action.OpenUrl` and ilert links, so a `javascript:` URL must not); empty when none is
/// given. `Err` says why it is not used; the alert itself is never refused for it.
pub fn link_base(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    if url.is_empty() {
        return Ok(String::new());
    }
    let shown: String = url.chars().take(60).collect();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let host = url.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or("")
    });
    let why = if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        "it is not an http(s) URL"
    } else if url.chars().count() > LINK_BASE_MAX {
        "it is longer than 2,000 characters"
    } else if url.chars().any(|c| c.is_whitespace() || c.is_control())
        || url.contains(['"', '<', '>'])
    {
        "it contains spaces, quotes or control characters"
    } else if host.is_empty() {
        "it has no host"
    } else {
        return Ok(url.to_string());
    };
    Err(format!(
        "homeurl {shown:?} ignored for links ({why}); the alert is sent without console links"
    ))
}

/// A Pandora id used in console links: digits only (Pandora's ids are integers), else empty
/// with a warning.
fn link_id(name: &str, raw: &str, warnings: &mut Vec<String>) -> String {
    let id = raw.trim();
    if id.bytes().all(|b| b.is_ascii_digit()) {
        return id.to_string();
    }
    let shown: String = id.chars().take(40).collect();
    warnings.push(format!(
        "{name} {shown:?} is not a number; it is left out of the console links"
    ));
    String::new()
}

/// Empty, `N/A` and unsubstituted macros carry no information.
fn meaningful(value: &str) -> bool {
    let v = value.trim();
    !(v.is_empty() || v.eq_ignore_ascii_case("n/a") || looks_unsubstituted(v))
}

impl Alert {
    /// Builds an alert from command-line values. `key_prefix` comes from the config.
    pub fn from_input(input: &AlertInput, key_prefix: &str) -> Result<Alert, InputError> {
        let mut warnings = Vec::new();
        let mut recover_hint = false;
        let mut macros = BTreeMap::new();
        let mut text = |name: &str, value: &Option<String>, strip: bool| -> String {
            let Some(v) = value else { return String::new() };
            let (v, hinted) = if strip {
                strip_recover(v)
            } else {
                (v.as_str(), false)
            };
            recover_hint |= hinted;
            macros.insert(name.to_string(), v.to_string());
            if looks_unsubstituted(v.trim()) {
                warnings.push(format!("{name} is {v:?}: the macro was not substituted by Pandora; check the command definition"));
                return String::new();
            }
            v.to_string()
        };
        let event = text("event", &input.event, false);
        let alert_id = text("alert_id", &input.alert_id, true);
        let agent = text("agent", &input.agent, true);
        let module = text("module", &input.module, true);
        let data = text("data", &input.data, true);
        let unit = text("unit", &input.unit, true);
        let severity_text = text("severity", &input.severity, true);
        let priority = text("priority", &input.priority, true);
        let summary = text("summary", &input.summary, true);
        let details = text("details", &input.details, true);
        let timestamp_raw = text("timestamp", &input.timestamp, true);
        let group = text("group", &input.group, true);
        let tags = text("tags", &input.tags, true);
        let alert_name = text("alert_name", &input.alert_name, true);
        let homeurl = text("homeurl", &input.homeurl, true);
        let agent_id = text("agent_id", &input.agent_id, true);
        let module_id = text("module_id", &input.module_id, true);
        let address = text("address", &input.address, true);
        let times_fired = text("times_fired", &input.times_fired, true);
        for (name, value) in &input.extra {
            let (v, hinted) = strip_recover(value);
            recover_hint |= hinted;
            macros.insert(name.clone(), v.to_string());
        }
        let _ = (address, times_fired);

        let (kind, why) = kind_of(input.event.as_deref(), &event, recover_hint);
        warnings.extend(why);

        let alert_id = alert_id.trim().to_string();
        if !alert_id.is_empty() && !alert_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(InputError(format!(
                "--alert-id {alert_id:?} is not a number: pass \"_id_alert_\" directly on the command line \
                 (it must not travel in a field that gets a [RECOVER] prefix)"
            )));
        }
        let key = if !alert_id.is_empty() {
            format!("{key_prefix}{alert_id}")
        } else if meaningful(&agent) || meaningful(&module) {
            // Event and log alerts have no _id_alert_; agent + module is the next stable identity.
            warnings.push("no --alert-id: incident key derived from agent and module".into());
            format!(
                "{key_prefix}am-{}",
                fnv1a_hex(format!("{agent}\u{0}{module}").as_bytes())
            )
        } else {
            return Err(InputError(
                "no incident key: --alert-id is empty and so are --agent and --module; pass \"_id_alert_\"".into(),
            ));
        };

        let (severity, why) = Severity::resolve(&severity_text, &priority);
        warnings.extend(why);

        let timestamp_iso = if meaningful(&timestamp_raw) {
            let parsed = LocalDateTime::parse_pandora(&timestamp_raw).map(|t| t.iso());
            if parsed.is_none() {
                warnings.push(format!(
                    "--timestamp {timestamp_raw:?} is not YYYY/MM/DD HH:MM:SS or YYYY-MM-DD HH:MM:SS; kept as text"
                ));
            }
            parsed
        } else {
            None
        };

        Ok(Alert {
            kind,
            key,
            alert_id,
            agent: agent.trim().to_string(),
            module: module.trim().to_string(),
            data,
            unit,
            severity,
            priority: priority.trim().to_string(),
            summary: Some(summary).filter(|s| meaningful(s)),
            details: Some(details).filter(|s| meaningful(s)),
            timestamp_raw,
            timestamp_iso,
            group: group.trim().to_string(),
            tags: tags
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect(),
            alert_name,
            homeurl: link_base(&homeurl).unwrap_or_else(|why| {
                warnings.push(why);
                String::new()
            }),
            agent_id: link_id("agent_id", &agent_id, &mut warnings),
            module_id: link_id("module_id", &module_id, &mut warnings),
            macros,
            warnings,
        })
    }

    /// A short human name: `web-01 / CPU Load`.
    pub fn subject(&self) -> String {
        match (self.agent.is_empty(), self.module.is_empty()) {
            (false, false) => format!("{} / {}", self.agent, self.module),
            (false, true) => self.agent.clone(),
            (true, false) => self.module.clone(),
            (true, true) => format!("Pandora alert {}", self.alert_id),
        }
    }

    /// The value with its unit, `95.5%`, or empty.
    pub fn value(&self) -> String {
        if meaningful(&self.data) {
            format!("{}{}", self.data, self.unit)
        } else {
            String::new()
        }
    }
}

impl std::error::Error for InputError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(event: &str, id: &str) -> AlertInput {
        AlertInput {
            event: Some(event.into()),
            alert_id: Some(id.into()),
            agent: Some("web-01".into()),
            module: Some("CPU Load".into()),
            data: Some("95.5".into()),
            severity: Some("Critical".into()),
            ..Default::default()
        }
    }

    #[test]
    fn firing_and_recovery_are_recognised() {
        assert_eq!(
            Alert::from_input(&input("alert", "7"), "").unwrap().kind,
            AlertKind::Firing
        );
        assert_eq!(
            Alert::from_input(&input("resolved", "7"), "").unwrap().kind,
            AlertKind::Recovery
        );
    }

    #[test]
    fn recover_prefix_is_stripped_but_an_explicit_event_decides() {
        let mut i = input("alert", "7");
        i.summary = Some("[RECOVER][Critical] web-01 is back".into());
        i.agent = Some("[RECOVER]web-01".into());
        let a = Alert::from_input(&i, "").unwrap();
        assert_eq!(a.kind, AlertKind::Firing);
        assert_eq!(a.agent, "web-01");
        assert_eq!(a.summary.as_deref(), Some("[Critical] web-01 is back"));
        assert!(
            a.warnings.iter().any(|w| w.contains("[RECOVER]")),
            "{:?}",
            a.warnings
        );
        let mut d = input("alert", "7");
        d.data = Some("[RECOVER] log line".into());
        assert_eq!(Alert::from_input(&d, "").unwrap().kind, AlertKind::Firing);
    }

    #[test]
    fn recover_prefix_is_a_hint_when_event_is_missing_empty_or_unknown() {
        for event in [None, Some(""), Some("  "), Some("maybe")] {
            let mut i = input("", "7");
            i.event = event.map(str::to_string);
            i.agent = Some("[RECOVER]web-01".into());
            let a = Alert::from_input(&i, "").unwrap();
            assert_eq!(a.kind, AlertKind::Recovery, "{event:?}");
            assert!(a
                .warnings
                .iter()
                .any(|w| w.contains("treated as a recovery")));
            i.agent = Some("web-01".into());
            let b = Alert::from_input(&i, "").unwrap();
            assert_eq!(b.kind, AlertKind::Firing, "{event:?}");
            assert!(b.warnings.iter().any(|w| w.contains("treated as a firing")));
        }
        let mut i = input("maybe", "7");
        i.agent = Some("web-01".into());
        let w = Alert::from_input(&i, "").unwrap().warnings;
        assert!(w.iter().any(|w| w.contains("\"maybe\"")), "{w:?}");
    }

    #[test]
    fn key_comes_from_alert_id_never_from_recovered_text() {
        let a = Alert::from_input(&input("alert", "6182268"), "").unwrap();
        let mut r = input("resolved", "6182268");
        r.agent = Some("[RECOVER]web-01".into());
        let b = Alert::from_input(&r, "").unwrap();
        assert_eq!(a.key, "6182268");
        assert_eq!(a.key, b.key);
    }

    #[test]
    fn missing_alert_id_falls_back_to_agent_and_module() {
        let a = Alert::from_input(&input("alert", ""), "").unwrap();
        let mut r = input("resolved", "");
        r.module = Some("[RECOVER]CPU Load".into());
        let b = Alert::from_input(&r, "").unwrap();
        assert_eq!(a.key, b.key);
        assert!(a.key.starts_with("am-"));
    }

    #[test]
    fn non_numeric_id_is_an_input_error() {
        assert!(Alert::from_input(&input("alert", "12a"), "").is_err());
        // An unsubstituted macro is a warning, not a lost alert: the key falls back.
        let a = Alert::from_input(&input("alert", "_id_alert_"), "").unwrap();
        assert!(a.key.starts_with("am-") && !a.warnings.is_empty());
        let mut i = input("alert", "");
        i.agent = None;
        i.module = None;
        assert!(Alert::from_input(&i, "").is_err());
    }

    #[test]
    fn severity_accepts_names_and_numbers() {
        assert_eq!(Severity::resolve("", "4").0.as_str(), "Critical");
        assert_eq!(Severity::resolve("WARNING", "").0.as_str(), "Warning");
        assert!(Severity::resolve("Major", "").0.is_high());
        assert_eq!(Severity::resolve("critical", "").1, None);
    }

    #[test]
    fn unknown_or_missing_severity_is_kept_with_a_warning_naming_the_mapping() {
        let (s, w) = Severity::resolve("Crit", "");
        assert_eq!(s.as_str(), "Crit");
        let w = w.unwrap();
        assert!(w.contains("\"Crit\"") && w.contains("priority LOW"), "{w}");
        let (s, w) = Severity::resolve("Crit", "6");
        assert_eq!(s.as_str(), "Major");
        assert!(w.unwrap().contains("treated as 'Major' from --priority 6"));
        let (s, w) = Severity::resolve("", "6");
        assert_eq!(s.as_str(), "Major");
        assert!(w.unwrap().contains("from --priority 6"));
        let (s, w) = Severity::resolve("", "");
        assert_eq!(s.as_str(), "Critical");
        assert!(w.unwrap().contains("by default"));
        let mut i = input("alert", "7");
        i.severity = None;
        let a = Alert::from_input(&i, "").unwrap();
        assert!(a
            .warnings
            .iter()
            .any(|w| w.contains("--severity is missing")));
    }

    #[test]
    fn homeurl_is_a_link_only_when_it_is_a_sane_web_url() {
        assert_eq!(
            link_base(" https://pandora.example/console/ ").unwrap(),
            "https://pandora.example/console"
        );
        assert_eq!(link_base("").unwrap(), "");
        for bad in [
            "javascript:alert(1)",
            "JAVASCRIPT://%0aalert(1)",
            "data:text/html,x",
            "https://",
            "https://a.example/x y",
            "https://a.example/\"onmouseover",
        ] {
            let why = link_base(bad).unwrap_err();
            assert!(why.contains("ignored for links"), "{bad}: {why}");
        }
        let long = format!("https://a.example/{}", "x".repeat(3000));
        assert!(link_base(&long).unwrap_err().contains("2,000"));
    }
}
