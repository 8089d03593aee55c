//! `doctor`: do the ilert alert sources let our events do what the routes say? ilert honours an
//! event's `priority` only when the source's default priority is HIGH or a priority template
//! exists, and alert grouping merges different alertKeys so a RESOLVE by key stops matching
//! (reference ilert.md §1 "priority", "grouping"). With `[ilert] api_token` the sources are
//! read (`GET /api/alert-sources/{integration key}`); without it, the advice is printed.

use std::collections::HashSet;
use std::time::Duration;

use super::Check;
use crate::config::{Config, IlertApi, IlertPriority};
use crate::http::Http;
use crate::ilert_api::{IlertApi as RestApi, RestSource};

/// Groupings that merge events with different alertKeys into one alert.
const MERGING: [&str; 4] = [
    "ONE_PENDING_ALERT_ALLOWED",
    "ONE_OPEN_ALERT_ALLOWED",
    "ONE_ALERT_GROUPED_PER_WINDOW",
    "INTELLIGENT_GROUPING",
];

const ADVICE: &str = "in ilert, set the alert source's alert grouping to \"Do not group alerts\" \
                      and its default priority to HIGH (ilert then takes each event's priority); \
                      add [ilert] api_token so doctor can check it";

/// The checks for one source as ilert reports it; `sends_high`: some route of it can send a
/// HIGH event (a route pinned to `ilert_priority = "LOW"` cannot). Pure.
pub fn source_checks(name: &str, api: IlertApi, sends_high: bool, s: &RestSource) -> Vec<Check> {
    let mut out = Vec::new();
    let grouping = s.alert_creation.as_deref().unwrap_or("");
    if MERGING.contains(&grouping) {
        out.push(Check::warn(
            format!(
                "ilert alert source '{name}' ({}) groups alerts ({grouping}): different Pandora \
                 alerts merge into one ilert alert and a recovery (RESOLVE by alertKey) may not \
                 close it",
                s.name
            ),
            "in ilert, Alert sources > this source > Alert grouping: \"Do not group alerts\"",
        ));
    }
    let rule = s.priority_rule.as_deref().unwrap_or("HIGH");
    // A LOW source with routes that only send LOW does what the routes say; any other rule
    // overrides their priorities (support hours page HIGH by the clock).
    let routes_agree = rule == "LOW" && !sends_high;
    if api == IlertApi::Events && rule != "HIGH" && s.priority_template.is_none() && !routes_agree {
        out.push(Check::warn(
            format!(
                "ilert alert source '{name}' ({}) has default priority {rule}: ilert ignores the \
                 priority our events carry (Critical and Major page as HIGH, ilert_priority)",
                s.name
            ),
            "in ilert, set the source's priority to HIGH (not support hours or LOW), or add a \
             priority template",
        ));
    }
    if out.is_empty() {
        out.push(Check::ok(format!(
            "ilert alert source '{name}' ({}): no grouping, event priorities honoured",
            s.name
        )));
    }
    out
}

/// Reads every distinct alert source of the routes, or prints the advice without a token.
pub fn checks(config: &Config, http: &Http, timeout: Duration) -> Vec<Check> {
    let Some(api) = RestApi::new(config, http, timeout) else {
        return vec![Check::skip(format!(
            "ilert alert source settings: not read (no [ilert] api_token); {ADVICE}"
        ))];
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for route in &config.routes {
        let s = &route.source;
        if !seen.insert(s.key.expose().to_string()) {
            continue;
        }
        let sends_high = config
            .routes
            .iter()
            .filter(|r| r.source.key.expose() == s.key.expose())
            .any(|r| r.priority != Some(IlertPriority::Low));
        match api.source(&s.key) {
            Ok(rest) => out.extend(source_checks(&s.name, s.api, sends_high, &rest)),
            Err(e) => out.push(Check::warn(
                format!("ilert alert source '{}': {e}", s.name),
                ADVICE,
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn source(grouping: &str, rule: &str) -> RestSource {
        RestSource {
            id: 1,
            name: "Pandora".into(),
            alert_creation: Some(grouping.into()),
            priority_rule: Some(rule.into()),
            priority_template: None,
        }
    }

    #[test]
    fn grouping_and_a_low_default_priority_are_warned_about() {
        let c = source_checks(
            "db",
            IlertApi::Events,
            true,
            &source("INTELLIGENT_GROUPING", "LOW"),
        );
        assert_eq!(c.len(), 2);
        assert!(c.iter().all(|c| c.status == Status::Warn));
        let c = source_checks(
            "db",
            IlertApi::Events,
            true,
            &source("ONE_ALERT_PER_EMAIL", "HIGH"),
        );
        assert_eq!(c[0].status, Status::Ok);
        let c = source_checks(
            "db",
            IlertApi::Pandorafms,
            true,
            &source("ONE_ALERT_PER_EMAIL", "LOW"),
        );
        assert_eq!(
            c[0].status,
            Status::Ok,
            "the Pandora FMS endpoint sends no priority"
        );
        // Routes pinned to LOW on a LOW source: nothing is overridden. Support hours would
        // page them HIGH by the clock.
        let only_low = |rule| {
            source_checks(
                "db",
                IlertApi::Events,
                false,
                &source("ONE_ALERT_PER_EMAIL", rule),
            )
        };
        assert_eq!(only_low("LOW")[0].status, Status::Ok);
        assert_eq!(
            only_low("HIGH_DURING_SUPPORT_HOURS")[0].status,
            Status::Warn
        );
    }
}
