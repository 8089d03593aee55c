//! The text of an alert read from the Pandora database instead of the command line, and how
//! it completes an `Alert`. With the safe command definition only numbers reach the command
//! line (`_id_alert_`, `_id_agent_`, `_id_module_`, priority, times fired, the server's
//! `_timestamp_`); the agent, module, data and template text come from here, already decoded
//! (see `entities`). Pure: no database access here (that is `pandora_db`, at the edge).

use super::{Alert, Severity};

/// The numbers the command line carries, which the database is asked about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlertIds {
    /// `_id_alert_` (`talert_template_modules.id`).
    pub alert: Option<u64>,
    /// `_id_agent_` (`tagente.id_agente`).
    pub agent: Option<u64>,
    /// `_id_module_` (`tagente_modulo.id_agente_modulo`).
    pub module: Option<u64>,
}

impl AlertIds {
    /// The ids of an alert built from the command line; anything not all digits is absent.
    pub fn of(alert: &Alert) -> AlertIds {
        let id = |s: &str| {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                s.parse().ok()
            }
        };
        AlertIds {
            alert: id(&alert.alert_id),
            agent: id(&alert.agent_id),
            module: id(&alert.module_id),
        }
    }

    /// True when there is something to look up by: the alert or the module.
    pub fn can_look_up(&self) -> bool {
        self.alert.is_some() || self.module.is_some()
    }
}

/// What Pandora's database says about one alert, decoded to plain text. Empty strings for
/// what it does not know (no template for a module id alone, no state row yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertDetails {
    /// `tagente.id_agente`.
    pub agent_id: u64,
    /// `tagente_modulo.id_agente_modulo`.
    pub module_id: u64,
    /// `_agent_`: the alias, else the agent's name.
    pub agent: String,
    /// `_agentname_`: the internal name (often a hash in 7.x).
    pub agent_name: String,
    /// `_address_`.
    pub address: String,
    /// `_agentgroup_`.
    pub group: String,
    /// `_module_`.
    pub module: String,
    /// `_moduledescription_`.
    pub module_description: String,
    /// `_data_`: the module's current value.
    pub data: String,
    /// `_dataunit_`.
    pub unit: String,
    /// `_modulestatus_`: `Normal`, `Critical`, `Warning`, `Unknown`, `Not init`, or empty.
    pub module_status: String,
    /// `_alert_name_`.
    pub alert_name: String,
    /// `_alert_description_`.
    pub alert_description: String,
    /// `_alert_priority_` of the template (0-6), empty without a template.
    pub priority: String,
    /// `_moduletags_`.
    pub tags: Vec<String>,
    /// `_homeurl_`: the console's `public_url`.
    pub homeurl: String,
}

/// `_modulestatus_` of `tagente_estado.estado` (reference pandora-db.md).
pub fn module_status_name(estado: i64) -> &'static str {
    match estado {
        0 => "Normal",
        1 => "Critical",
        2 => "Warning",
        3 => "Unknown",
        4 => "Not init",
        _ => "",
    }
}

/// Pandora keeps numeric data with trailing zeros (`95.50000`); people read `95.5`. Text
/// data is left as it is.
pub fn tidy_number(data: &str) -> String {
    let t = data.trim();
    let (int, frac) = match t.split_once('.') {
        Some(p) => p,
        None => return data.to_string(),
    };
    let digits = int.strip_prefix('-').unwrap_or(int);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || frac.is_empty()
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return data.to_string();
    }
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Completes `alert` with what the database said. A value the command line gave wins; only
/// empty fields are filled. Nothing here goes through the command-line clean-up (`[RECOVER]`
/// stripping, unsubstituted-macro checks): an agent that names itself `[RECOVER]x` or
/// `_agent_` is shown as exactly that and cannot turn a firing into a recovery.
pub fn apply_details(alert: &mut Alert, d: &AlertDetails) {
    fn fill(slot: &mut String, value: &str) {
        if slot.trim().is_empty() {
            *slot = value.trim().to_string();
        }
    }
    fill(&mut alert.agent, &d.agent);
    fill(&mut alert.module, &d.module);
    fill(&mut alert.data, &tidy_number(&d.data));
    fill(&mut alert.unit, &d.unit);
    fill(&mut alert.group, &d.group);
    fill(&mut alert.alert_name, &d.alert_name);
    fill(&mut alert.homeurl, d.homeurl.trim_end_matches('/'));
    if alert.agent_id.is_empty() && d.agent_id != 0 {
        alert.agent_id = d.agent_id.to_string();
    }
    if alert.module_id.is_empty() && d.module_id != 0 {
        alert.module_id = d.module_id.to_string();
    }
    if alert.tags.is_empty() {
        alert.tags = d.tags.clone();
    }
    if alert.details.is_none() && !d.alert_description.trim().is_empty() {
        alert.details = Some(d.alert_description.trim().to_string());
    }
    let severity_given = alert
        .macros
        .get("severity")
        .is_some_and(|s| !s.trim().is_empty());
    if alert.priority.is_empty() && !severity_given && !d.priority.is_empty() {
        alert.priority = d.priority.clone();
        alert.severity = Severity::resolve("", &d.priority).0;
    }
    let tags = d.tags.join(",");
    let data = tidy_number(&d.data);
    for (name, value) in [
        ("agent", d.agent.as_str()),
        ("agent_name", &d.agent_name),
        ("address", &d.address),
        ("group", &d.group),
        ("module", &d.module),
        ("module_description", &d.module_description),
        ("module_status", &d.module_status),
        ("data", &data),
        ("unit", &d.unit),
        ("alert_name", &d.alert_name),
        ("tags", &tags),
        ("homeurl", &d.homeurl),
    ] {
        let given = alert.macros.get(name).is_some_and(|v| !v.trim().is_empty());
        if !given && !value.trim().is_empty() {
            alert.macros.insert(name.into(), value.trim().to_string());
        }
    }
    alert
        .macros
        .insert("details_source".into(), FROM_DATABASE.into());
}

