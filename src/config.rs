//! The TOML configuration file: what it may contain, its defaults, and errors that name the
//! file, line and key.
//!
//! Parsing is two steps (ripgrep's low/high args): serde reads the raw file with unknown keys
//! refused, then `Config::from_raw` validates and resolves it into plain types the rest of the
//! program uses. No other module sees TOML.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::routing::{Glob, RouteMatch};
use crate::time::parse_duration;

/// Where the config is read from when neither `--config` nor `PANDORA_ILERT_CONFIG` is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/pandora-ilert/pandora-ilert.toml";
/// Default state directory (store, outbox, locks).
pub const DEFAULT_STATE_DIR: &str = "/var/spool/pandora-ilert";
/// Default ilert API base URL; the binary appends the endpoint paths.
pub const DEFAULT_ILERT_URL: &str = "https://api.ilert.com";
/// Where heartbeat monitors (Heartbeat 2.0) are pinged (reference ilert.md §3).
pub const DEFAULT_HEARTBEAT_URL: &str = "https://beat.ilert.com";
/// Default channel-name template, as in ilert's own chat integrations.
pub const DEFAULT_CHANNEL_TEMPLATE: &str = "pandorafms_alert_{id}";

/// A secret (integration key, token, password). Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// A redacted form that still lets an administrator tell two keys apart.
    pub fn redacted(&self) -> String {
        let n = self.0.chars().count();
        if n >= 12 {
            let tail: String = self.0.chars().skip(n - 4).collect();
            format!("****{tail}")
        } else {
            "****".to_string()
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A configuration problem, with the file and (where known) the line.
#[derive(Debug)]
pub struct ConfigError {
    /// The config file.
    pub path: PathBuf,
    /// 1-based line of the offending key, when the parser knows it.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(
                f,
                "config {} line {line}: {}",
                self.path.display(),
                self.message
            ),
            None => write!(f, "config {}: {}", self.path.display(), self.message),
        }
    }
}

/// Which ilert endpoint an alert source receives events on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IlertApi {
    /// The generic events API, `POST /api/events` (priority, links, custom details, ACCEPT).
    Events,
    /// ilert's Pandora FMS inbound endpoint, `POST /api/v1/events/pandorafms/{key}`.
    Pandorafms,
}

impl IlertApi {
    /// The name used in the config and in status output.
    pub fn as_str(self) -> &'static str {
        match self {
            IlertApi::Events => "events",
            IlertApi::Pandorafms => "pandorafms",
        }
    }
}

/// An ilert priority, chosen by route or derived from the Pandora severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IlertPriority {
    /// Pages with high urgency.
    High,
    /// Low urgency.
    Low,
}

/// An ilert alert source: where events of a route go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertSource {
    /// Name used by routes and in logs (never the key).
    pub name: String,
    /// The integration key.
    pub key: Secret,
    /// Which endpoint to use.
    pub api: IlertApi,
}

/// A chat platform incident channels are opened on. Written as its lowercase name in the
/// config (`chat = "slack"`), the store and the outbox.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ChatPlatform {
    /// Slack Web API.
    Slack,
    /// Microsoft Teams (Graph and/or a Workflows webhook).
    Teams,
    /// Matrix client-server API.
    Matrix,
}

impl ChatPlatform {
    /// Every platform, in the order messages list them.
    pub const ALL: [ChatPlatform; 3] = [
        ChatPlatform::Slack,
        ChatPlatform::Teams,
        ChatPlatform::Matrix,
    ];

    /// The name used in the config, the store and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatPlatform::Slack => "slack",
            ChatPlatform::Teams => "teams",
            ChatPlatform::Matrix => "matrix",
        }
    }

    /// The platform called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == name)
    }
}

impl fmt::Display for ChatPlatform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route does with the chat side of an incident.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChatRoute {
    /// The platform.
    pub backend: ChatPlatform,
    /// Open the incident channel as private (invite only).
    pub private: bool,
    /// Users invited to every incident channel of this route (platform user ids).
    pub invite: Vec<String>,
    /// Optional channel that gets one line per state change.
    pub stakeholder_channel: Option<String>,
    /// Channel-name template; `{id}` is the Pandora alert id.
    pub channel_template: String,
    /// New incident channels a minute before storm control summarises the rest in one storm
    /// channel (capped by the platform's creation limit); 0 disables it.
    pub storm_per_minute: u32,
    /// A storm ends after this long without a new overflowing incident.
    pub storm_quiet: Duration,
    /// Channel watched for incident reports (`!incident database is slow`), if any.
    pub intake_channel: Option<String>,
    /// Prefix that turns a message in the intake channel into an ilert alert.
    pub intake_prefix: String,
    /// Obey `!ack` and `!resolve` typed in incident channels.
    pub commands: bool,
    /// People allowed to act through chat commands besides the invitees (platform user ids).
    pub chatops_allow: Vec<String>,
    /// Matrix: anyone with at least this power level in the incident room may act too.
    pub chatops_min_power: Option<i64>,
    /// Slack: members of these user groups (ids `S…`) may act too.
    pub chatops_allow_groups: Vec<String>,
    /// The Pandora console's address (top-level `console_url`), for the pinned message's links
    /// when an alert carries no `_homeurl_`.
    pub console_url: Option<String>,
}

/// One routing rule: first match wins.
#[derive(Clone, Debug)]
pub struct Route {
    /// Route name, used in logs, status and `--route`.
    pub name: String,
    /// Conditions; empty means "matches everything" (a default route).
    pub matcher: RouteMatch,
    /// The alert source events go to.
    pub source: AlertSource,
    /// Fixed ilert priority; `None` derives it from the severity.
    pub priority: Option<IlertPriority>,
    /// ilert `routingKey`: overrides the alert source's escalation policy for ALERT events.
    pub routing_key: Option<String>,
    /// Summary template overriding the global one.
    pub summary_template: Option<String>,
    /// Chat incident channel settings, if this route has one.
    pub chat: Option<ChatRoute>,
}

/// Slack Web API settings.
#[derive(Clone, Debug)]
pub struct SlackConfig {
    /// Bot token (`xoxb-…`).
    pub token: Secret,
    /// Web API base, default `https://slack.com/api`.
    pub api_url: String,
}

/// Microsoft Teams settings: Graph (client credentials) and/or an incoming webhook.
#[derive(Clone, Debug)]
pub struct TeamsConfig {
    /// Entra tenant id (Graph mode).
    pub tenant_id: Option<String>,
    /// App registration client id (Graph mode).
    pub client_id: Option<String>,
    /// App registration secret (Graph mode).
    pub client_secret: Option<Secret>,
    /// Team in which incident channels are created (Graph mode).
    pub team_id: Option<String>,
    /// Token endpoint base, default `https://login.microsoftonline.com`.
    pub login_url: String,
    /// Graph base, default `https://graph.microsoft.com/v1.0`.
    pub graph_url: String,
    /// Workflows / incoming webhook URL (webhook mode, or fallback for posts).
    pub webhook_url: Option<Secret>,
    /// Entra user id (or UPN) made owner of private incident channels (Graph mode): Graph
    /// creates a private channel with application permissions only with an owner.
    pub owner: Option<String>,
    /// The Bot Framework bot that posts and edits the incident cards, if configured.
    pub bot: Option<TeamsBot>,
    /// Archived incident channels are deleted this long after archiving (Graph mode); `None`:
    /// never (a team holds at most 1,000 channels).
    pub delete_archived_after: Option<Duration>,
}

/// A Bot Framework bot (Azure Bot registration) that posts into the incident channels and
/// edits its cards in place.
#[derive(Clone, Debug)]
pub struct TeamsBot {
    /// The bot's Microsoft app id.
    pub app_id: String,
    /// The bot's client secret.
    pub secret: Secret,
    /// The tenant that issues the bot's token: the bot's own for a single-tenant bot,
    /// `botframework.com` for a multi-tenant one.
    pub tenant: String,
    /// Bot Connector base, default `https://smba.trafficmanager.net/teams`.
    pub service_url: String,
    /// Token endpoint, default
    /// `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    /// The Teams app's id in the organisation's app catalog, to install it into the team
    /// through Graph; `None`: installed by hand.
    pub teams_app_id: Option<String>,
}

impl TeamsConfig {
    /// True when the Graph settings are given (channels are created); else webhook mode.
    pub fn graph(&self) -> bool {
        self.tenant_id.is_some()
    }
}

/// The Bot Connector base URL Microsoft documents for proactive messages when no
/// conversation gave one (Bot Connector API reference, "Base URI").
pub const TEAMS_BOT_SERVICE_URL: &str = "https://smba.trafficmanager.net/teams";

