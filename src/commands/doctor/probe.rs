//! Reachability probes for `doctor`: one read-only request per configured API, so that a
//! check never creates an alert, a channel or a message. Classifying an answer is pure and
//! tested; sending goes through `crate::http::Http`.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::{Check, Class};
use crate::config::{MatrixConfig, Secret, SlackConfig, TeamsConfig};
use crate::http::{encode_component, Http, Request, Response, TransportError};

/// `GET` on the ilert API base: any HTTP answer means ilert is reachable. Integration keys are
/// not tried: the only way to test one is to send an event.
pub fn ilert(http: &Http, base: &str, timeout: Duration) -> Check {
    let what = format!("ilert API {base}");
    match http.send(&Request::new("GET", format!("{base}/")), timeout) {
        Ok(r) if r.is_redirect() => redirected(&what, &r, "[ilert] api_url"),
        Ok(r) => Check::ok(format!(
            "{what} answers (HTTP {}); integration keys are only proven by a real event",
            r.status
        )),
        Err(e) => unreachable(&what, base, &e),
    }
}

/// Slack `auth.test`: proves the token without changing anything.
pub fn slack(http: &Http, slack: &SlackConfig, timeout: Duration) -> Check {
    let req = Request::new("POST", format!("{}/auth.test", slack.api_url))
        .header("Authorization", format!("Bearer {}", slack.token.expose()));
    match http.send(&req, timeout) {
        Ok(r) => classify_slack(&slack.api_url, &r),
        Err(e) => unreachable(&format!("Slack API {}", slack.api_url), &slack.api_url, &e),
    }
}

/// Reads an `auth.test` answer.
pub fn classify_slack(api_url: &str, r: &Response) -> Check {
    if r.is_redirect() {
        return redirected(&format!("Slack API {api_url}"), r, "[slack] api_url");
    }
    let j = r.json();
    if r.status == 429 {
        return Check::warn(
            format!("Slack API {api_url} is rate limiting us (HTTP 429)"),
            "run doctor again in a minute",
        );
    }
    if r.status >= 500 {
        return Check::fail(
            Class::Reach,
            format!("Slack API {api_url} answers HTTP {}", r.status),
            "Slack has a problem; check status.slack.com and try again later",
        );
    }
    if r.status == 200 && j["ok"] == true {
        return Check::ok(format!(
            "Slack token accepted (team {}, bot user {})",
            j["team"].as_str().unwrap_or("?"),
            j["user"].as_str().unwrap_or("?")
        ));
    }
    let error = j["error"].as_str().unwrap_or("no JSON answer");
    Check::fail(
        Class::Config,
        format!("Slack refused the token: {error} (HTTP {})", r.status),
        "set [slack] token to the app's Bot User OAuth Token (xoxb-...), and check api_url",
    )
}

/// Matrix `GET /_matrix/client/v3/account/whoami`: proves the access token.
pub fn matrix(http: &Http, m: &MatrixConfig, timeout: Duration) -> Check {
    let req = Request::new(
        "GET",
        format!("{}/_matrix/client/v3/account/whoami", m.homeserver),
    )
    .header(
        "Authorization",
        format!("Bearer {}", m.access_token.expose()),
    );
    match http.send(&req, timeout) {
        Ok(r) => classify_matrix(&m.homeserver, &r),
        Err(e) => unreachable(
            &format!("Matrix homeserver {}", m.homeserver),
            &m.homeserver,
            &e,
        ),
    }
}

/// Reads a `whoami` answer.
pub fn classify_matrix(homeserver: &str, r: &Response) -> Check {
    if r.is_redirect() {
        return redirected(
            &format!("Matrix homeserver {homeserver}"),
            r,
            "[matrix] homeserver",
        );
    }
    let j = r.json();
    match r.status {
        200 => Check::ok(format!(
            "Matrix token accepted by {homeserver} (user {})",
            j["user_id"].as_str().unwrap_or("?")
        )),
        401 | 403 => Check::fail(
            Class::Config,
            format!(
                "Matrix homeserver {homeserver} refused the access token: {}",
                j["errcode"].as_str().unwrap_or("HTTP error")
            ),
            "set [matrix] access_token to a valid token of the bot user (log in again to get one)",
        ),
        404 => Check::fail(
            Class::Config,
            format!("{homeserver} does not serve the Matrix client API (HTTP 404)"),
            "set [matrix] homeserver to the client-server base URL, e.g. https://matrix.example.org",
        ),
        429 => Check::warn(
            format!("Matrix homeserver {homeserver} is rate limiting us (HTTP 429)"),
            "run doctor again in a minute",
        ),
        s => Check::fail(
            Class::Reach,
            format!("Matrix homeserver {homeserver} answers HTTP {s}"),
            "check the homeserver's health and any reverse proxy in front of it",
        ),
    }
}