/// Marks an alert whose details could not be read: it still pages, with what the command line
/// carried, and says so. `why` is one line (no password in it: `pandora_db` never puts one in
/// an error).
pub fn mark_unavailable(alert: &mut Alert, why: &str) {
    let mut ids = Vec::new();
    if !alert.agent_id.is_empty() {
        ids.push(format!("agent id {}", alert.agent_id));
    }
    if !alert.module_id.is_empty() {
        ids.push(format!("module id {}", alert.module_id));
    }
    let ids = if ids.is_empty() {
        String::new()
    } else {
        format!(" ({})", ids.join(", "))
    };
    if alert.summary.is_none() && alert.agent.is_empty() && alert.module.is_empty() {
        alert.summary = Some(format!(
            "[{}] Pandora alert {}{ids}: details unavailable",
            alert.severity, alert.alert_id
        ));
    }
    let mut text = format!(
        "Details unavailable: pandora-ilert could not read agent, module and data from the Pandora \
         database ({why}). Look the alert up in the Pandora console: alert id {}{ids}.",
        alert.alert_id
    );
    if let Some(fired) = alert.macros.get("times_fired").filter(|v| !v.is_empty()) {
        text.push_str(&format!(" Fired {fired} time(s) in Pandora."));
    }
    alert.details = Some(match alert.details.take() {
        Some(d) => format!("{d}\n\n{text}"),
        None => text,
    });
    alert
        .macros
        .insert("details_source".into(), format!("unavailable: {why}"));
    alert.warnings.push(format!(
        "details unavailable from the Pandora database: {why}; paged with the ids only"
    ));
}

/// The source tag `apply_details` leaves in an alert's macros.
const FROM_DATABASE: &str = "pandora database";