/// Matrix client-server API settings.
#[derive(Clone, Debug)]
pub struct MatrixConfig {
    /// Homeserver base URL, e.g. `https://matrix.example.org`.
    pub homeserver: String,
    /// Access token of the bot user.
    pub access_token: Secret,
    /// Server name used in room aliases (`#alias:server_name`).
    pub server_name: String,
    /// Incident rooms may federate (`m.federate`); off by default, so a public route's room
    /// is open to this homeserver's users only.
    pub federate: bool,
}

/// Agent-plugin settings.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    /// Whole-run deadline.
    pub deadline: Duration,
    /// Archive chat channels of incidents resolved longer ago than this.
    pub archive_after: Duration,
    /// Drop closed records and delivered history older than this.
    pub prune_after: Duration,
    /// Pandora's incoming XML folder to watch.
    pub data_in: PathBuf,
    /// Prefix of every module name.
    pub module_prefix: String,
}

/// Where the alert command reads an alert's text from the Pandora database (`alert
/// --from-db`). Each setting left unset comes from the Pandora server's own
/// `pandora_server.conf` (`dbhost`, `dbport`, `dbname`, `dbuser`, `dbpass`); set `user` and
/// `password` here for a dedicated read-only database user.
#[derive(Clone, Debug)]
pub struct PandoraDbConfig {
    /// The Pandora server's configuration file.
    pub server_conf: PathBuf,
    /// Database host; `localhost` means the local unix socket, as for the MySQL clients.
    pub host: Option<String>,
    /// TCP port.
    pub port: Option<u16>,
    /// Unix socket of the database server.
    pub socket: Option<PathBuf>,
    /// Database name.
    pub name: Option<String>,
    /// Database user.
    pub user: Option<String>,
    /// Database password.
    pub password: Option<Secret>,
    /// The longest the lookup (connection and queries) may take before the alert pages
    /// without the details.
    pub timeout: Duration,
}

/// Where the Pandora server keeps its configuration (and its database settings).
pub const DEFAULT_PANDORA_SERVER_CONF: &str = "/etc/pandora/pandora_server.conf";

/// Default bound of the database lookup: well inside Pandora's 15 s and `alert_deadline`.
pub const DEFAULT_PANDORA_DB_TIMEOUT: Duration = Duration::from_secs(3);

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// Store, outbox and locks live here.
    pub state_dir: PathBuf,
    /// Log file; `None` logs to stderr only.
    pub log_file: Option<PathBuf>,
    /// Log level.
    pub log_level: log::LevelFilter,
    /// Whole-invocation deadline of `alert` (well under Pandora's 15 s).
    pub alert_deadline: Duration,
    /// Deadline of `flush`.
    pub flush_deadline: Duration,
    /// Longest a single HTTP request may take.
    pub request_timeout: Duration,
    /// Re-send ALERT for a re-fire only if the last one is older than this; `None`: never while open.
    pub refire_window: Option<Duration>,
    /// Prepended to the Pandora alert id to make the incident key / ilert alertKey.
    pub alert_key_prefix: String,
    /// Pandora console URL used for links when the alert carries no `_homeurl_`.
    pub console_url: Option<String>,
    /// Global summary template.
    pub summary_template: String,
    /// ilert API base URL (no trailing path).
    pub ilert_url: String,
    /// ilert heartbeat key pinged by the plugin, if any (taken from the key or the
    /// integration URL given in the config).
    pub heartbeat_key: Option<Secret>,
    /// Base URL of ilert's heartbeat host (`https://beat.ilert.com`); legacy `il1hbt` keys go to
    /// `ilert_url` instead.
    pub heartbeat_url: String,
    /// Events we send per alert-source integration key per `events_window` (ilert: 50 a
    /// minute); 0: not paced (`rate_limit = "off"`).
    pub events_per_window: u32,
    /// The window of `events_per_window`.
    pub events_window: Duration,
    /// A user API key for ilert's REST API (optional): finds the ilert alert behind each
    /// incident, mirrors its state into chat, and accepts/resolves by alert id.
    pub api_token: Option<Secret>,
    /// The account's ilert web address (`https://acme.ilert.com`), for links to alerts.
    pub web_url: Option<String>,
    /// Routing rules in file order.
    pub routes: Vec<Route>,
    /// Slack backend.
    pub slack: Option<SlackConfig>,
    /// Teams backend.
    pub teams: Option<TeamsConfig>,
    /// Matrix backend.
    pub matrix: Option<MatrixConfig>,
    /// Plugin settings.
    pub plugin: PluginConfig,
    /// Pandora database settings for `alert --from-db`.
    pub pandora_db: PandoraDbConfig,
    /// Warnings found while loading (shown by `config check`, logged otherwise).
    pub warnings: Vec<String>,
}

/// Default summary: `[Critical] web-01 / CPU Load = 95.5%`.
pub const DEFAULT_SUMMARY_TEMPLATE: &str = "[{severity}] {agent} / {module} = {data}{unit}";

#[derive(Deserialize)]
#[serde(untagged)]
enum DurationValue {
    Secs(u64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A value and where it stands in the file, so a message names its line.
type At<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    state_dir: Option<PathBuf>,
    log_file: Option<String>,
    log_level: Option<At<String>>,
    alert_deadline: Option<At<DurationValue>>,
    flush_deadline: Option<At<DurationValue>>,
    request_timeout: Option<At<DurationValue>>,
    refire_window: Option<At<DurationValue>>,
    alert_key_prefix: Option<String>,
    console_url: Option<String>,
    summary_template: Option<String>,
    #[serde(default)]
    ilert: RawIlert,
    #[serde(default, rename = "route")]
    routes: Vec<RawRoute>,
    slack: Option<RawSlack>,
    teams: Option<RawTeams>,
    matrix: Option<RawMatrix>,
    #[serde(default)]
    plugin: RawPlugin,
    #[serde(default)]
    pandora_db: RawPandoraDb,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIlert {
    api_url: Option<At<String>>,
    heartbeat_key: Option<At<String>>,
    heartbeat_url: Option<At<String>>,
    rate_limit: Option<At<String>>,
    api_token: Option<String>,
    web_url: Option<At<String>>,
    #[serde(default, rename = "source")]
    sources: Vec<RawSource>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    name: At<String>,
    integration_key: At<String>,
    api: Option<IlertApi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    name: At<String>,
    groups: Option<OneOrMany>,
    agents: Option<OneOrMany>,
    modules: Option<OneOrMany>,
    severities: Option<At<OneOrMany>>,
    tags: Option<OneOrMany>,
    ilert_key: Option<At<String>>,
    ilert_source: Option<At<String>>,
    ilert_api: Option<IlertApi>,
    ilert_priority: Option<IlertPriority>,
    ilert_routing_key: Option<String>,
    summary_template: Option<String>,
    chat: Option<At<String>>,
    private: Option<At<bool>>,
    invite: Option<OneOrMany>,
    stakeholder_channel: Option<At<String>>,
    channel_template: Option<At<String>>,
    storm_per_minute: Option<u32>,
    storm_quiet: Option<At<DurationValue>>,
    intake_channel: Option<At<String>>,
    intake_prefix: Option<String>,
    chat_commands: Option<bool>,
    chatops_allow: Option<OneOrMany>,
    chatops_min_power: Option<i64>,
    chatops_allow_groups: Option<At<OneOrMany>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlack {
    token: String,
    api_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTeams {
    tenant_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    team_id: Option<String>,
    login_url: Option<String>,
    graph_url: Option<String>,
    webhook_url: Option<At<String>>,
    owner: Option<String>,
    bot_app_id: Option<String>,
    bot_secret: Option<String>,
    bot_tenant: Option<String>,
    bot_service_url: Option<String>,
    bot_token_url: Option<String>,
    bot_teams_app_id: Option<String>,
    delete_archived_after: Option<At<DurationValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    homeserver: At<String>,
    access_token: String,
    server_name: Option<String>,
    federate: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    deadline: Option<At<DurationValue>>,
    archive_after: Option<At<DurationValue>>,
    prune_after: Option<At<DurationValue>>,
    data_in: Option<PathBuf>,
    module_prefix: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPandoraDb {
    server_conf: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    socket: Option<PathBuf>,
    name: Option<String>,
    user: Option<String>,
    password: Option<String>,
    timeout: Option<At<DurationValue>>,
}

impl Config {
    /// Every configured secret: integration keys, the heartbeat key, chat tokens, the Teams
    /// client secret and webhook URL.
    pub fn secrets(&self) -> Vec<&Secret> {
        let mut out: Vec<&Secret> = self.routes.iter().map(|r| &r.source.key).collect();
        out.extend(self.heartbeat_key.as_ref());
        if let Some(s) = &self.slack {
            out.push(&s.token);
        }
        if let Some(t) = &self.teams {
            out.extend(t.client_secret.as_ref());
            out.extend(t.webhook_url.as_ref());
            out.extend(t.bot.as_ref().map(|b| &b.secret));
        }
        if let Some(m) = &self.matrix {
            out.push(&m.access_token);
        }
        out
    }

    /// The scrubber that removes these secrets from text that came from outside.
    pub fn scrubber(&self) -> crate::redact::Scrubber {
        crate::redact::Scrubber::new(self.secrets().into_iter().map(Secret::expose))
    }

    /// Reads and validates the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        // One open for the text and the mode (the permission warning below).
        let read = || -> std::io::Result<(String, std::fs::Metadata)> {
            let mut file = std::fs::File::open(path)?;
            let meta = file.metadata()?;
            let mut text = String::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
            std::io::Read::read_to_string(&mut file, &mut text)?;
            Ok((text, meta))
        };
        let (text, meta) = read().map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: None,
            message: match e.kind() {
                std::io::ErrorKind::PermissionDenied => {
                    format!("cannot read it: {e}; {}", access::why_denied(path))
                }
                _ => format!(
                    "cannot read it: {e} (pass --config FILE or set PANDORA_ILERT_CONFIG; the \
                     packages ship an example as \
                     /usr/share/doc/pandora-ilert/pandora-ilert.toml.example)"
                ),
            },
        })?;
        let mut config = Config::parse(path, &text)?;
        if let Some(w) = permission_warning(path, &meta, &config) {
            config.warnings.push(w);
        }
        Ok(config)
    }

    /// Parses config text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        Config::from_raw(path, text, raw)
    }

    /// The route named `name`.
    pub fn route(&self, name: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.name == name)
    }