/// Matrix rooms the bot has to read (`(what, room id or alias)`: stakeholder, intake and open
/// incident rooms): a warning for each that is end-to-end encrypted (an `m.room.encryption`
/// state event, spec `m.room.encryption.yaml`). The bot has no E2EE, so it cannot read
/// `!ack`, `!resolve` or `!incident` typed there (its own messages still arrive, unencrypted).
pub fn matrix_encrypted_rooms(
    http: &Http,
    m: &MatrixConfig,
    rooms: &[(String, String)],
    timeout: Duration,
) -> Vec<Check> {
    let get = |path: String| {
        let req = Request::new("GET", format!("{}/_matrix/client/v3{path}", m.homeserver)).header(
            "Authorization",
            format!("Bearer {}", m.access_token.expose()),
        );
        http.send(&req, timeout).ok()
    };
    let mut checks = Vec::new();
    let mut clear = 0;
    for (what, room) in rooms {
        let id = if room.starts_with('#') {
            match get(format!("/directory/room/{}", encode_component(room))) {
                Some(r) if r.status == 200 => {
                    r.json()["room_id"].as_str().unwrap_or_default().to_string()
                }
                _ => continue,
            }
        } else {
            room.clone()
        };
        if id.is_empty() {
            continue;
        }
        let answer = get(format!(
            "/rooms/{}/state/m.room.encryption/",
            encode_component(&id)
        ));
        match answer.map(|r| encrypted(r.status)) {
            Some(Some(true)) => checks.push(Check::warn(
                format!(
                    "Matrix {what} {room} is end-to-end encrypted: the bot cannot read commands \
                     typed there (!ack, !resolve, !incident)"
                ),
                "use an unencrypted room (encryption cannot be turned off in a room); if the \
                 homeserver encrypts new rooms by default (Synapse \
                 encryption_enabled_by_default_for_room_type), turn that off for incident rooms",
            )),
            Some(Some(false)) => clear += 1,
            // Not readable (the bot is not in it yet): nothing to say.
            _ => {}
        }
    }
    if clear > 0 {
        checks.push(Check::ok(format!(
            "Matrix: {clear} room(s) the bot reads are not encrypted"
        )));
    }
    checks
}

/// Whether a `GET …/state/m.room.encryption/` answer says the room is encrypted: 200 yes,
/// 404 (`M_NOT_FOUND`, no such state) no, anything else unknown.
pub fn encrypted(status: u16) -> Option<bool> {
    match status {
        200 => Some(true),
        404 => Some(false),
        _ => None,
    }
}

/// Teams Graph mode: a client-credentials token request (creates nothing in the tenant).
pub fn teams_graph(http: &Http, t: &TeamsConfig, timeout: Duration) -> Option<Check> {
    let (tenant, client_id, secret) = (
        t.tenant_id.as_deref()?,
        t.client_id.as_deref()?,
        t.client_secret.as_ref()?,
    );
    let req = token_request(t, tenant, client_id, secret);
    Some(match http.send(&req, timeout) {
        Ok(r) => classify_teams_token(tenant, &r),
        Err(e) => unreachable(
            &format!("Microsoft login {}", t.login_url),
            &t.login_url,
            &e,
        ),
    })
}

/// How to install the bot's app by hand, for the admin.
const INSTALL_BY_HAND: &str = "upload the bot's Teams app package to the organisation's catalog \
     (Teams admin center: Teams apps, Manage apps, Upload new app), then either grant the app \
     registration of [teams] client_id the application permission \
     TeamsAppInstallation.ReadWriteSelfForTeam.All with admin consent and set [teams] \
     bot_teams_app_id to the app's catalog id (the next plugin run installs it), or add it to \
     the team by hand (in Teams: the team, More options, Manage team, Apps, Get more apps)";

