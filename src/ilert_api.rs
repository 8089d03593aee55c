//! ilert's REST API with a user API key (`[ilert] api_token`, optional): the alert source
//! behind an integration key, the alert behind an alertKey, and accept/resolve by alert id.
//! Reference ilert.md §4: `Authorization: Bearer <token>`; `GET /api/alerts` has no alertKey
//! filter, so alerts are listed by source and state (`max-results` at most 100) and matched
//! here; `PUT /api/alerts/{id}/accept|resolve`; `GET /api/alert-sources/{id or key}`.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{Config, Secret};
use crate::http::{encode_component, Http, Request, TransportError};

/// Largest page `GET /api/alerts` serves.
pub const PAGE: usize = 100;
/// Pages read at most per lookup (500 open alerts on one source is already a storm).
const MAX_PAGES: usize = 5;

/// A failed REST call; never shows the token.
#[derive(Debug)]
pub enum ApiError {
    /// The request did not complete.
    Transport(TransportError),
    /// ilert answered with an error status.
    Status {
        /// What we asked for (method and path, no secrets).
        what: String,
        /// The status.
        status: u16,
    },
    /// The answer was not the documented JSON.
    Body(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Transport(e) => write!(f, "ilert REST API unreachable: {e}"),
            ApiError::Status { what, status } => write!(
                f,
                "ilert REST API {what}: HTTP {status}{}",
                match status {
                    401 | 403 => " (check [ilert] api_token: a user API key with read access)",
                    _ => "",
                }
            ),
            ApiError::Body(e) => write!(f, "ilert REST API answered unexpectedly: {e}"),
        }
    }
}

/// The parts of an ilert `Alert` we use.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct RestAlert {
    /// Alert id.
    pub id: i64,
    /// The alertKey it was opened with.
    #[serde(default, rename = "alertKey")]
    pub alert_key: Option<String>,
    /// `PENDING`, `ACCEPTED`, `RESOLVED`.
    #[serde(default)]
    pub status: String,
    /// Responders and whether they accepted (`Alert.responders`, `AlertResponder`).
    #[serde(default)]
    pub responders: Vec<Responder>,
    /// The index of the escalation rule the alert escalates to next
    /// (`Alert.nextEscalationRuleIndex`, a JSON number). ilert documents no more than the name;
    /// we read it as "rules 0..n were reached", so `n` is the level now paged (1-based).
    #[serde(default, rename = "nextEscalationRuleIndex")]
    pub next_escalation_rule_index: Option<f64>,
}

/// An `AlertResponder`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Responder {
    /// The user (`UserRel`).
    #[serde(default)]
    pub user: Option<UserRel>,
    /// `PENDING` or `ACCEPTED`.
    #[serde(default)]
    pub status: String,
}

/// A `UserRel`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct UserRel {
    /// First name.
    #[serde(default, rename = "firstName")]
    pub first_name: String,
    /// Last name.
    #[serde(default, rename = "lastName")]
    pub last_name: String,
}

impl UserRel {
    /// "First Last" (empty when ilert gave neither).
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_string()
    }
}

impl RestAlert {
    /// The responders' names ("First Last"), in ilert's order, each once; only those who
    /// accepted with `accepted_only`.
    fn names(&self, accepted_only: bool) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for name in self
            .responders
            .iter()
            .filter(|r| !accepted_only || r.status == "ACCEPTED")
            .filter_map(|r| r.user.as_ref())
            .map(UserRel::name)
        {
            if !name.is_empty() && !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }

    /// The people who accepted it, as "First Last", joined.
    pub fn accepted_by(&self) -> Option<String> {
        let names = self.names(true);
        (!names.is_empty()).then(|| names.join(", "))
    }

    /// The people who accepted it.
    pub fn acceptors(&self) -> Vec<String> {
        self.names(true)
    }

    /// Everyone ilert has assigned the alert to so far, pending or accepted, as "First Last",
    /// in ilert's order, each once.
    pub fn responder_names(&self) -> Vec<String> {
        self.names(false)
    }