    /// The alert source named `name` (a named source, or a route's inline key).
    pub fn source(&self, name: &str) -> Option<&AlertSource> {
        self.routes
            .iter()
            .map(|r| &r.source)
            .find(|s| s.name == name)
    }
}

/// The config text being validated, to name the file and line in messages.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    /// An error on `line`.
    fn error(&self, line: Option<usize>, message: String) -> ConfigError {
        ConfigError {
            path: self.path.to_path_buf(),
            line,
            message,
        }
    }

    /// The line `value` stands on.
    fn line<T>(&self, value: &At<T>) -> usize {
        line_at(self.text, value.span().start)
    }

    /// An error on the line of `value`.
    fn at<T>(&self, value: &At<T>, message: String) -> ConfigError {
        self.error(Some(self.line(value)), message)
    }

    /// An error on the first line with `key` (or the `[key]` section), for what has no value
    /// of its own to point at.
    fn at_key(&self, key: &str, message: String) -> ConfigError {
        self.error(line_of_key(self.text, key), message)
    }

    /// The duration `key` gives, or `default` when it is not set.
    fn duration(
        &self,
        key: &str,
        value: Option<At<DurationValue>>,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(value) = value else {
            return Ok(default);
        };
        match value.get_ref() {
            DurationValue::Secs(s) => Ok(Duration::from_secs(*s)),
            DurationValue::Text(t) => parse_duration(t).ok_or_else(|| {
                self.at(
                    &value,
                    format!(
                        "'{key}' = {t:?} is not a duration (use e.g. \"10s\", \"15m\", \"7d\")"
                    ),
                )
            }),
        }
    }

    /// A URL setting: checked, without a trailing `/`.
    fn url(&self, what: &str, value: &At<String>) -> Result<String, ConfigError> {
        check_url(value.get_ref()).map_err(|m| self.at(value, format!("{what}: {m}")))?;
        Ok(value.get_ref().trim_end_matches('/').to_string())
    }
}

/// The 1-based line of byte `offset` (counted in bytes: a span is never sliced).
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The `[ilert]` section, resolved.
struct IlertSettings {
    url: String,
    heartbeat_key: Option<Secret>,
    heartbeat_url: String,
    api_token: Option<Secret>,
    web_url: Option<String>,
    events_per_window: u32,
    events_window: Duration,
    sources: BTreeMap<String, AlertSource>,
}

/// What a route may refer to: the named alert sources and the configured chat backends.
struct Known<'a> {
    sources: &'a BTreeMap<String, AlertSource>,
    slack: bool,
    teams: Option<&'a TeamsConfig>,
    matrix: bool,
    console_url: Option<&'a str>,
}

impl Config {
    /// Validates the raw file and resolves it, one section at a time.
    fn from_raw(path: &Path, text: &str, raw: RawConfig) -> Result<Config, ConfigError> {
        let src = Source { path, text };
        let mut warnings = Vec::new();
        let log_level = log_level(&src, raw.log_level)?;
        let alert_deadline = src.duration(
            "alert_deadline",
            raw.alert_deadline,
            Duration::from_secs(10),
        )?;
        if alert_deadline >= Duration::from_secs(15) {
            warnings.push(format!(
                "alert_deadline is {}s: Pandora kills alert commands after global_alert_timeout \
                 (15 s by default); keep it well under that",
                alert_deadline.as_secs()
            ));
        }
        let refire_window = match raw.refire_window {
            None => None,
            Some(v) => Some(src.duration("refire_window", Some(v), Duration::ZERO)?)
                .filter(|d| !d.is_zero()),
        };
        let ilert = ilert_section(&src, raw.ilert)?;
        let slack = raw.slack.map(slack_section);
        let teams = raw
            .teams
            .map(|t| teams_section(&src, t, &mut warnings))
            .transpose()?;
        let matrix = raw.matrix.map(|m| matrix_section(&src, m)).transpose()?;
        let console_url = raw.console_url.map(|u| u.trim_end_matches('/').to_string());
        let known = Known {
            sources: &ilert.sources,
            slack: slack.is_some(),
            teams: teams.as_ref(),
            matrix: matrix.is_some(),
            console_url: console_url.as_deref(),
        };
        let mut routes: Vec<Route> = Vec::new();
        for r in raw.routes {
            if routes.iter().any(|x| x.name == *r.name.get_ref()) {
                return Err(src.at(
                    &r.name,
                    format!("route '{}' is defined twice", r.name.get_ref()),
                ));
            }
            routes.push(route(&src, r, &known, &mut warnings)?);
        }
        check_default_route(&src, &routes, &mut warnings)?;
        let plugin = plugin_section(&src, raw.plugin)?;
        if let Some(t) = &teams {
            check_channel_deletion(&src, t, &plugin)?;
        }
        let pandora_db = pandora_db_section(&src, raw.pandora_db, alert_deadline)?;
        let log_file = match raw.log_file.as_deref() {
            None => Some(PathBuf::from("/var/log/pandora-ilert/pandora-ilert.log")),
            Some("") | Some("stderr") => None,
            Some(p) => Some(PathBuf::from(p)),
        };
        let state_dir = raw
            .state_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR));
        if state_dir.is_relative() {
            warnings.push(format!(
                "state_dir {:?} is relative: Pandora runs alert commands from its temp directory, use an absolute path",
                state_dir
            ));
        }
        Ok(Config {
            path: path.to_path_buf(),
            state_dir,
            log_file,
            log_level,
            alert_deadline,
            flush_deadline: src.duration(
                "flush_deadline",
                raw.flush_deadline,
                Duration::from_secs(60),
            )?,
            request_timeout: src.duration(
                "request_timeout",
                raw.request_timeout,
                Duration::from_secs(5),
            )?,
            refire_window,
            alert_key_prefix: raw.alert_key_prefix.unwrap_or_default(),
            console_url,
            summary_template: raw
                .summary_template
                .unwrap_or_else(|| DEFAULT_SUMMARY_TEMPLATE.into()),
            ilert_url: ilert.url,
            heartbeat_key: ilert.heartbeat_key,
            heartbeat_url: ilert.heartbeat_url,
            events_per_window: ilert.events_per_window,
            events_window: ilert.events_window,
            api_token: ilert.api_token,
            web_url: ilert.web_url,
            routes,
            slack,
            teams,
            matrix,
            plugin,
            pandora_db,
            warnings,
        })
    }
}

/// `log_level`, default `info`.
fn log_level(src: &Source<'_>, value: Option<At<String>>) -> Result<log::LevelFilter, ConfigError> {
    let Some(value) = value else {
        return Ok(log::LevelFilter::Info);
    };
    Ok(match value.get_ref().to_ascii_lowercase().as_str() {
        "off" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "warn" | "warning" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        other => {
            return Err(src.at(
                &value,
                format!("log_level {other:?} is not one of off, error, warn, info, debug, trace"),
            ))
        }
    })
}

