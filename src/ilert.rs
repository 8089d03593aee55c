//! ilert: the event payloads we send (pure) and the one call that sends them.
//!
//! Two endpoints (reference ilert.md): the generic events API `POST /api/events` with the
//! integration key in the body, and ilert's Pandora FMS endpoint
//! `POST /api/v1/events/pandorafms/{key}`. The outbox stores the body *without* the key; the
//! key is added at send time from the config, so keys never sit in the spool.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::config::{AlertSource, Config, IlertApi, IlertPriority, Route};
use crate::http::{encode_component, Http, Request, Response, TransportError};
use crate::incident::Incident;
use crate::pandora::Alert;
use crate::text::truncate_chars;

/// Longest summary we send; ilert truncates long titles (reference: keep under 255).
pub const SUMMARY_MAX_CHARS: usize = 255;
/// Longest details text we send; the rest stays in custom details.
pub const DETAILS_MAX_CHARS: usize = 60_000;

/// ilert event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IlertEventType {
    /// Open (or append to) an alert.
    Alert,
    /// Acknowledge.
    Accept,
    /// Resolve.
    Resolve,
    /// Add a comment.
    Comment,
}

impl IlertEventType {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IlertEventType::Alert => "ALERT",
            IlertEventType::Accept => "ACCEPT",
            IlertEventType::Resolve => "RESOLVE",
            IlertEventType::Comment => "COMMENT",
        }
    }
}

/// An event ready to send, minus the integration key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IlertEvent {
    /// Name of the alert source (route name for inline keys).
    pub source: String,
    /// Endpoint.
    pub api: IlertApi,
    /// Event type.
    pub event_type: IlertEventType,
    /// The alertKey / incidentKey.
    pub alert_key: String,
    /// The JSON body without `integrationKey`.
    pub body: Value,
}

impl IlertEvent {
    /// True for an event that pages with high urgency: `priority: HIGH` on the events API, a
    /// Critical or Major severity on the Pandora FMS endpoint (which has no priority field).
    pub fn is_high_priority(&self) -> bool {
        match self.api {
            IlertApi::Events => self.body.get("priority").and_then(Value::as_str) == Some("HIGH"),
            IlertApi::Pandorafms => matches!(
                self.body
                    .pointer("/details/priority")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .as_deref(),
                Some("critical" | "major")
            ),
        }
    }
}

/// Builds the event for an alert on a route. Pure.
pub fn render(
    event_type: IlertEventType,
    alert: &Alert,
    incident: &Incident,
    route: &Route,
    config: &Config,
) -> IlertEvent {
    let recovered = event_type == IlertEventType::Resolve;
    let summary = summary(alert, route, config, recovered);
    let details = truncate_chars(&details_text(alert, incident, recovered), DETAILS_MAX_CHARS);
    let body = match route.source.api {
        IlertApi::Events => {
            let mut body = Map::new();
            body.insert("eventType".into(), json!(event_type.as_str()));
            body.insert("alertKey".into(), json!(alert.key));
            body.insert("summary".into(), json!(summary));
            body.insert("details".into(), json!(details));
            if event_type == IlertEventType::Alert {
                let priority = route.priority.unwrap_or(if alert.severity.is_high() {
                    IlertPriority::High
                } else {
                    IlertPriority::Low
                });
                body.insert(
                    "priority".into(),
                    serde_json::to_value(priority).unwrap_or(Value::Null),
                );
                if let Some(severity) = ilert_severity(alert.severity.as_str()) {
                    body.insert("severity".into(), json!(severity));
                }
                body.insert("labels".into(), labels(alert, route));
                if let Some(key) = &route.routing_key {
                    body.insert("routingKey".into(), json!(key));
                }
            }
            let links = links(alert, config);
            if !links.is_empty() {
                body.insert("links".into(), Value::Array(links));
            }
            body.insert(
                "customDetails".into(),
                custom_details(alert, incident, route),
            );
            Value::Object(body)
        }
        IlertApi::Pandorafms => json!({
            "eventType": if recovered { "resolved" } else { "alert" },
            "title": summary,
            "description": details,
            "incidentKey": alert.key,
            "details": {
                "agentName": alert.agent,
                "createdAt": alert.timestamp_raw,
                "priority": alert.severity.as_str(),
                "moduleName": alert.module,
                "moduleData": alert.value(),
            }
        }),
    };
    IlertEvent {
        source: route.source.name.clone(),
        api: route.source.api,
        event_type,
        alert_key: alert.key.clone(),
        body,
    }
}