/// Teams bot mode: the bot's own credentials (a Bot Connector token), and whether its app is
/// installed in the team (Graph `installedApps`). `last_install` is what the last delivery's
/// attempt to install it left in `meta/`.
pub fn teams_bot(
    http: &Http,
    t: &TeamsConfig,
    timeout: Duration,
    last_install: Option<&str>,
) -> Vec<Check> {
    let Some(bot) = &t.bot else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let req = Request::new("POST", bot.token_url.clone()).form(vec![
        ("grant_type".into(), "client_credentials".into()),
        ("client_id".into(), bot.app_id.clone()),
        ("client_secret".into(), bot.secret.expose().into()),
        ("scope".into(), crate::chat::teams_bot::BOT_SCOPE.into()),
    ]);
    out.push(match http.send(&req, timeout) {
        Ok(r) if r.status == 200 && r.json()["access_token"].is_string() => Check::ok(format!(
            "Teams bot {} credentials accepted (Bot Connector token issued by tenant {})",
            bot.app_id, bot.tenant
        )),
        Ok(r) if r.is_redirect() => {
            redirected("Teams bot token endpoint", &r, "[teams] bot_token_url")
        }
        Ok(r) => Check::fail(
            Class::Config,
            format!(
                "Teams bot token refused (HTTP {} {})",
                r.status,
                r.json()["error"].as_str().unwrap_or("error")
            ),
            "check [teams] bot_app_id and bot_secret (the Azure Bot's Microsoft app id and a \
             client secret of it), and bot_tenant: a single-tenant bot needs its tenant id",
        ),
        Err(e) => unreachable("Teams bot token endpoint", &bot.token_url, &e),
    });
    let refused = last_install
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .filter(|v| v["state"] == "refused")
        .map(|v| {
            format!(
                "; the last attempt to install it was refused at {} ({})",
                v["at"].as_str().unwrap_or_default(),
                v["reason"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let Some(app) = &bot.teams_app_id else {
        out.push(Check::warn(
            format!(
                "Teams bot: [teams] bot_teams_app_id is not set, so the bot's app is not installed \
                 in the team automatically; it must be installed by hand{refused}"
            ),
            INSTALL_BY_HAND,
        ));
        return out;
    };
    let (Some(tenant), Some(client_id), Some(secret), Some(team)) = (
        t.tenant_id.as_deref(),
        t.client_id.as_deref(),
        t.client_secret.as_ref(),
        t.team_id.as_deref(),
    ) else {
        return out;
    };
    let Some(token) = http
        .send(&token_request(t, tenant, client_id, secret), timeout)
        .ok()
        .and_then(|r| r.json()["access_token"].as_str().map(str::to_string))
    else {
        return out;
    };
    let url = format!(
        "{}/teams/{}/installedApps?$expand=teamsApp",
        t.graph_url,
        encode_component(team)
    );
    let req = Request::new("GET", url).header("Authorization", format!("Bearer {token}"));
    out.push(match http.send(&req, timeout) {
        Ok(r) if r.status == 200 => {
            let installed = r.json()["value"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["teamsApp"]["id"] == app.as_str());
            if installed {
                Check::ok(format!("Teams bot: its app {app} is installed in the team"))
            } else {
                Check::warn(
                    format!("Teams bot: its app {app} is not installed in the team{refused}"),
                    INSTALL_BY_HAND,
                )
            }
        }
        Ok(r) => Check::warn(
            format!(
                "Teams bot: cannot read the team's apps (HTTP {}){refused}",
                r.status
            ),
            INSTALL_BY_HAND,
        ),
        Err(e) => unreachable("Microsoft Graph", &t.graph_url, &e),
    });
    out
}

/// The client-credentials token request for Graph.
fn token_request(t: &TeamsConfig, tenant: &str, client_id: &str, secret: &Secret) -> Request {
    let url = format!(
        "{}/{}/oauth2/v2.0/token",
        t.login_url,
        encode_component(tenant)
    );
    Request::new("POST", url).form(vec![
        ("grant_type".into(), "client_credentials".into()),
        ("client_id".into(), client_id.into()),
        ("client_secret".into(), secret.expose().into()),
        (
            "scope".into(),
            "https://graph.microsoft.com/.default".into(),
        ),
    ])
}

/// Channel-list pages read at most when counting a team's channels.
const TEAM_LIST_PAGES_MAX: usize = 100;

/// Teams Graph mode: how full the incident team is. A team holds at most 1,000 channels,
/// deleted ones included for 30 days and archived ones included while they exist (Microsoft,
/// "Limits and specifications for Microsoft Teams"); one channel per incident fills it.
/// Needs a token (asked again: doctor caches nothing) and `Channel.ReadBasic.All`.
pub fn teams_capacity(
    http: &Http,
    t: &TeamsConfig,
    timeout: Duration,
    deleted_recently: usize,
) -> Option<Check> {
    let (tenant, client_id, secret, team) = (
        t.tenant_id.as_deref()?,
        t.client_id.as_deref()?,
        t.client_secret.as_ref()?,
        t.team_id.as_deref()?,
    );
    let req = token_request(t, tenant, client_id, secret);
    let token = http.send(&req, timeout).ok()?.json()["access_token"]
        .as_str()?
        .to_string();
    let (mut total, mut ours, mut ours_archived) = (0usize, 0usize, 0usize);
    let mut url = format!("{}/teams/{}/channels", t.graph_url, encode_component(team));
    for _ in 0..TEAM_LIST_PAGES_MAX {
        let req =
            Request::new("GET", url.clone()).header("Authorization", format!("Bearer {token}"));
        let r = match http.send(&req, timeout) {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                return Some(Check::warn(
                    format!("Teams: cannot list the team's channels (HTTP {})", r.status),
                    "grant the app Channel.ReadBasic.All (application) with admin consent",
                ))
            }
            Err(_) => return None,
        };
        let page = r.json();
        for c in page["value"].as_array().into_iter().flatten() {
            total += 1;
            if c["description"]
                .as_str()
                .is_some_and(|d| d.contains(crate::chat::teams::MARKER))
            {
                ours += 1;
                if c["isArchived"].as_bool() == Some(true) {
                    ours_archived += 1;
                }
            }
        }
        // Follow Graph's own next link only (never another host).
        match page["@odata.nextLink"].as_str() {
            Some(next) if next.starts_with(&t.graph_url) => url = next.to_string(),
            _ => break,
        }
    }
    Some(team_capacity(&crate::chat::teams::TeamCapacity {
        listed: total,
        ours,
        ours_archived,
        deleted_recently,
        at: crate::time::Timestamp::now(),
    }))
}

/// The capacity check: the count as the plugin words it, a warning from 80 % of the limit on.
pub fn team_capacity(c: &crate::chat::teams::TeamCapacity) -> Check {
    if c.warning().is_some() {
        Check::warn(c.line(), crate::chat::teams::CAPACITY_ADVICE)
    } else {
        Check::ok(c.line())
    }
}

/// Reads a token answer.
pub fn classify_teams_token(tenant: &str, r: &Response) -> Check {
    if r.is_redirect() {
        return redirected("Microsoft login", r, "[teams] login_url");
    }
    let j = r.json();
    if r.status == 200 && j["access_token"].is_string() {
        return Check::ok(format!(
            "Teams app credentials accepted for tenant {tenant} (Graph token issued)"
        ));
    }
    if (400..500).contains(&r.status) {
        let code = j["error"].as_str().unwrap_or("error");
        let first = j["error_description"]
            .as_str()
            .and_then(|d| d.lines().next())
            .unwrap_or("");
        return Check::fail(
            Class::Config,
            format!("Microsoft login refused the Teams app: {code} {first}")
                .trim_end()
                .to_string(),
            "check [teams] tenant_id, client_id and client_secret (secrets expire; create a new one in the app registration)",
        );
    }
    Check::fail(
        Class::Reach,
        format!("Microsoft login answers HTTP {}", r.status),
        "try again later; check a proxy between this server and login.microsoftonline.com",
    )
}

/// Teams webhook: DNS and a TCP connection only (a request would post a message). The URL
/// holds a signature, so only its host is shown.
pub fn teams_webhook(url: &Secret, timeout: Duration) -> Check {
    let Some((host, port)) = host_port(url.expose()) else {
        return Check::fail(
            Class::Config,
            "[teams] webhook_url is not an http(s) URL".into(),
            "paste the whole URL of the Workflows / incoming webhook",
        );
    };
    let what = format!("Teams webhook host {host}:{port}");
    let addrs = match (host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect::<Vec<_>>(),
        Err(e) => {
            return Check::fail(
                Class::Reach,
                format!("{what}: cannot resolve the name ({e})"),
                "check DNS on this server (/etc/resolv.conf) or the webhook URL",
            )
        }
    };
    let mut last = String::from("no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(_) => {
                return Check::ok(format!(
                    "{what} accepts connections (TCP only; nothing posted)"
                ))
            }
            Err(e) => last = e.to_string(),
        }
    }
    Check::fail(
        Class::Reach,
        format!("{what}: cannot connect ({last})"),
        "open outgoing HTTPS to that host in the firewall, or set HTTPS_PROXY",
    )
}

/// Host and port of an http(s) URL (port from the scheme when absent).
pub fn host_port(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit('@').next()?;
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    Some((host, port))
}

/// A 3xx answer as a check: the configured URL is not the API's own.
fn redirected(what: &str, r: &Response, setting: &str) -> Check {
    let target = r
        .location
        .as_deref()
        .unwrap_or("nowhere (no Location header)");
    Check::fail(
        Class::Config,
        format!(
            "{what} answers with a redirect (HTTP {}) to {target}; API calls never follow \
             redirects",
            r.status
        ),
        &format!("set {setting} to the URL the server redirects to"),
    )
}

/// A transport failure as a check: the failure class, and the fix for that class.
fn unreachable(what: &str, url: &str, e: &TransportError) -> Check {
    let host = host_port(url).map_or_else(|| url.to_string(), |(h, p)| format!("{h}:{p}"));
    let fix = match e {
        TransportError::Dns => format!(
            "the name in {host} does not resolve: check the host name in the configured URL, then DNS on this server (/etc/resolv.conf, `getent hosts`)"
        ),
        TransportError::Refused => format!(
            "{host} refuses the connection: nothing listens on that port or a firewall rejects it; check the port in the URL and the firewall; if this server must use a proxy, set HTTPS_PROXY"
        ),
        TransportError::Timeout => format!(
            "no answer in time from {host}: a firewall dropping packets, or a proxy is needed (set HTTPS_PROXY); or raise request_timeout"
        ),
        TransportError::Certificate(_) => format!(
            "the certificate of {host} is not trusted: check the host name in the URL and the certificate's expiry; a TLS-inspecting proxy must exempt this host (the built-in Mozilla roots are used, not the system's)"
        ),
        TransportError::Tls(_) => format!(
            "TLS with {host} failed: use https:// only for a TLS port, check the system clock and any proxy that intercepts TLS"
        ),
        TransportError::Connect(_) => format!(
            "no route to {host}: check the network route and the firewall for outgoing connections"
        ),
        TransportError::Other(_) => format!(
            "check the URL of {host} and any proxy on the way (HTTPS_PROXY)"
        ),
    };
    Check::fail(
        Class::Reach,
        format!("{what} unreachable ({}): {e}", e.class()),
        &fix,
    )
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;

    fn resp(status: u16, body: &str) -> Response {
        Response::new(status, body)
    }

    #[test]
    fn host_port_handles_ports_userinfo_and_ipv6() {
        assert_eq!(
            host_port("https://x.webhook.office.com/webhookb2/abc?sig=1"),
            Some(("x.webhook.office.com".into(), 443))
        );
        assert_eq!(
            host_port("http://u:p@127.0.0.1:8008/p"),
            Some(("127.0.0.1".into(), 8008))
        );
        assert_eq!(host_port("https://[::1]:9/"), Some(("::1".into(), 9)));
        assert_eq!(host_port("ftp://x"), None);
        assert_eq!(host_port("https:///x"), None);
    }

    #[test]
    fn slack_invalid_auth_is_a_config_failure() {
        let c = classify_slack(
            "https://slack.com/api",
            &resp(200, r#"{"ok":false,"error":"invalid_auth"}"#),
        );
        assert_eq!((c.status, c.class), (Status::Fail, Class::Config));
        assert!(c.what.contains("invalid_auth"));
    }

    #[test]
    fn slack_ok_names_team_and_user() {
        let c = classify_slack(
            "u",
            &resp(200, r#"{"ok":true,"team":"Ops","user":"pandora-bot"}"#),
        );
        assert_eq!(c.status, Status::Ok);
        assert!(c.what.contains("Ops") && c.what.contains("pandora-bot"));
    }

    #[test]
    fn slack_server_error_is_reachability() {
        let c = classify_slack("u", &resp(503, ""));
        assert_eq!((c.status, c.class), (Status::Fail, Class::Reach));
    }

    #[test]
    fn matrix_unknown_token_is_config_and_404_names_the_url() {
        let c = classify_matrix("https://m", &resp(401, r#"{"errcode":"M_UNKNOWN_TOKEN"}"#));
        assert_eq!((c.status, c.class), (Status::Fail, Class::Config));
        assert!(c.what.contains("M_UNKNOWN_TOKEN"));
        let c = classify_matrix("https://m", &resp(404, ""));
        assert!(c.fix.unwrap().contains("homeserver"));
    }

    #[test]
    fn teams_bad_secret_is_config_with_the_aad_code() {
        let c = classify_teams_token(
            "t1",
            &resp(
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: x"}"#,
            ),
        );
        assert_eq!((c.status, c.class), (Status::Fail, Class::Config));
        assert!(c.what.contains("AADSTS7000215"), "{}", c.what);
        assert!(!c.what.contains("Trace ID"));
    }

    #[test]
    fn timeouts_suggest_firewall_or_proxy() {
        let c = unreachable(
            "ilert API",
            "https://api.ilert.com",
            &TransportError::Timeout,
        );
        assert_eq!(c.class, Class::Reach);
        assert!(c.fix.unwrap().contains("api.ilert.com:443"));
    }

    #[test]
    fn each_transport_class_gets_its_own_fix() {
        let fix = |e: TransportError| {
            let c = unreachable("ilert API", "https://api.ilert.example", &e);
            assert_eq!(c.class, Class::Reach);
            (c.what, c.fix.unwrap())
        };
        let (what, dns) = fix(TransportError::Dns);
        assert!(
            what.contains("(DNS)") && dns.contains("resolv.conf"),
            "{what} / {dns}"
        );
        assert!(!dns.contains("firewall"), "{dns}");
        let (_, refused) = fix(TransportError::Refused);
        assert!(refused.contains("port"), "{refused}");
        let (_, cert) = fix(TransportError::Certificate(
            "invalid peer certificate: Expired".into(),
        ));
        assert!(
            cert.contains("certificate") && cert.contains("expiry"),
            "{cert}"
        );
        let (_, tls) = fix(TransportError::Tls("received corrupt message".into()));
        assert!(tls.contains("https://"), "{tls}");
    }

    #[test]
    fn a_redirect_is_a_config_failure_naming_the_target_and_setting() {
        let r = Response {
            location: Some("https://api.ilert.example/moved".into()),
            ..Response::new(301, "")
        };
        for c in [
            classify_slack("https://slack.example/api", &r),
            classify_matrix("https://m.example", &r),
            classify_teams_token("t1", &r),
        ] {
            assert_eq!((c.status, c.class), (Status::Fail, Class::Config));
            assert!(
                c.what.contains("https://api.ilert.example/moved"),
                "{}",
                c.what
            );
            assert!(c.fix.unwrap().starts_with("set ["));
        }
    }

    proptest::proptest! {
        #![proptest_config(crate::http::arbitrary::config(1000))]

        /// Any answer to a probe: no panic; a redirect is a configuration failure; only a
        /// 2xx can be OK.
        #[test]
        fn any_answer_is_a_check(r in crate::http::arbitrary::answer()) {
            for c in [
                classify_slack("https://slack.example/api", &r),
                classify_matrix("https://m.example", &r),
                classify_teams_token("t1", &r),
            ] {
                if (300..=399).contains(&r.status) {
                    proptest::prop_assert_eq!((c.status, c.class), (Status::Fail, Class::Config));
                }
                if c.status == Status::Ok {
                    proptest::prop_assert!((200..=299).contains(&r.status));
                }
            }
        }
    }
}