/// The `[ilert]` section: endpoints, heartbeat, pacing and the named alert sources.
fn ilert_section(src: &Source<'_>, raw: RawIlert) -> Result<IlertSettings, ConfigError> {
    let url = match &raw.api_url {
        Some(u) => src.url("ilert api_url", u)?,
        None => DEFAULT_ILERT_URL.to_string(),
    };
    let heartbeat_url = match &raw.heartbeat_url {
        Some(u) => src.url("ilert heartbeat_url", u)?,
        None => DEFAULT_HEARTBEAT_URL.to_string(),
    };
    let heartbeat_key = match &raw.heartbeat_key {
        Some(v) if !v.get_ref().trim().is_empty() => Some(Secret::new(
            heartbeat_key_from(v.get_ref().trim()).map_err(|m| src.at(v, m))?,
        )),
        _ => None,
    };
    let api_token = raw
        .api_token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let web_url = match raw.web_url {
        Some(u) if !u.get_ref().trim().is_empty() => {
            check_url(u.get_ref().trim()).map_err(|m| src.at(&u, format!("ilert web_url: {m}")))?;
            Some(u.get_ref().trim().trim_end_matches('/').to_string())
        }
        _ => None,
    };
    let (events_per_window, events_window) = match &raw.rate_limit {
        None => (50, Duration::from_secs(60)),
        Some(v) if v.get_ref() == "off" => (0, Duration::from_secs(60)),
        Some(v) => parse_rate(v.get_ref()).ok_or_else(|| {
            src.at(
                v,
                format!(
                    "[ilert] rate_limit = {:?} is not events per window (ilert's limit is \"50/1m\") or \"off\"",
                    v.get_ref()
                ),
            )
        })?,
    };
    Ok(IlertSettings {
        url,
        heartbeat_key,
        heartbeat_url,
        api_token,
        web_url,
        events_per_window,
        events_window,
        sources: alert_sources(src, raw.sources)?,
    })
}

/// The `[[ilert.source]]` entries by name.
fn alert_sources(
    src: &Source<'_>,
    raw: Vec<RawSource>,
) -> Result<BTreeMap<String, AlertSource>, ConfigError> {
    let mut sources = BTreeMap::new();
    for s in raw {
        let name = s.name.get_ref();
        let key = s.integration_key.get_ref().trim();
        if key.is_empty() {
            return Err(src.at(
                &s.integration_key,
                format!("alert source '{name}' has an empty integration_key"),
            ));
        }
        let source = AlertSource {
            name: name.clone(),
            key: Secret::new(key),
            api: s.api.unwrap_or(IlertApi::Events),
        };
        if sources.insert(name.clone(), source).is_some() {
            return Err(src.at(&s.name, format!("alert source '{name}' is defined twice")));
        }
    }
    Ok(sources)
}

/// The `[slack]` section.
fn slack_section(raw: RawSlack) -> SlackConfig {
    SlackConfig {
        token: Secret::new(raw.token),
        api_url: raw
            .api_url
            .unwrap_or_else(|| "https://slack.com/api".into())
            .trim_end_matches('/')
            .into(),
    }
}

/// The `[teams]` section: Graph settings (all or none), a Workflows webhook, and the bot.
fn teams_section(
    src: &Source<'_>,
    raw: RawTeams,
    warnings: &mut Vec<String>,
) -> Result<TeamsConfig, ConfigError> {
    let base = |url: Option<String>, default: &str| -> String {
        url.unwrap_or_else(|| default.into())
            .trim_end_matches('/')
            .into()
    };
    let login_url = base(raw.login_url.clone(), "https://login.microsoftonline.com");
    let bot = teams_bot(src, &login_url, &raw)?;
    let delete_line = raw.delete_archived_after.as_ref().map(|v| src.line(v));
    let delete_archived_after = match raw.delete_archived_after {
        None => None,
        Some(v) => Some(src.duration("delete_archived_after", Some(v), Duration::ZERO)?),
    };
    let graph = [
        raw.tenant_id.is_some(),
        raw.client_id.is_some(),
        raw.client_secret.is_some(),
        raw.team_id.is_some(),
    ];
    if graph.iter().any(|x| *x) && !graph.iter().all(|x| *x) {
        return Err(src.at_key(
            "teams",
            "[teams] Graph mode needs all of tenant_id, client_id, client_secret and team_id"
                .into(),
        ));
    }
    let webhook_url = raw.webhook_url.filter(|u| !u.get_ref().is_empty());
    if !graph[0] && webhook_url.is_none() {
        return Err(src.at_key(
            "teams",
            "[teams] needs either Graph settings or webhook_url".into(),
        ));
    }
    if let Some(url) = &webhook_url {
        check_url(url.get_ref()).map_err(|_| {
            src.at(
                url,
                "[teams] webhook_url must start with https:// (the Workflows webhook URL)".into(),
            )
        })?;
    }
    if !graph[0] && bot.is_some() {
        return Err(src.at_key(
            "bot_app_id",
            "[teams] the bot posts into the incident channels Graph creates: it needs the \
             Graph settings (tenant_id, client_id, client_secret, team_id) too"
                .into(),
        ));
    }
    if !graph[0] && delete_archived_after.is_some() {
        return Err(src.error(
            delete_line,
            "[teams] delete_archived_after needs the Graph settings (webhook mode creates \
             no channels)"
                .into(),
        ));
    }
    let owner = raw.owner.filter(|o| !o.trim().is_empty());
    if !graph[0] && owner.is_some() {
        warnings.push(
            "[teams] owner has no effect without the Graph settings (webhook mode creates no channels)"
                .into(),
        );
    }
    Ok(TeamsConfig {
        tenant_id: raw.tenant_id,
        client_id: raw.client_id,
        client_secret: raw.client_secret.map(Secret::new),
        team_id: raw.team_id,
        login_url,
        graph_url: base(raw.graph_url, "https://graph.microsoft.com/v1.0"),
        webhook_url: webhook_url.map(|u| Secret::new(u.into_inner())),
        owner,
        bot,
        delete_archived_after,
    })
}

/// The `[teams]` bot settings: none, or both credentials with documented defaults.
fn teams_bot(
    src: &Source<'_>,
    login_url: &str,
    raw: &RawTeams,
) -> Result<Option<TeamsBot>, ConfigError> {
    let (app_id, secret) = match (raw.bot_app_id.clone(), raw.bot_secret.clone()) {
        (None, None) => {
            let stray = [
                ("bot_tenant", raw.bot_tenant.is_some()),
                ("bot_service_url", raw.bot_service_url.is_some()),
                ("bot_token_url", raw.bot_token_url.is_some()),
                ("bot_teams_app_id", raw.bot_teams_app_id.is_some()),
            ];
            if let Some((key, _)) = stray.iter().find(|(_, set)| *set) {
                return Err(src.at_key(
                    key,
                    format!("[teams] {key} needs bot_app_id and bot_secret"),
                ));
            }
            return Ok(None);
        }
        (Some(app_id), Some(secret)) => (app_id, secret),
        (Some(_), None) | (None, Some(_)) => {
            return Err(src.at_key(
                "bot_app_id",
                "[teams] the bot needs both bot_app_id and bot_secret".into(),
            ))
        }
    };
    // A multi-tenant bot gets its token from the botframework.com tenant (Bot Connector
    // quickstart, "Get an access token").
    let tenant = raw
        .bot_tenant
        .clone()
        .filter(|x| !x.trim().is_empty())
        .unwrap_or_else(|| "botframework.com".into());
    let service_url = raw
        .bot_service_url
        .clone()
        .unwrap_or_else(|| TEAMS_BOT_SERVICE_URL.into())
        .trim_end_matches('/')
        .to_string();
    check_url(&service_url)
        .map_err(|e| src.at_key("bot_service_url", format!("[teams] bot_service_url: {e}")))?;
    let token_url = raw
        .bot_token_url
        .clone()
        .unwrap_or_else(|| format!("{login_url}/{}/oauth2/v2.0/token", tenant.trim()));
    check_url(&token_url)
        .map_err(|e| src.at_key("bot_token_url", format!("[teams] bot_token_url: {e}")))?;
    Ok(Some(TeamsBot {
        app_id,
        secret: Secret::new(secret),
        tenant,
        service_url,
        token_url,
        teams_app_id: raw
            .bot_teams_app_id
            .clone()
            .filter(|x| !x.trim().is_empty()),
    }))
}