/// When an incident's first alert paged without its text (the database could not be read) and
/// a later run of the same alert read it, gives the first alert the names, so the chat
/// message rendered from it says which agent and module this is. What fired first (time,
/// severity, value) stays. Returns whether anything changed.
pub fn backfill(first: &mut Alert, later: &Alert) -> bool {
    let source = |a: &Alert| a.macros.get("details_source").cloned().unwrap_or_default();
    if !source(first).starts_with("unavailable") || source(later) != FROM_DATABASE {
        return false;
    }
    first.agent = later.agent.clone();
    first.module = later.module.clone();
    first.unit = later.unit.clone();
    first.group = later.group.clone();
    first.alert_name = later.alert_name.clone();
    first.tags = later.tags.clone();
    first.details = later.details.clone();
    if first.homeurl.is_empty() {
        first.homeurl = later.homeurl.clone();
    }
    if first.agent_id.is_empty() {
        first.agent_id = later.agent_id.clone();
    }
    if first.module_id.is_empty() {
        first.module_id = later.module_id.clone();
    }
    // The title was the "details unavailable" placeholder: the route's template applies now.
    first.summary = later.summary.clone();
    for (k, v) in &later.macros {
        first.macros.entry(k.clone()).or_insert_with(|| v.clone());
    }
    first.macros.insert(
        "details_source".into(),
        format!("{FROM_DATABASE} (read by a later run)"),
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pandora::AlertInput;

    fn safe_alert() -> Alert {
        let input = AlertInput {
            event: Some("alert".into()),
            alert_id: Some("42".into()),
            agent_id: Some("12".into()),
            module_id: Some("345".into()),
            priority: Some("4".into()),
            times_fired: Some("3".into()),
            timestamp: Some("2026-11-24 02:21:59".into()),
            ..Default::default()
        };
        Alert::from_input(&input, "").unwrap()
    }

    fn details() -> AlertDetails {
        AlertDetails {
            agent_id: 12,
            module_id: 345,
            agent: "[RECOVER]O'Brien $(id)".into(),
            agent_name: "a1b2c3".into(),
            group: "Servers".into(),
            module: "_module_".into(),
            data: "95.50000".into(),
            unit: "%".into(),
            module_status: "Critical".into(),
            alert_name: "Critical condition".into(),
            alert_description: "Café is down".into(),
            priority: "6".into(),
            tags: vec!["db".into(), "prod".into()],
            homeurl: "http://pandora.example/pandora_console/".into(),
            ..Default::default()
        }
    }

    #[test]
    fn ids_are_read_from_digits_only() {
        let a = safe_alert();
        assert_eq!(
            AlertIds::of(&a),
            AlertIds {
                alert: Some(42),
                agent: Some(12),
                module: Some(345)
            }
        );
        let mut b = a.clone();
        b.module_id = "_id_module_".into();
        b.alert_id = String::new();
        assert_eq!(AlertIds::of(&b).module, None);
        assert!(!AlertIds::of(&b).can_look_up());
    }

    #[test]
    fn database_text_fills_the_alert_verbatim() {
        let mut a = safe_alert();
        apply_details(&mut a, &details());
        assert_eq!(a.agent, "[RECOVER]O'Brien $(id)");
        assert_eq!(a.module, "_module_");
        assert_eq!(a.data, "95.5");
        assert_eq!(a.value(), "95.5%");
        assert_eq!(a.kind, crate::pandora::AlertKind::Firing);
        assert_eq!(a.homeurl, "http://pandora.example/pandora_console");
        assert_eq!(a.tags, ["db", "prod"]);
        assert_eq!(a.details.as_deref(), Some("Café is down"));
        // The command line's priority (4) wins over the template's (6).
        assert_eq!(a.severity.as_str(), "Critical");
        assert_eq!(a.macros["agent_name"], "a1b2c3");
        assert_eq!(a.macros["module_status"], "Critical");
        assert_eq!(a.macros["details_source"], "pandora database");
    }

    #[test]
    fn template_priority_is_used_when_the_command_line_has_none() {
        let mut a = safe_alert();
        a.priority = String::new();
        a.macros.remove("priority");
        apply_details(&mut a, &details());
        assert_eq!(a.severity.as_str(), "Major");
    }

    #[test]
    fn command_line_values_win() {
        let mut a = safe_alert();
        a.agent = "given".into();
        apply_details(&mut a, &details());
        assert_eq!(a.agent, "given");
        assert_eq!(a.module, "_module_");
    }

    #[test]
    fn unavailable_details_still_name_the_alert() {
        let mut a = safe_alert();
        mark_unavailable(&mut a, "cannot connect: connection refused");
        assert_eq!(
            a.summary.as_deref(),
            Some("[Critical] Pandora alert 42 (agent id 12, module id 345): details unavailable")
        );
        let d = a.details.unwrap();
        assert!(d.contains("(cannot connect: connection refused)"), "{d}");
        assert!(d.contains("Fired 3 time(s)"), "{d}");
        assert!(a.macros["details_source"].starts_with("unavailable"));
    }

    #[test]
    fn a_later_run_with_details_fills_a_first_alert_without() {
        let mut first = safe_alert();
        mark_unavailable(&mut first, "timeout");
        let mut later = safe_alert();
        apply_details(&mut later, &details());
        assert!(backfill(&mut first, &later));
        assert_eq!(first.agent, "[RECOVER]O'Brien $(id)");
        assert_eq!(first.summary, None);
        assert_eq!(first.timestamp_raw, "2026-11-24 02:21:59");
        assert!(first.macros["details_source"].starts_with("pandora database"));
        // Only once, and never over details that were read.
        assert!(!backfill(&mut first, &later));
        let mut read = safe_alert();
        apply_details(&mut read, &details());
        assert!(!backfill(&mut read, &later));
    }

    #[test]
    fn numbers_lose_trailing_zeros_and_text_stays() {
        assert_eq!(tidy_number("95.50000"), "95.5");
        assert_eq!(tidy_number("-12.00000"), "-12");
        assert_eq!(tidy_number("3"), "3");
        assert_eq!(tidy_number("v1.10"), "v1.10");
        assert_eq!(tidy_number("1.2.0"), "1.2.0");
        assert_eq!(tidy_number(".50"), ".50");
    }
}