/// The summary: the action's own text if it gave one, else the route's or global template.
pub fn summary(alert: &Alert, route: &Route, config: &Config, recovered: bool) -> String {
    let base = match &alert.summary {
        Some(s) => s.clone(),
        None => {
            let template = route
                .summary_template
                .as_deref()
                .unwrap_or(&config.summary_template);
            render_template(template, alert)
        }
    };
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = if recovered && !base.to_ascii_uppercase().contains("RECOVER") {
        format!("[RECOVERED] {base}")
    } else {
        base
    };
    truncate_chars(&text, SUMMARY_MAX_CHARS)
}

/// The placeholders a `summary_template` may use.
pub const SUMMARY_PLACEHOLDERS: [&str; 9] = [
    "severity",
    "agent",
    "module",
    "data",
    "unit",
    "value",
    "group",
    "alert_name",
    "id",
];

/// Fills `{severity} {agent} {module} {data} {unit} {value} {group} {alert_name} {id}` in one
/// pass: a value containing `{id}` is not filled again.
pub fn render_template(template: &str, alert: &Alert) -> String {
    let value = alert.value();
    let data = if value.is_empty() {
        ""
    } else {
        alert.data.as_str()
    };
    let unit = if data.is_empty() {
        ""
    } else {
        alert.unit.as_str()
    };
    let out = crate::template::render(template, |name| match name {
        "severity" => Some(alert.severity.as_str()),
        "agent" => Some(alert.agent.as_str()),
        "module" => Some(alert.module.as_str()),
        "data" => Some(data),
        "unit" => Some(unit),
        "value" => Some(value.as_str()),
        "group" => Some(alert.group.as_str()),
        "alert_name" => Some(alert.alert_name.as_str()),
        "id" => Some(alert.alert_id.as_str()),
        _ => None,
    });
    // "… = " with no value reads badly: drop the dangling separator.
    out.trim_end()
        .trim_end_matches(['=', ':'])
        .trim_end()
        .to_string()
}

fn details_text(alert: &Alert, incident: &Incident, recovered: bool) -> String {
    let mut s = String::new();
    let state = if recovered { "RECOVERED" } else { "FIRING" };
    let drill = if incident.drill {
        " (DRILL: a test, no action needed)"
    } else {
        ""
    };
    let _ = writeln!(s, "Pandora FMS alert {state}{drill}");
    let mut row = |label: &str, value: &str| {
        if !value.trim().is_empty() {
            let _ = writeln!(s, "{label:<10} {value}");
        }
    };
    row("Agent:", &alert.agent);
    row("Group:", &alert.group);
    row("Module:", &alert.module);
    row("Value:", &alert.value());
    row("Severity:", alert.severity.as_str());
    row("Alert:", &alert.alert_name);
    let when = match &alert.timestamp_iso {
        Some(_) => format!("{} (Pandora local time)", alert.timestamp_raw),
        None => alert.timestamp_raw.clone(),
    };
    row("Time:", &when);
    if !recovered {
        row("Fired:", &format!("{} time(s)", incident.times_fired));
    }
    if let Some(d) = &alert.details {
        s.push('\n');
        s.push_str(d);
    }
    s.trim_end().to_string()
}