/// The `[matrix]` section.
fn matrix_section(src: &Source<'_>, raw: RawMatrix) -> Result<MatrixConfig, ConfigError> {
    let homeserver = src.url("matrix homeserver", &raw.homeserver)?;
    Ok(MatrixConfig {
        server_name: raw
            .server_name
            .unwrap_or_else(|| host_of(raw.homeserver.get_ref())),
        homeserver,
        access_token: Secret::new(raw.access_token),
        federate: raw.federate.unwrap_or(false),
    })
}

/// One `[[route]]`.
fn route(
    src: &Source<'_>,
    mut r: RawRoute,
    known: &Known<'_>,
    warnings: &mut Vec<String>,
) -> Result<Route, ConfigError> {
    let source = route_source(src, &mut r, known.sources)?;
    let matcher = route_matcher(src, &mut r)?;
    let name = r.name.get_ref().clone();
    let priority = r.ilert_priority;
    let summary_template = r.summary_template.take();
    let routing_key = r
        .ilert_routing_key
        .take()
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty());
    let chat = chat_route(src, r, known, warnings)?;
    if routing_key.is_some() && source.api != IlertApi::Events {
        warnings.push(format!(
            "route '{name}' sets ilert_routing_key, but its alert source uses api = \"{}\", \
             which has no routing key; it has no effect",
            source.api.as_str()
        ));
    }
    Ok(Route {
        priority,
        summary_template,
        chat,
        name,
        matcher,
        source,
        routing_key,
    })
}

/// Where a route's events go: its own `ilert_key` or a named `ilert_source`.
fn route_source(
    src: &Source<'_>,
    r: &mut RawRoute,
    sources: &BTreeMap<String, AlertSource>,
) -> Result<AlertSource, ConfigError> {
    let route = r.name.get_ref();
    match (r.ilert_key.take(), r.ilert_source.take()) {
        (Some(_), Some(name)) => Err(src.at(
            &name,
            format!("route '{route}' has both ilert_key and ilert_source; keep one"),
        )),
        (Some(key), None) => {
            if key.get_ref().trim().is_empty() {
                return Err(src.at(&key, format!("route '{route}' has an empty ilert_key")));
            }
            Ok(AlertSource {
                name: route.clone(),
                key: Secret::new(key.get_ref().trim()),
                api: r.ilert_api.unwrap_or(IlertApi::Events),
            })
        }
        (None, Some(name)) => {
            let mut s = sources.get(name.get_ref()).cloned().ok_or_else(|| {
                let known: Vec<&str> = sources.keys().map(String::as_str).collect();
                src.at(
                    &name,
                    format!(
                        "route '{route}' names ilert_source '{}', which is not defined{}",
                        name.get_ref(),
                        suggestion(name.get_ref(), &known)
                    ),
                )
            })?;
            if let Some(api) = r.ilert_api {
                s.api = api;
            }
            Ok(s)
        }
        (None, None) => Err(src.at(
            &r.name,
            format!(
                "route '{route}' needs ilert_key (an alert source's integration key) or ilert_source"
            ),
        )),
    }
}

/// What a route matches.
fn route_matcher(src: &Source<'_>, r: &mut RawRoute) -> Result<RouteMatch, ConfigError> {
    let globs = |v: Option<OneOrMany>| {
        v.map(OneOrMany::into_vec)
            .unwrap_or_default()
            .iter()
            .map(|p| Glob::new(p))
            .collect::<Vec<_>>()
    };
    let mut severities = Vec::new();
    if let Some(v) = r.severities.take() {
        let line = Some(src.line(&v));
        for pattern in v.into_inner().into_vec() {
            crate::routing::check_severity_pattern(&pattern)
                .map_err(|e| src.error(line, format!("route '{}': {e}", r.name.get_ref())))?;
            severities.push(Glob::new(&pattern));
        }
    }
    Ok(RouteMatch {
        groups: globs(r.groups.take()),
        agents: globs(r.agents.take()),
        modules: globs(r.modules.take()),
        severities,
        tags: globs(r.tags.take()),
    })
}

/// A route's chat side, checked against what the backend can do.
fn chat_route(
    src: &Source<'_>,
    r: RawRoute,
    known: &Known<'_>,
    warnings: &mut Vec<String>,
) -> Result<Option<ChatRoute>, ConfigError> {
    let name = r.name.get_ref();
    let Some(chat) = &r.chat else {
        for (k, set) in [
            ("private", r.private.is_some()),
            ("invite", r.invite.is_some()),
            ("stakeholder_channel", r.stakeholder_channel.is_some()),
            ("channel_template", r.channel_template.is_some()),
            ("intake_channel", r.intake_channel.is_some()),
            ("chatops_allow", r.chatops_allow.is_some()),
            ("chatops_min_power", r.chatops_min_power.is_some()),
            ("chatops_allow_groups", r.chatops_allow_groups.is_some()),
        ] {
            if set {
                warnings.push(format!(
                    "route '{name}' sets {k} but no chat backend; it has no effect"
                ));
            }
        }
        return Ok(None);
    };
    let Some(backend) = ChatPlatform::parse(chat.get_ref()) else {
        let other = chat.get_ref();
        return Err(src.at(
            chat,
            format!(
                "route '{name}': chat = {other:?} is not a backend (slack, teams, matrix){}",
                suggestion(other, &ChatPlatform::ALL.map(ChatPlatform::as_str))
            ),
        ));
    };
    let configured = match backend {
        ChatPlatform::Slack => known.slack,
        ChatPlatform::Teams => known.teams.is_some(),
        ChatPlatform::Matrix => known.matrix,
    };
    if let (true, Some(intake)) = (backend == ChatPlatform::Teams, &r.intake_channel) {
        return Err(src.at(
            intake,
            format!(
                "route '{name}': intake_channel needs a backend that can read messages (slack or matrix); \
                 Teams application permissions cannot read channel messages"
            ),
        ));
    }
    if !configured {
        return Err(src.at(
            chat,
            format!("route '{name}' uses chat = \"{backend}\" but there is no [{backend}] section"),
        ));
    }
    let private = r.private.as_ref().is_some_and(|p| *p.get_ref());
    let stakeholder_channel = r
        .stakeholder_channel
        .as_ref()
        .filter(|s| !s.get_ref().is_empty());
    if backend == ChatPlatform::Teams {
        let asks = TeamsRouteAsks {
            private,
            stakeholder: stakeholder_channel.is_some(),
            invite: r.invite.is_some(),
        };
        check_teams_route(name, known.teams, asks, warnings).map_err(|(key, m)| {
            match (key, stakeholder_channel, &r.private) {
                ("stakeholder_channel", Some(at), _) => src.at(at, m),
                ("private", _, Some(at)) => src.at(at, m),
                _ => src.at(chat, m),
            }
        })?;
    }
    let template = match &r.channel_template {
        None => DEFAULT_CHANNEL_TEMPLATE.to_string(),
        Some(t) if t.get_ref().contains("{id}") => t.get_ref().clone(),
        Some(t) => {
            return Err(src.at(
                t,
                format!("route '{name}': channel_template must contain {{id}} so each incident gets its own channel"),
            ))
        }
    };
    let commands = r.chat_commands.unwrap_or(true);
    let invite = r.invite.map(OneOrMany::into_vec).unwrap_or_default();
    let chatops_allow: Vec<String> = r.chatops_allow.map(OneOrMany::into_vec).unwrap_or_default();
    if r.chatops_min_power.is_some() && backend != ChatPlatform::Matrix {
        warnings.push(format!(
            "route '{name}' sets chatops_min_power, which only Matrix has; it has no effect"
        ));
    }
    let groups_line = r.chatops_allow_groups.as_ref().map(|g| src.line(g));
    let chatops_allow_groups: Vec<String> = r
        .chatops_allow_groups
        .map(|g| g.into_inner().into_vec())
        .unwrap_or_default();
    if !chatops_allow_groups.is_empty() && backend != ChatPlatform::Slack {
        warnings.push(format!(
            "route '{name}' sets chatops_allow_groups, which only Slack has; it has no effect"
        ));
    }
    if let Some(bad) = chatops_allow_groups.iter().find(|g| !is_slack_group_id(g)) {
        return Err(src.error(
            groups_line,
            format!(
                "route '{name}': chatops_allow_groups entry {bad:?} is not a Slack user group id \
                 (S followed by capital letters and digits, e.g. \"S0614TZR7\"; in Slack: \
                 the group's menu, Copy group ID)"
            ),
        ));
    }
    if commands
        && backend != ChatPlatform::Teams
        && invite.is_empty()
        && chatops_allow.is_empty()
        && chatops_allow_groups.is_empty()
        && r.chatops_min_power.is_none()
    {
        warnings.push(format!(
            "route '{name}' obeys chat commands but allows nobody to use them: \
             set invite, chatops_allow, chatops_allow_groups or chatops_min_power \
             (or chat_commands = false)"
        ));
    }
    Ok(Some(ChatRoute {
        private,
        invite,
        stakeholder_channel: stakeholder_channel.map(|s| s.get_ref().clone()),
        channel_template: template,
        storm_per_minute: r.storm_per_minute.unwrap_or(10),
        storm_quiet: src.duration("storm_quiet", r.storm_quiet, Duration::from_secs(300))?,
        intake_channel: r
            .intake_channel
            .map(Spanned::into_inner)
            .filter(|s| !s.is_empty()),
        intake_prefix: r.intake_prefix.unwrap_or_else(|| "!incident".into()),
        commands,
        chatops_allow,
        chatops_min_power: r.chatops_min_power,
        chatops_allow_groups,
        console_url: known.console_url.map(str::to_string),
        backend,
    }))
}

