//! Client-credentials tokens from the Microsoft identity platform, for Graph and for the Bot
//! Connector alike: `POST {token endpoint}` with a form body (`grant_type=client_credentials`,
//! `client_id`, `client_secret`, `scope`), cached under `meta/` with their expiry and reused
//! until shortly before it, never logged.

use std::time::Duration;

use serde_json::{json, Value};

use super::api::{self, Refusal};
use super::{ChatError, Context};
use crate::http::{Request, Response};
use crate::text::one_line;
use crate::time::Timestamp;

/// Who asks for a token, where, and what to tell people when it is refused.
pub struct ClientCredentials<'c> {
    /// Names the caller in messages ("Teams", "Teams bot").
    pub who: &'static str,
    /// The token endpoint.
    pub url: String,
    /// The setting a redirect's message names ("[teams] login_url").
    pub url_setting: &'static str,
    /// The application (client) id.
    pub client_id: &'c str,
    /// Its secret.
    pub secret: &'c str,
    /// The scope (`https://graph.microsoft.com/.default`, `https://api.botframework.com/.default`).
    pub scope: &'static str,
    /// The `meta/` entry that caches the token.
    pub meta: String,
    /// What to check when the endpoint refuses the credentials.
    pub check: &'static str,
    /// A cached token is used only while it stays valid at least this much longer.
    pub margin: Duration,
}

/// Reads a token endpoint's answer: HTTP 200 is the token, anything else the OAuth error
/// (`error`, the first line of `error_description`).
pub fn read_token(resp: &Response, now: Timestamp) -> Result<Value, Refusal> {
    let body = resp.json();
    if resp.status == 200 {
        return Ok(body);
    }
    let description = body["error_description"]
        .as_str()
        .and_then(|d| d.lines().next())
        .unwrap_or_default();
    Err(Refusal {
        status: resp.status,
        code: body["error"].as_str().unwrap_or("error").to_string(),
        message: one_line(description, 200),
        retry_after: resp.retry_after_delay(now),
        body,
    })
}

/// What a token endpoint's refusal means for the delivery.
pub fn refused(who: &str, check: &str, r: &Refusal) -> ChatError {
    match r.status {
        429 => ChatError::RateLimited(r.retry_after),
        500..=599 => ChatError::Transient(format!("{who}: token endpoint HTTP {}", r.status)),
        status => ChatError::Permanent(format!(
            "{who}: the token endpoint refused the credentials (HTTP {status} {}: {}); {check}",
            r.code, r.message
        )),
    }
}

/// An API called with a client-credentials token, and how it says the token is no longer valid.
pub struct TokenApi {
    /// Names the API in refusals ("Teams: Graph", "Teams bot").
    pub who: &'static str,
    /// The setting a redirect's message names.
    pub url_setting: &'static str,
    /// Reads its answers.
    pub read: api::Reader,
    /// True when a refusal means "this token is no longer valid".
    pub invalid_token: fn(&Refusal) -> bool,
    /// The log line when a new token is fetched for that reason.
    pub refreshing: &'static str,
}

/// One call with a token from `token(fresh)`; when the API calls the token invalid, one new
/// token is fetched and the call made again. The outer error is classified already (token,
/// deadline, transport, redirect); the inner one is the API's refusal, for the caller to
/// read. The token is not a configured secret, so the client's scrubber does not know it: a
/// refusal that quotes it back loses it here.
pub fn call(
    ctx: &Context<'_>,
    target: &TokenApi,
    request: impl Fn() -> Request,
    mut token: impl FnMut(bool) -> Result<String, ChatError>,
) -> Result<Result<Value, Refusal>, ChatError> {
    let mut fresh = false;
    loop {
        let t = token(fresh)?;
        let mut refusal = match api::call(ctx, request(), Some(&t), target.url_setting, target.read)
        {
            Ok(v) => return Ok(Ok(v)),
            Err(e) => e.refusal(target.who)?,
        };
        refusal.message = refusal.message.replace(&t, crate::redact::REDACTED);
        if !fresh && (target.invalid_token)(&refusal) {
            log::info!("{}", target.refreshing);
            fresh = true;
            continue;
        }
        return Ok(Err(refusal));
    }
}

/// The cached token, or a new one when there is none or `fresh` asks for one (the API
/// called the cached one invalid).
pub fn token(
    ctx: &Context<'_>,
    c: &ClientCredentials<'_>,
    fresh: bool,
) -> Result<String, ChatError> {
    match (!fresh).then(|| cached(ctx, c)).flatten() {
        Some(t) => Ok(t),
        None => fetch(ctx, c),
    }
}

/// The cached token, while it stays valid at least `margin` longer.
pub fn cached(ctx: &Context<'_>, c: &ClientCredentials<'_>) -> Option<String> {
    let v: Value = serde_json::from_str(&ctx.store.read_meta(&c.meta)?).ok()?;
    let valid = v["expires_at"]
        .as_str()
        .and_then(Timestamp::parse_rfc3339)
        .is_some_and(|t| t > ctx.now.plus(c.margin));
    valid
        .then(|| v["access_token"].as_str().map(str::to_string))
        .flatten()
}

/// A new token from the endpoint, cached under `meta/` with its expiry.
pub fn fetch(ctx: &Context<'_>, c: &ClientCredentials<'_>) -> Result<String, ChatError> {
    let form = vec![
        ("grant_type".to_string(), "client_credentials".to_string()),
        ("client_id".to_string(), c.client_id.to_string()),
        ("client_secret".to_string(), c.secret.to_string()),
        ("scope".to_string(), c.scope.to_string()),
    ];
    let req = Request::new("POST", c.url.clone()).form(form);
    let who = format!("{}: token endpoint", c.who);
    let body = api::call(ctx, req, None, c.url_setting, read_token)
        .map_err(|e| e.into_chat(&who, |r| refused(c.who, c.check, r)))?;
    let Some(token) = body["access_token"].as_str().filter(|t| !t.is_empty()) else {
        return Err(ChatError::Transient(format!(
            "{}: token endpoint answered without access_token",
            c.who
        )));
    };
    let expires_in = body["expires_in"].as_u64().unwrap_or(0);
    let entry = json!({
        "access_token": token,
        "expires_at": ctx.now.plus(Duration::from_secs(expires_in)).rfc3339(),
    });
    ctx.store.write_meta(&c.meta, &entry.to_string());
    log::debug!("{}: new token, valid {expires_in}s", c.who);
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_refusals_say_what_to_check() {
        let now = Timestamp::from_millis(0);
        let r = read_token(
            &Response::new(
                401,
                r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"}"#,
            ),
            now,
        )
        .unwrap_err();
        assert!(matches!(
            refused("Teams bot", "check [teams] bot_secret", &r),
            ChatError::Permanent(m) if m.contains("invalid_client: AADSTS7000215: Invalid client secret provided.); check [teams] bot_secret")
        ));
        let r = read_token(&Response::new(503, ""), now).unwrap_err();
        assert!(matches!(refused("Teams", "", &r), ChatError::Transient(_)));
        assert!(read_token(&Response::new(200, r#"{"access_token":"t"}"#), now).is_ok());
    }
}