    /// The escalation level reached (1 = the policy's first rule), when ilert says.
    pub fn escalation_level(&self) -> Option<u32> {
        self.next_escalation_rule_index
            .filter(|n| n.is_finite() && *n >= 1.0 && *n <= f64::from(u16::MAX))
            .map(|n| n as u32)
    }
}

/// The parts of an ilert `AlertSource` that decide whether our events do what routes say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct RestSource {
    /// Alert source id.
    pub id: i64,
    /// Name in ilert.
    #[serde(default)]
    pub name: String,
    /// Grouping (`ONE_ALERT_PER_EMAIL` is the default "no grouping" for events).
    #[serde(default, rename = "alertCreation")]
    pub alert_creation: Option<String>,
    /// `HIGH`, `LOW`, `HIGH_DURING_SUPPORT_HOURS`, `LOW_DURING_SUPPORT_HOURS`.
    #[serde(default, rename = "alertPriorityRule")]
    pub priority_rule: Option<String>,
    /// A priority template, if configured (then event priorities may be honoured).
    #[serde(default, rename = "priorityTemplate")]
    pub priority_template: Option<serde_json::Value>,
}

/// The alert among `alerts` opened with `alert_key` (ilert compares keys case-insensitively);
/// the newest (highest id) if several.
pub fn match_alert_key<'a>(alerts: &'a [RestAlert], alert_key: &str) -> Option<&'a RestAlert> {
    alerts
        .iter()
        .filter(|a| {
            a.alert_key
                .as_deref()
                .is_some_and(|k| k.trim().eq_ignore_ascii_case(alert_key.trim()))
        })
        .max_by_key(|a| a.id)
}

/// The REST API as one account's user sees it.
pub struct IlertApi<'a> {
    http: &'a Http,
    base: &'a str,
    token: &'a Secret,
    timeout: Duration,
}

impl<'a> IlertApi<'a> {
    /// The API, if a token is configured.
    pub fn new(config: &'a Config, http: &'a Http, timeout: Duration) -> Option<Self> {
        Some(IlertApi {
            http,
            base: &config.ilert_url,
            token: config.api_token.as_ref()?,
            timeout,
        })
    }

    fn call(&self, method: &'static str, path: &str) -> Result<String, ApiError> {
        let req = Request::new(method, format!("{}/api{path}", self.base))
            .header("Authorization", format!("Bearer {}", self.token.expose()))
            .header("Accept", "application/json");
        let resp = self
            .http
            .send(&req, self.timeout)
            .map_err(ApiError::Transport)?;
        if !(200..300).contains(&resp.status) {
            // The path may hold an integration key: name the call without it.
            let what = format!("{method} {}", path.split('?').next().unwrap_or(path));
            let what = if path.starts_with("/alert-sources/") {
                format!("{method} /alert-sources/…")
            } else {
                what
            };
            return Err(ApiError::Status {
                what,
                status: resp.status,
            });
        }
        Ok(resp.body)
    }

    fn json<T: serde::de::DeserializeOwned>(body: &str) -> Result<T, ApiError> {
        serde_json::from_str(body).map_err(|e| ApiError::Body(e.to_string()))
    }

    /// The alert source with this integration key (`GET /api/alert-sources/{key}` takes an id
    /// or an integration key).
    pub fn source(&self, integration_key: &Secret) -> Result<RestSource, ApiError> {
        let body = self.call(
            "GET",
            &format!(
                "/alert-sources/{}?include=priorityTemplate",
                encode_component(integration_key.expose())
            ),
        )?;
        Self::json(&body)
    }

    /// The open (pending or accepted) alert of `source_id` opened with `alert_key`; stops
    /// listing at the page that has it.
    pub fn find_open_alert(
        &self,
        source_id: i64,
        alert_key: &str,
    ) -> Result<Option<RestAlert>, ApiError> {
        let alerts =
            self.list_open(source_id, |page| match_alert_key(page, alert_key).is_some())?;
        Ok(match_alert_key(&alerts, alert_key).cloned())
    }

