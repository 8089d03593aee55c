//! Routing rules: which route an alert takes. Pure functions over plain data.

use crate::config::{Config, Route};
use crate::pandora::{Alert, SEVERITY_NAMES};

/// A case-insensitive glob with `*` and `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<char>,
}

impl Glob {
    /// Compiles a pattern.
    pub fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.to_lowercase().chars().collect(),
        }
    }

    /// The pattern as written (lowercased).
    pub fn as_string(&self) -> String {
        self.pattern.iter().collect()
    }

    /// True when `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.to_lowercase().chars().collect();
        // Iterative wildcard match with single backtrack point: linear in practice.
        let (mut p, mut t) = (0, 0);
        let (mut star, mut mark) = (None, 0);
        while t < text.len() {
            if p < self.pattern.len() && (self.pattern[p] == '?' || self.pattern[p] == text[t]) {
                p += 1;
                t += 1;
            } else if p < self.pattern.len() && self.pattern[p] == '*' {
                star = Some(p);
                mark = t;
                p += 1;
            } else if let Some(s) = star {
                p = s + 1;
                mark += 1;
                t = mark;
            } else {
                return false;
            }
        }
        self.pattern[p..].iter().all(|c| *c == '*')
    }
}

/// Checks a route's `severities` entry: it must match one of Pandora's severity names or
/// priority numbers 0-6, else the route would silently never match (issue #11 item 4). The
/// error names the entry and suggests the closest name.
pub fn check_severity_pattern(pattern: &str) -> Result<(), String> {
    let glob = Glob::new(pattern.trim());
    let numbers = ["0", "1", "2", "3", "4", "5", "6"];
    if SEVERITY_NAMES
        .iter()
        .chain(numbers.iter())
        .any(|n| glob.matches(n))
    {
        return Ok(());
    }
    // Compared in Pandora's capitalisation so "CRITCAL" and "critcal" find "Critical".
    let lower = pattern.trim().to_lowercase();
    let mut chars = lower.chars();
    let capitalised: String = chars
        .next()
        .into_iter()
        .flat_map(char::to_uppercase)
        .chain(chars)
        .collect();
    Err(format!(
        "severity {pattern:?} is not a Pandora severity ({} or 0-6){}",
        SEVERITY_NAMES.join(", "),
        crate::config::suggestion(&capitalised, &SEVERITY_NAMES)
    ))
}

/// The conditions of a route; every non-empty list must have a match (AND), any glob in a
/// list may match (OR).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteMatch {
    /// Agent group names.
    pub groups: Vec<Glob>,
    /// Agent names or aliases.
    pub agents: Vec<Glob>,
    /// Module names.
    pub modules: Vec<Glob>,
    /// Severity text (`Critical`, `Warning`, …) or priority number (`4`).
    pub severities: Vec<Glob>,
    /// Module tags.
    pub tags: Vec<Glob>,
}

impl RouteMatch {
    /// A route with no conditions matches every alert.
    pub fn is_catch_all(&self) -> bool {
        self.groups.is_empty()
            && self.agents.is_empty()
            && self.modules.is_empty()
            && self.severities.is_empty()
            && self.tags.is_empty()
    }

    /// True when the alert satisfies every condition.
    pub fn matches(&self, alert: &Alert) -> bool {
        let any = |globs: &[Glob], values: &[&str]| {
            globs.is_empty() || globs.iter().any(|g| values.iter().any(|v| g.matches(v)))
        };
        let severity_values = [alert.severity.as_str(), alert.priority.as_str()];
        let tags: Vec<&str> = alert.tags.iter().map(String::as_str).collect();
        any(&self.groups, &[alert.group.as_str()])
            && any(&self.agents, &[alert.agent.as_str()])
            && any(&self.modules, &[alert.module.as_str()])
            && any(&self.severities, &severity_values)
            && any(&self.tags, &tags)
    }

    /// A one-line description for `config check`.
    pub fn describe(&self) -> String {
        if self.is_catch_all() {
            return "every alert (default route)".into();
        }
        let mut parts = Vec::new();
        for (name, globs) in [
            ("group", &self.groups),
            ("agent", &self.agents),
            ("module", &self.modules),
            ("severity", &self.severities),
            ("tag", &self.tags),
        ] {
            if !globs.is_empty() {
                let list: Vec<String> = globs.iter().map(Glob::as_string).collect();
                parts.push(format!("{name} in [{}]", list.join(", ")));
            }
        }
        parts.join(" and ")
    }
}

/// The first route whose conditions match, or the forced one.
pub fn select<'c>(config: &'c Config, alert: &Alert, forced: Option<&str>) -> Option<&'c Route> {
    match forced {
        Some(name) => config.route(name),
        None => config.routes.iter().find(|r| r.matcher.matches(alert)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_patterns_must_name_a_pandora_severity() {
        for ok in ["Critical", "critical", "4", "Ma*", "*", "Warn*"] {
            assert_eq!(check_severity_pattern(ok), Ok(()), "{ok}");
        }
        let e = check_severity_pattern("Critcal").unwrap_err();
        assert!(e.contains("did you mean 'Critical'?"), "{e}");
        let e = check_severity_pattern("WARNNG").unwrap_err();
        assert!(e.contains("did you mean 'Warning'?"), "{e}");
        let e = check_severity_pattern("9").unwrap_err();
        assert!(e.contains("\"9\"") && !e.contains("did you mean"), "{e}");
    }

    #[test]
    fn globs_match_case_insensitively() {
        assert!(Glob::new("db-*").matches("DB-01"));
        assert!(Glob::new("*cpu*").matches("Host CPU Load"));
        assert!(Glob::new("web-0?").matches("web-07"));
        assert!(!Glob::new("web-0?").matches("web-10"));
        assert!(Glob::new("*").matches(""));
        assert!(!Glob::new("a*b").matches("acbx"));
        assert!(Glob::new("a*b*c").matches("aXXbYYc"));
    }
}