/// There must be a route that matches every alert; routes after it are never used.
fn check_default_route(
    src: &Source<'_>,
    routes: &[Route],
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    match routes.iter().position(|r| r.matcher.is_catch_all()) {
        None => Err(src.error(
            None,
            "no default route: add a [[route]] without groups/agents/modules/severities/tags \
             (it matches every alert) as the last route"
                .into(),
        )),
        Some(i) if i + 1 < routes.len() => {
            warnings.push(format!(
                "route '{}' matches every alert, so the routes after it ({}) are never used",
                routes[i].name,
                routes[i + 1..]
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            Ok(())
        }
        Some(_) => Ok(()),
    }
}

/// Archived Teams channels must be deleted before the record that names them is pruned.
fn check_channel_deletion(
    src: &Source<'_>,
    teams: &TeamsConfig,
    plugin: &PluginConfig,
) -> Result<(), ConfigError> {
    let Some(after) = teams.delete_archived_after else {
        return Ok(());
    };
    if plugin.archive_after + after < plugin.prune_after {
        return Ok(());
    }
    Err(src.at_key(
        "delete_archived_after",
        format!(
            "[teams] delete_archived_after ({}) plus [plugin] archive_after ({}) must \
             stay below [plugin] prune_after ({}): the incident record that names the \
             channel would be pruned first",
            crate::time::human_duration(after),
            crate::time::human_duration(plugin.archive_after),
            crate::time::human_duration(plugin.prune_after)
        ),
    ))
}

/// The `[plugin]` section.
fn plugin_section(src: &Source<'_>, raw: RawPlugin) -> Result<PluginConfig, ConfigError> {
    let line = raw.deadline.as_ref().map(|d| src.line(d));
    let deadline = src.duration("deadline", raw.deadline, Duration::from_secs(20))?;
    if deadline < Duration::from_secs(2) {
        return Err(src.error(
            line,
            "[plugin] deadline must be at least 2s: the run needs time to deliver and print its modules".into(),
        ));
    }
    Ok(PluginConfig {
        deadline,
        archive_after: src.duration(
            "archive_after",
            raw.archive_after,
            Duration::from_secs(7 * 86_400),
        )?,
        prune_after: src.duration(
            "prune_after",
            raw.prune_after,
            Duration::from_secs(30 * 86_400),
        )?,
        data_in: raw
            .data_in
            .unwrap_or_else(|| PathBuf::from("/var/spool/pandora/data_in")),
        module_prefix: raw.module_prefix.unwrap_or_else(|| "pandora-ilert".into()),
    })
}

/// The `[pandora_db]` section; its timeout must leave the alert time to be delivered.
fn pandora_db_section(
    src: &Source<'_>,
    raw: RawPandoraDb,
    alert_deadline: Duration,
) -> Result<PandoraDbConfig, ConfigError> {
    // Unset, the bound also leaves half of a short alert_deadline for the delivery. With
    // alert_deadline = 0 (queue only, deliver later) an unset bound keeps its default.
    let line = raw.timeout.as_ref().map(|t| src.line(t));
    let timeout = match raw.timeout {
        None if alert_deadline.is_zero() => DEFAULT_PANDORA_DB_TIMEOUT,
        None => DEFAULT_PANDORA_DB_TIMEOUT.min(alert_deadline / 2),
        Some(v) => src.duration("timeout", Some(v), DEFAULT_PANDORA_DB_TIMEOUT)?,
    };
    if timeout.is_zero() || (!alert_deadline.is_zero() && timeout >= alert_deadline) {
        return Err(src.error(
            line,
            format!(
                "[pandora_db] timeout must be more than 0 and less than alert_deadline ({}s): \
                 the alert must still be delivered after a slow database",
                alert_deadline.as_secs()
            ),
        ));
    }
    let nonempty = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    Ok(PandoraDbConfig {
        server_conf: raw
            .server_conf
            .unwrap_or_else(|| PathBuf::from(DEFAULT_PANDORA_SERVER_CONF)),
        host: nonempty(raw.host),
        port: raw.port,
        socket: raw.socket,
        name: nonempty(raw.name),
        user: nonempty(raw.user),
        password: raw.password.map(Secret::new),
        timeout,
    })
}

/// What a route using Teams asks for.
struct TeamsRouteAsks {
    private: bool,
    stakeholder: bool,
    invite: bool,
}

/// What Teams can and cannot do for a route, checked before any alert arrives (docs/chat.md).
fn check_teams_route(
    name: &str,
    teams: Option<&TeamsConfig>,
    asks: TeamsRouteAsks,
    warnings: &mut Vec<String>,
) -> Result<(), (&'static str, String)> {
    let Some(t) = teams else {
        return Ok(());
    };
    let private = asks.private;
    if asks.stakeholder {
        return Err((
            "stakeholder_channel",
            format!(
                "route '{name}': stakeholder_channel is not supported with chat = \"teams\": \
                 application permissions cannot post into a Teams channel and the webhook posts \
                 into one fixed channel (see docs/chat.md)"
            ),
        ));
    }
    if private && !t.graph() {
        return Err((
            "private",
            format!(
                "route '{name}' is private, but [teams] has no Graph settings: webhook mode posts \
                 every card into one shared channel; configure Graph (tenant_id, client_id, \
                 client_secret, team_id, owner) or drop private"
            ),
        ));
    }
    if private && t.owner.is_none() {
        return Err((
            "private",
            format!(
                "route '{name}' is private: Graph creates private channels only with an owner; \
                 set [teams] owner to an Entra user id"
            ),
        ));
    }
    if !t.graph() && asks.invite {
        warnings.push(format!(
            "route '{name}' sets invite, but Teams webhook mode creates no channel to invite to; it has no effect"
        ));
    }
    Ok(())
}

/// The heartbeat key from what the config gives: the key itself, or the integration URL ilert's
/// UI shows (`https://beat.ilert.com/api/pings/KEY`, or a legacy `…/api/heartbeats/KEY`).
fn heartbeat_key_from(value: &str) -> Result<String, String> {
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Ok(value.to_string());
    }
    let path = value
        .split_once("://")
        .map(|x| x.1)
        .unwrap_or(value)
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [_host, .., kind, key] if *kind == "pings" || *kind == "heartbeats" => Ok(key.to_string()),
        _ => Err(
            "[ilert] heartbeat_key is a URL but not a heartbeat integration URL \
             (expected https://beat.ilert.com/api/pings/KEY, or just the key)"
                .into(),
        ),
    }
}

/// Parses `"50/1m"`: events per window.
fn parse_rate(text: &str) -> Option<(u32, Duration)> {
    let (n, w) = text.split_once('/')?;
    let limit: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
    let window = parse_duration(w.trim()).filter(|w| !w.is_zero())?;
    Some((limit, window))
}

fn check_url(url: &str) -> Result<(), String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{url:?} must start with http:// or https://"));
    }
    Ok(())
}

fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    let host = rest.split(['/', ':']).next().unwrap_or(rest);
    host.to_string()
}

/// Why this process may not read a file, and what to change: who owns it with what mode, and
/// who we are. Facts are gathered at the edge; the advice is a pure function of them.
mod access {
    use std::path::Path;

    /// The file's ownership and mode, and the process's user and groups, as ids and names.
    pub struct Facts {
        pub owner: (u32, String),
        pub group: (u32, String),
        pub mode: u32,
        pub user: (u32, String),
        pub groups: Vec<u32>,
    }