    /// Every open (pending or accepted) alert of `source_id`, up to `MAX_PAGES` pages.
    pub fn open_alerts(&self, source_id: i64) -> Result<Vec<RestAlert>, ApiError> {
        self.list_open(source_id, |_| false)
    }

    /// Lists the open alerts of `source_id` page by page until `enough` says so for a page,
    /// the last page, or `MAX_PAGES`.
    fn list_open(
        &self,
        source_id: i64,
        enough: impl Fn(&[RestAlert]) -> bool,
    ) -> Result<Vec<RestAlert>, ApiError> {
        let mut all = Vec::new();
        for page in 0..MAX_PAGES {
            let body = self.call(
                "GET",
                &format!(
                    "/alerts?sources={source_id}&states=PENDING&states=ACCEPTED&start-index={}&max-results={PAGE}",
                    page * PAGE
                ),
            )?;
            let alerts: Vec<RestAlert> = Self::json(&body)?;
            let (stop, last) = (enough(&alerts), alerts.len() < PAGE);
            all.extend(alerts);
            if stop || last {
                break;
            }
        }
        Ok(all)
    }

    /// One alert by id.
    pub fn alert(&self, id: i64) -> Result<RestAlert, ApiError> {
        let body = self.call("GET", &format!("/alerts/{id}"))?;
        Self::json(&body)
    }

    /// Accepts (`resolve = false`) or resolves an alert by id.
    pub fn set_state(&self, id: i64, resolve: bool) -> Result<RestAlert, ApiError> {
        let verb = if resolve { "resolve" } else { "accept" };
        let body = self.call("PUT", &format!("/alerts/{id}/{verb}"))?;
        Self::json(&body)
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Transport(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(id: i64, key: &str) -> RestAlert {
        RestAlert {
            id,
            alert_key: Some(key.into()),
            status: "PENDING".into(),
            ..RestAlert::default()
        }
    }

    #[test]
    fn alert_keys_match_case_insensitively_newest_first() {
        let alerts = [alert(1, "pfms-7"), alert(5, "PFMS-7"), alert(3, "pfms-70")];
        assert_eq!(match_alert_key(&alerts, "pfms-7").map(|a| a.id), Some(5));
        assert_eq!(match_alert_key(&alerts, "pfms-8"), None);
    }

    #[test]
    fn accepted_by_names_the_accepting_responders() {
        let mut a = alert(1, "k");
        let user = |f: &str, l: &str| {
            Some(UserRel {
                first_name: f.into(),
                last_name: l.into(),
            })
        };
        a.responders = vec![
            Responder {
                user: user("Jane", "Doe"),
                status: "ACCEPTED".into(),
            },
            Responder {
                user: user("Max", "Muster"),
                status: "PENDING".into(),
            },
        ];
        assert_eq!(a.accepted_by().as_deref(), Some("Jane Doe"));
        assert_eq!(a.responder_names(), ["Jane Doe", "Max Muster"]);
        a.responders.clear();
        assert_eq!(a.accepted_by(), None);
        assert!(a.responder_names().is_empty());
    }

    #[test]
    fn the_escalation_level_is_the_next_rule_index_when_ilert_gives_one() {
        let level = |json: &str| {
            serde_json::from_str::<RestAlert>(json)
                .unwrap()
                .escalation_level()
        };
        assert_eq!(level(r#"{"id": 1, "nextEscalationRuleIndex": 2}"#), Some(2));
        assert_eq!(
            level(r#"{"id": 1, "nextEscalationRuleIndex": 1.0}"#),
            Some(1)
        );
        assert_eq!(level(r#"{"id": 1, "nextEscalationRuleIndex": 0}"#), None);
        assert_eq!(level(r#"{"id": 1, "nextEscalationRuleIndex": null}"#), None);
        assert_eq!(level(r#"{"id": 1}"#), None);
        assert_eq!(
            level(r#"{"id": 1, "nextEscalationRuleIndex": 1e300}"#),
            None
        );
    }
}