fn links(alert: &Alert, config: &Config) -> Vec<Value> {
    let base = if !alert.homeurl.is_empty() {
        Some(alert.homeurl.clone())
    } else {
        config.console_url.clone()
    };
    let Some(base) = base else { return Vec::new() };
    let mut out = Vec::new();
    if !alert.agent_id.is_empty() {
        out.push(json!({
            "href": format!("{base}/index.php?sec=estado&sec2=operation/agentes/ver_agente&id_agente={}", alert.agent_id),
            "text": format!("Agent {} in Pandora FMS", alert.agent),
        }));
        out.push(json!({
            "href": format!("{base}/index.php?sec=estado&sec2=operation/agentes/ver_agente&id_agente={}&tab=alert", alert.agent_id),
            "text": "Alerts of this agent",
        }));
    }
    if !alert.module_id.is_empty() {
        out.push(json!({
            "href": format!(
                "{base}/operation/agentes/stat_win.php?type=sparse&period=86400&id={}&refresh=600",
                alert.module_id
            ),
            "text": format!("Graph of {}", alert.module),
        }));
    }
    if out.is_empty() {
        out.push(json!({"href": base, "text": "Pandora FMS console"}));
    }
    out
}

/// ilert's `severity` (1..5, "will overwrite the evaluated severity of the alert source",
/// reference ilert.md §1) from Pandora's. ilert documents the range, not its direction; we send
/// 1 for the most severe, as SEV-1 reads everywhere. Unknown severities send none.
pub fn ilert_severity(pandora_severity: &str) -> Option<u8> {
    match pandora_severity.trim().to_ascii_lowercase().as_str() {
        "critical" => Some(1),
        "major" => Some(2),
        "minor" => Some(3),
        "warning" => Some(4),
        "informational" | "normal" | "maintenance" => Some(5),
        _ => None,
    }
}

/// ilert `labels` (string to string, attached to the alert): where the alert comes from.
fn labels(alert: &Alert, route: &Route) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("group", alert.group.as_str()),
        ("agent", alert.agent.as_str()),
        ("module", alert.module.as_str()),
        ("route", route.name.as_str()),
    ] {
        if !v.trim().is_empty() {
            m.insert(k.into(), json!(v.trim()));
        }
    }
    Value::Object(m)
}

fn custom_details(alert: &Alert, incident: &Incident, route: &Route) -> Value {
    let mut m = Map::new();
    for (k, v) in alert.macros.iter().filter(|(_, v)| !v.is_empty()) {
        m.insert(k.clone(), json!(v));
    }
    m.insert("pandora_route".into(), json!(route.name));
    m.insert("incident_seq".into(), json!(incident.seq));
    m.insert("times_fired".into(), json!(incident.times_fired));
    if incident.drill {
        m.insert("drill".into(), json!(true));
    }
    Value::Object(m)
}

/// The endpoint URL and final body for an event; `key` is inserted here only.
pub fn request(config: &Config, source: &AlertSource, event: &IlertEvent) -> Request {
    match event.api {
        IlertApi::Events => {
            let mut body = event.body.clone();
            if let Value::Object(m) = &mut body {
                m.insert("integrationKey".into(), json!(source.key.expose()));
            }
            Request::new("POST", format!("{}/api/events", config.ilert_url)).json(body)
        }
        IlertApi::Pandorafms => Request::new(
            "POST",
            format!(
                "{}/api/v1/events/pandorafms/{}",
                config.ilert_url,
                encode_component(source.key.expose())
            ),
        )
        .json(event.body.clone()),
    }
}

/// The same request as `request`, with the key redacted, for `--dry-run` and logs.
pub fn redacted_request(
    config: &Config,
    source: &AlertSource,
    event: &IlertEvent,
) -> (String, String, Value) {
    match event.api {
        IlertApi::Events => {
            let mut body = event.body.clone();
            if let Value::Object(m) = &mut body {
                m.insert("integrationKey".into(), json!(source.key.redacted()));
            }
            (
                "POST".into(),
                format!("{}/api/events", config.ilert_url),
                body,
            )
        }
        IlertApi::Pandorafms => (
            "POST".into(),
            format!(
                "{}/api/v1/events/pandorafms/{}",
                config.ilert_url,
                source.key.redacted()
            ),
            event.body.clone(),
        ),
    }
}