    /// The advice for a permission error on `path` (its directory when the file cannot be
    /// looked at).
    #[cfg(unix)]
    pub fn why_denied(path: &Path) -> String {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = std::fs::metadata(path) else {
            let dir = path.parent().unwrap_or(Path::new("/"));
            return format!(
                "this user may not enter its directory {}: make the directory searchable (x) by \
                 the user that runs pandora-ilert",
                dir.display()
            );
        };
        let me = std::fs::metadata("/proc/self").ok();
        let uid = me.as_ref().map_or(u32::MAX, MetadataExt::uid);
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let groups = status
            .lines()
            .filter_map(|l| l.strip_prefix("Groups:").or_else(|| l.strip_prefix("Gid:")))
            .flat_map(|l| l.split_whitespace().filter_map(|g| g.parse().ok()))
            .collect();
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let named = |id: u32, table: &str| (id, name_of(id, table));
        advice(
            path,
            &Facts {
                owner: named(meta.uid(), &passwd),
                group: named(meta.gid(), &group_file),
                mode: meta.mode() & 0o7777,
                user: named(uid, &passwd),
                groups,
            },
        )
    }

    #[cfg(not(unix))]
    pub fn why_denied(_path: &Path) -> String {
        "give the user that runs pandora-ilert read access to it".into()
    }

    /// The name of `id` in a `/etc/passwd` or `/etc/group` text, else the number.
    fn name_of(id: u32, table: &str) -> String {
        table
            .lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == id).then(|| name.to_string())
            })
            .next()
            .unwrap_or_else(|| id.to_string())
    }

    /// What to change so that `facts.user` can read the file.
    pub fn advice(path: &Path, facts: &Facts) -> String {
        let shown = path.display();
        let (owner, group, user) = (&facts.owner.1, &facts.group.1, &facts.user.1);
        let is = format!(
            "it is {owner}:{group} mode {:04o} and pandora-ilert runs as {user}",
            facts.mode
        );
        if facts.user.0 == facts.owner.0 {
            format!("{is}, its owner, without read permission: chmod u+r {shown}")
        } else if facts.groups.contains(&facts.group.0) {
            format!("{is}, in its group, which has no read permission: chmod g+r {shown}")
        } else {
            format!(
                "{is}, neither its owner nor in group {group}: run pandora-ilert as the Pandora \
                 server's user and give the file that user's group (chgrp GROUP {shown}; \
                 chmod 0640 {shown}), or add {user} to group {group}"
            )
        }
    }
}

/// Warns when a config holding secrets is readable by every user on the machine.
#[cfg(unix)]
fn permission_warning(path: &Path, meta: &std::fs::Metadata, config: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    let has_secrets = !config.routes.is_empty()
        || config.slack.is_some()
        || config.teams.is_some()
        || config.matrix.is_some();
    (has_secrets && mode & 0o004 != 0).then(|| {
        format!(
            "{} holds integration keys and tokens but is readable by all users (mode {:o}); run: chmod 0640 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_path: &Path, _meta: &std::fs::Metadata, _config: &Config) -> Option<String> {
    None
}

/// Turns a toml/serde error into one line with the line number and a did-you-mean.
fn toml_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e.span().map(|s| line_at(text, s.start));
    let raw = e.message().trim();
    let message = if let Some(rest) = raw.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let options: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        format!("unknown key '{field}'{}", suggestion(field, &options))
    } else if let Some(rest) = raw.strip_prefix("missing field `") {
        format!("missing key '{}'", rest.trim_end_matches('`'))
    } else if raw.is_empty() {
        // The TOML parser gives no words for some breakage (`""=`): say what is expected.
        "not valid TOML: each line is `key = value`, a `[section]` or a `[[route]]`".to_string()
    } else {
        raw.replace('\n', " ")
    };
    ConfigError {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// `; did you mean 'x'?` for the closest known name, or nothing.
pub fn suggestion(word: &str, options: &[&str]) -> String {
    options
        .iter()
        .map(|o| (strsim::levenshtein(word, o), *o))
        .filter(|(d, o)| *d <= 3.max(o.len() / 3))
        .min()
        .map(|(_, o)| format!("; did you mean '{o}'?"))
        .unwrap_or_default()
}

/// Best-effort line of the first `key =` in the file, for errors found after parsing.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(key) && l[key.len()..].trim_start().starts_with('=')
                || l.trim() == format!("[{key}]")
        })
        .map(|i| i + 1)
}

impl std::error::Error for ConfigError {}

/// A Slack user group id: `S` and capital letters or digits (`S0614TZR7`). Pure.
fn is_slack_group_id(id: &str) -> bool {
    id.len() >= 2
        && id.starts_with('S')
        && id[1..]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
state_dir = "/var/spool/pandora-ilert"
[ilert]
api_url = "https://api.ilert.com"
[[route]]
name = "default"
ilert_key = "il1api123"
"#;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/pandora-ilert/pandora-ilert.toml"), text)
    }

    #[test]
    fn slack_user_groups_are_given_by_id() {
        let base = "[slack]\ntoken = \"xoxb-1\"\n[[route]]\nname = \"r\"\nilert_key = \"k\"\nchat = \"slack\"\n";
        let ok = parse(&format!("{base}chatops_allow_groups = [\"S0614TZR7\"]\n")).unwrap();
        let chat = ok.routes[0].chat.as_ref().unwrap();
        assert_eq!(chat.chatops_allow_groups, ["S0614TZR7"]);
        let e = parse(&format!("{base}chatops_allow_groups = [\"@oncall\"]\n"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"@oncall\" is not a Slack user group id"),
            "{e}"
        );
        assert!(
            !is_slack_group_id("S") && !is_slack_group_id("s0614") && !is_slack_group_id("U0614")
        );
    }

    #[test]
    fn a_denied_read_names_owner_group_mode_and_the_change() {
        let path = Path::new("/etc/pandora-ilert/pandora-ilert.toml");
        let facts = |user: u32, groups: Vec<u32>| access::Facts {
            owner: (0, "root".into()),
            group: (120, "pandora".into()),
            mode: 0o640,
            user: (user, if user == 0 { "root" } else { "nobody" }.into()),
            groups,
        };
        let outsider = access::advice(path, &facts(65534, vec![65534]));
        assert!(
            outsider.starts_with("it is root:pandora mode 0640 and pandora-ilert runs as nobody, neither its owner nor in group pandora"),
            "{outsider}"
        );
        assert!(
            outsider.contains("add nobody to group pandora"),
            "{outsider}"
        );
        assert!(!outsider.contains("--config"), "{outsider}");
        let member = access::advice(path, &facts(65534, vec![65534, 120]));
        assert!(member.ends_with("in its group, which has no read permission: chmod g+r /etc/pandora-ilert/pandora-ilert.toml"), "{member}");
        let owner = access::advice(path, &facts(0, vec![0]));
        assert!(
            owner.contains("its owner, without read permission: chmod u+r"),
            "{owner}"
        );
    }

    #[test]
    fn minimal_config_from_the_issue_loads() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.ilert_url, "https://api.ilert.com");
        assert_eq!(c.routes.len(), 1);
        assert_eq!(c.routes[0].source.key.expose(), "il1api123");
        assert_eq!(c.routes[0].source.api, IlertApi::Events);
        assert_eq!(c.alert_deadline, Duration::from_secs(10));
        assert!(c.refire_window.is_none());
    }

    #[test]
    fn unknown_key_names_line_and_suggests() {
        let text = MINIMAL.replace("ilert_key", "ilert_ky");
        let e = parse(&text).unwrap_err();
        assert_eq!(e.line, Some(7), "{e}");
        assert!(
            e.to_string()
                .contains("unknown key 'ilert_ky'; did you mean 'ilert_key'?"),
            "{e}"
        );
    }

    #[test]
    fn missing_default_route_is_an_error() {
        let text = MINIMAL.replace(
            "name = \"default\"",
            "name = \"db\"\ngroups = [\"Databases\"]",
        );
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("no default route"), "{e}");
    }

    #[test]
    fn chat_backend_without_section_is_an_error() {
        let text = format!("{MINIMAL}chat = \"slack\"\n");
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("no [slack] section"), "{e}");
    }

    #[test]
    fn heartbeat_key_is_read_from_the_key_or_the_integration_url() {
        let with = |v: &str| {
            parse(&MINIMAL.replace("[[route]]", &format!("heartbeat_key = \"{v}\"\n[[route]]")))
        };
        let key = |v: &str| with(v).unwrap().heartbeat_key.unwrap().expose().to_string();
        assert_eq!(key("hb2-abc"), "hb2-abc");
        assert_eq!(key("https://beat.ilert.com/api/pings/hb2-abc"), "hb2-abc");
        assert_eq!(
            key("https://api.ilert.com/api/heartbeats/il1hbt9/"),
            "il1hbt9"
        );
        assert_eq!(
            key("https://api.ilert.com/api/v1/heartbeats/il1hbt9"),
            "il1hbt9"
        );
        let e = with("https://beat.ilert.com/").unwrap_err();
        assert!(e.message.contains("not a heartbeat integration URL"), "{e}");
        assert_eq!(
            parse(MINIMAL).unwrap().heartbeat_url,
            "https://beat.ilert.com"
        );
    }

    #[test]
    fn rate_limit_is_events_per_window() {
        let with = |v: &str| {
            parse(&MINIMAL.replace("[[route]]", &format!("rate_limit = \"{v}\"\n[[route]]")))
        };
        let c = parse(MINIMAL).unwrap();
        assert_eq!(
            (c.events_per_window, c.events_window),
            (50, Duration::from_secs(60))
        );
        let c = with(" 10 / 2s ").unwrap();
        assert_eq!(
            (c.events_per_window, c.events_window),
            (10, Duration::from_secs(2))
        );
        let c = with("off").unwrap();
        assert_eq!(c.events_per_window, 0, "off: not paced");
        for bad in ["0/1m", "50", "50/0s", "x/1m"] {
            let e = with(bad).unwrap_err();
            assert!(e.message.contains("rate_limit"), "{bad}: {e}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let c = parse(MINIMAL).unwrap();
        assert!(!format!("{c:?}").contains("il1api123"));
    }

    const TEAMS_GRAPH: &str = "[teams]\ntenant_id = \"t\"\nclient_id = \"c\"\nclient_secret = \"s\"\nteam_id = \"team\"\nwebhook_url = \"https://example.logic.azure.com/w?sig=x\"\n";

    #[test]
    fn the_teams_bot_has_documented_defaults_and_needs_graph_and_both_credentials() {
        let bot = "bot_app_id = \"b\"\nbot_secret = \"bot-secret-value\"\n";
        let c = parse(&format!("{MINIMAL}chat = \"teams\"\n{TEAMS_GRAPH}{bot}")).unwrap();
        let t = c.teams.unwrap();
        let b = t.bot.unwrap();
        assert_eq!(b.tenant, "botframework.com");
        assert_eq!(b.service_url, "https://smba.trafficmanager.net/teams");
        assert_eq!(
            b.token_url,
            "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
        );
        let single = format!("{MINIMAL}{TEAMS_GRAPH}{bot}bot_tenant = \"my-tenant\"\n");
        assert!(parse(&single)
            .unwrap()
            .teams
            .unwrap()
            .bot
            .unwrap()
            .token_url
            .contains("/my-tenant/oauth2"));
        let half = format!("{MINIMAL}{TEAMS_GRAPH}bot_app_id = \"b\"\n");
        assert!(parse(&half)
            .unwrap_err()
            .message
            .contains("both bot_app_id and bot_secret"));
        let stray = format!("{MINIMAL}{TEAMS_GRAPH}bot_tenant = \"x\"\n");
        assert!(parse(&stray)
            .unwrap_err()
            .message
            .contains("bot_tenant needs bot_app_id"));
        let webhook_only = format!(
            "{MINIMAL}[teams]\nwebhook_url = \"https://example.logic.azure.com/w?sig=x\"\n{bot}"
        );
        assert!(parse(&webhook_only)
            .unwrap_err()
            .message
            .contains("needs the Graph settings"));
    }

    #[test]
    fn the_bot_secret_is_scrubbed_and_deletion_must_come_before_pruning() {
        let bot = "bot_app_id = \"b\"\nbot_secret = \"bot-secret-value\"\n";
        let c = parse(&format!("{MINIMAL}{TEAMS_GRAPH}{bot}")).unwrap();
        assert_eq!(
            c.scrubber().scrub("echo bot-secret-value"),
            "echo [redacted]"
        );
        let late = format!("{MINIMAL}{TEAMS_GRAPH}delete_archived_after = \"30d\"\n");
        assert!(parse(&late).unwrap_err().message.contains("prune_after"));
        let ok = format!("{MINIMAL}{TEAMS_GRAPH}delete_archived_after = \"14d\"\n");
        assert_eq!(
            parse(&ok).unwrap().teams.unwrap().delete_archived_after,
            Some(Duration::from_secs(14 * 86_400))
        );
    }

    #[test]
    fn teams_owner_is_read_and_required_for_private_routes() {
        let private = format!("{MINIMAL}chat = \"teams\"\nprivate = true\n{TEAMS_GRAPH}");
        let e = parse(&private).unwrap_err();
        assert!(e.message.contains("set [teams] owner"), "{e}");
        let c = parse(&format!("{private}owner = \"u-1\"\n")).unwrap();
        assert_eq!(c.teams.unwrap().owner.as_deref(), Some("u-1"));
    }

    #[test]
    fn teams_webhook_mode_refuses_private_routes_and_stakeholder_channels() {
        let webhook = "[teams]\nwebhook_url = \"https://example.logic.azure.com/w?sig=x\"\n";
        let e = parse(&format!(
            "{MINIMAL}chat = \"teams\"\nprivate = true\n{webhook}"
        ))
        .unwrap_err();
        assert!(e.message.contains("no Graph settings"), "{e}");
        let e = parse(&format!(
            "{MINIMAL}chat = \"teams\"\nstakeholder_channel = \"19:x\"\n{TEAMS_GRAPH}"
        ))
        .unwrap_err();
        assert!(
            e.message.contains("stakeholder_channel is not supported"),
            "{e}"
        );
        let c = parse(&format!("{MINIMAL}chat = \"teams\"\n{webhook}")).unwrap();
        assert!(!c.teams.unwrap().graph());
    }

    #[test]
    fn pandora_db_timeout_stays_inside_the_alert_deadline() {
        let c = parse(MINIMAL).unwrap();
        assert_eq!(c.pandora_db.timeout, Duration::from_secs(3));
        assert!(c.pandora_db.user.is_none());
        let c = parse(&format!("alert_deadline = \"2s\"\n{MINIMAL}")).unwrap();
        assert_eq!(c.pandora_db.timeout, Duration::from_secs(1));
        let e = parse(&format!("{MINIMAL}\n[pandora_db]\ntimeout = \"10s\"\n")).unwrap_err();
        assert!(e.message.contains("less than alert_deadline (10s)"), "{e}");
        let c = parse(&format!(
            "{MINIMAL}\n[pandora_db]\nuser = \"ro\"\npassword = \"pw-secret\"\nport = 3307\n"
        ))
        .unwrap();
        assert_eq!(c.pandora_db.port, Some(3307));
        assert!(!format!("{:?}", c.pandora_db).contains("pw-secret"));
    }

    #[test]
    fn bad_duration_is_explained() {
        let e = parse(&format!("alert_deadline = \"ten\"\n{MINIMAL}")).unwrap_err();
        assert!(e.message.contains("not a duration"), "{e}");
        assert_eq!(e.line, Some(1));
    }

    /// A key every route may repeat: the error names the line of the route that has it wrong,
    /// not the first line with that key.
    #[test]
    fn an_error_in_the_second_routes_key_names_that_routes_line() {
        let text = "[slack]\ntoken = \"xoxb-1\"\n\
                    [[route]]\nname = \"db\"\ngroups = \"Databases\"\nilert_key = \"k1\"\n\
                    chat = \"slack\"\nstorm_quiet = \"5m\"\n\
                    [[route]]\nname = \"default\"\nilert_key = \"k2\"\n\
                    chat = \"slak\"\nstorm_quiet = \"soon\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.line, Some(12), "{e}");
        assert!(e.message.contains("did you mean 'slack'?"), "{e}");
        let e = parse(&text.replace("\"slak\"", "\"slack\"")).unwrap_err();
        assert_eq!(e.line, Some(13), "{e}");
        assert!(e.message.contains("'storm_quiet' = \"soon\""), "{e}");
        let twice = text
            .replace("\"slak\"", "\"slack\"")
            .replace("\"soon\"", "\"1m\"")
            .replace("name = \"default\"", "name = \"db\"");
        let e = parse(&twice).unwrap_err();
        assert_eq!(e.line, Some(10), "{e}");
        assert!(e.message.contains("route 'db' is defined twice"), "{e}");
    }

    #[test]
    fn teams_cannot_have_an_intake_channel() {
        let text = "[teams]\nwebhook_url = \"https://example.invalid/hook\"\n[[route]]\nname = \"default\"\nilert_key = \"k\"\nchat = \"teams\"\nintake_channel = \"x\"\n";
        let e = parse(text).unwrap_err();
        assert!(
            e.message
                .contains("intake_channel needs a backend that can read messages"),
            "{e}"
        );
    }
}