/// Sends one event.
pub fn send(
    http: &Http,
    config: &Config,
    source: &AlertSource,
    event: &IlertEvent,
    timeout: std::time::Duration,
) -> Result<Response, TransportError> {
    http.send(&request(config, source, event), timeout)
}

/// Keys of ilert's legacy heartbeat alert sources start with this; they are pinged at the old
/// endpoint, every other key at the heartbeat host (ilagent `src/hbt.rs`, reference ilert.md §3).
pub const LEGACY_HEARTBEAT_PREFIX: &str = "il1hbt";

/// The ping for a heartbeat key: legacy keys `GET {api_url}/api/heartbeats/{key}`, heartbeat
/// monitors `HEAD {heartbeat_url}/api/pings/{key}` (as ilert's own clients send them).
pub fn heartbeat_request(config: &Config, key: &crate::config::Secret) -> Request {
    let key = encode_component(key.expose());
    if key.starts_with(LEGACY_HEARTBEAT_PREFIX) {
        Request::new("GET", format!("{}/api/heartbeats/{key}", config.ilert_url))
    } else {
        Request::new("HEAD", format!("{}/api/pings/{key}", config.heartbeat_url))
    }
}

/// Pings a heartbeat (see `heartbeat_request`).
pub fn heartbeat(
    http: &Http,
    config: &Config,
    key: &crate::config::Secret,
    timeout: std::time::Duration,
) -> Result<Response, TransportError> {
    http.send(&heartbeat_request(config, key), timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> Config {
        let text = format!(
            "[ilert]\napi_url = \"https://api.example\"\nheartbeat_url = \"https://beat.example/\"\n{extra}\n\
             [[route]]\nname = \"default\"\nilert_key = \"k\"\n"
        );
        Config::parse(std::path::Path::new("t.toml"), &text).unwrap()
    }

    #[test]
    fn legacy_heartbeat_keys_use_the_old_endpoint_others_the_beat_host() {
        let c = config("");
        let legacy = heartbeat_request(&c, &crate::config::Secret::new("il1hbt123"));
        assert_eq!(
            (legacy.method, legacy.url.as_str()),
            ("GET", "https://api.example/api/heartbeats/il1hbt123")
        );
        let monitor = heartbeat_request(&c, &crate::config::Secret::new("hb2 x"));
        assert_eq!(
            (monitor.method, monitor.url.as_str()),
            ("HEAD", "https://beat.example/api/pings/hb2%20x")
        );
    }

    #[test]
    fn pandora_severities_map_onto_ilert_one_to_five() {
        let got: Vec<Option<u8>> = [
            "Critical",
            "Major",
            "Minor",
            "Warning",
            "Informational",
            "Normal",
            "Maintenance",
            "Odd",
        ]
        .iter()
        .map(|s| ilert_severity(s))
        .collect();
        assert_eq!(
            got,
            [
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(5),
                Some(5),
                Some(5),
                None
            ]
        );
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        let s = "é".repeat(300);
        let t = truncate_chars(&s, SUMMARY_MAX_CHARS);
        assert_eq!(t.chars().count(), SUMMARY_MAX_CHARS);
        assert!(t.ends_with('…'));
        assert_eq!(truncate_chars("short", 10), "short");
    }

    #[test]
    fn template_values_are_not_substituted_into_each_other() {
        let input = crate::pandora::AlertInput {
            event: Some("alert".into()),
            alert_id: Some("42".into()),
            agent: Some("web-{id}".into()),
            module: Some("{value} {agent}".into()),
            data: Some("9".into()),
            severity: Some("Critical".into()),
            ..Default::default()
        };
        let alert = Alert::from_input(&input, "").unwrap();
        assert_eq!(
            render_template(
                "[{severity}] {agent} / {module} = {value} #{id} {nope}",
                &alert
            ),
            "[Critical] web-{id} / {value} {agent} = 9 #42 {nope}"
        );
    }
}
