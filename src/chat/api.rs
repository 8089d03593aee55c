//! The one way the chat backends call their platforms: a JSON request with the bot's Bearer
//! token, sent within the run's deadline through the shared client, a redirect refused, and
//! any answer that is not a success handed back as one error type for the backend to classify.
//!
//! What differs between Slack, Graph and Matrix is only how an answer says "success" and where
//! its error code and text are: each backend gives a `Reader` for that, and a few lines that
//! turn the platform's `Refusal` into a `ChatError`.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::{ChatError, Context};
use crate::http::{Request, Response, TransportError};
use crate::time::Timestamp;

/// A platform's answer that is not a success.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status.
    pub status: u16,
    /// The platform's error code (Slack `error`, Graph `error.code`, Matrix `errcode`); empty
    /// when the answer had none.
    pub code: String,
    /// The platform's error text, or the answer's body on one line when it had none.
    pub message: String,
    /// The platform's own wait before a retry (`Retry-After`, or a field of the body).
    pub retry_after: Option<Duration>,
    /// The answer's JSON body (`Null` when it was not JSON), for fields a backend reads.
    pub body: Value,
}

/// Why a chat API call did not succeed, before the backend says what that means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// Too little of the run's deadline was left to start the request.
    Deadline,
    /// No answer came back; the class says what to check.
    Transport(TransportError),
    /// A 3xx answer, never followed: why, naming the setting to fix.
    Redirect(String),
    /// The platform answered with an error.
    Refused(Refusal),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Deadline => f.write_str("run deadline reached before the request"),
            ApiError::Transport(t) => write!(f, "{t}"),
            ApiError::Redirect(why) => f.write_str(why),
            ApiError::Refused(r) if r.code.is_empty() => {
                write!(f, "HTTP {}: {}", r.status, r.message)
            }
            ApiError::Refused(r) => write!(f, "HTTP {} {}: {}", r.status, r.code, r.message),
        }
    }
}

impl std::error::Error for ApiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ApiError::Transport(t) => Some(t),
            _ => None,
        }
    }
}

impl From<TransportError> for ApiError {
    fn from(e: TransportError) -> Self {
        ApiError::Transport(e)
    }
}

impl ApiError {
    /// The platform's refusal, for a backend to read; every other failure classified as every
    /// platform classifies it (`who` prefixes a redirect's message: "Slack chat.update").
    pub fn refusal(self, who: &str) -> Result<Refusal, ChatError> {
        match self {
            ApiError::Deadline => Err(ChatError::Transient(
                "run deadline reached; the rest waits for the next run".into(),
            )),
            ApiError::Transport(t) => Err(ChatError::Transport(t)),
            ApiError::Redirect(why) => Err(ChatError::Permanent(format!("{who}: {why}"))),
            ApiError::Refused(r) => Ok(r),
        }
    }

    /// The `ChatError` this is: the platform's refusal through `classify`, the rest as
    /// `refusal` says.
    pub fn into_chat(self, who: &str, classify: impl FnOnce(&Refusal) -> ChatError) -> ChatError {
        match self.refusal(who) {
            Ok(r) => classify(&r),
            Err(e) => e,
        }
    }

    /// True when the platform refused with one of `codes`.
    pub fn is(&self, codes: &[&str]) -> bool {
        matches!(self, ApiError::Refused(r) if codes.contains(&r.code.as_str()))
    }
}

/// How a platform's answer (not a redirect) says success: the value, or the refusal.
pub type Reader = fn(&Response, Timestamp) -> Result<Value, Refusal>;

/// Sends `req` with `Authorization: Bearer <bearer>` (when given), with the configured request
/// timeout cut to what the run's deadline leaves, and reads the answer with `read`.
/// `url_setting` names the setting a redirect's message tells people to fix.
pub fn call(
    ctx: &Context<'_>,
    req: Request,
    bearer: Option<&str>,
    url_setting: &str,
    read: Reader,
) -> Result<Value, ApiError> {
    let timeout = ctx
        .deadline
        .request_timeout(ctx.config.request_timeout)
        .ok_or(ApiError::Deadline)?;
    let req = match bearer {
        Some(token) => req.header("Authorization", format!("Bearer {token}")),
        None => req,
    };
    let resp = ctx.http.send(&req, timeout)?;
    // An HTTP date in `Retry-After` counts from when the answer came.
    answer(&resp, Timestamp::now(), url_setting, read)
}

/// Reads an answer: a redirect is a configuration error naming `url_setting`; anything else
/// goes through the platform's `read`.
pub fn answer(
    resp: &Response,
    now: Timestamp,
    url_setting: &str,
    read: Reader,
) -> Result<Value, ApiError> {
    if let Some(why) = resp.redirect_error(url_setting) {
        return Err(ApiError::Redirect(why));
    }
    read(resp, now).map_err(ApiError::Refused)
}

/// The usual REST shape (Graph, Matrix): a 2xx is its JSON value (`Null` when empty), any
/// other status a refusal with the error code and text found at the JSON pointers `code_at`
/// and `message_at` (the body on one line when it has no text), and `Retry-After`.
pub fn rest_answer(
    resp: &Response,
    now: Timestamp,
    code_at: &str,
    message_at: &str,
) -> Result<Value, Refusal> {
    let body = resp.json();
    if (200..300).contains(&resp.status) {
        return Ok(body);
    }
    let text = |at: &str| body.pointer(at).and_then(Value::as_str).map(str::to_string);
    Err(Refusal {
        status: resp.status,
        code: text(code_at).unwrap_or_default(),
        message: text(message_at).unwrap_or_else(|| crate::text::one_line(&resp.body, 200)),
        retry_after: resp.retry_after_delay(now),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: &str) -> ApiError {
        ApiError::Refused(Refusal {
            status,
            code: code.into(),
            message: String::new(),
            retry_after: None,
            body: Value::Null,
        })
    }

    #[test]
    fn failures_without_a_platform_answer_are_classified_alike() {
        let never = |_: &Refusal| unreachable!();
        assert!(matches!(
            ApiError::Deadline.into_chat("Slack x", never),
            ChatError::Transient(m) if m.contains("deadline")
        ));
        assert_eq!(
            ApiError::Transport(TransportError::Refused).into_chat("Matrix", never),
            ChatError::Transport(TransportError::Refused)
        );
        assert_eq!(
            ApiError::Redirect("HTTP 301 …".into()).into_chat("Teams: Graph", never),
            ChatError::Permanent("Teams: Graph: HTTP 301 …".into())
        );
    }

    #[test]
    fn a_refusal_goes_to_the_platform_and_is_matched_by_code() {
        let e = refused(200, "name_taken");
        assert!(e.is(&["already_pinned", "name_taken"]));
        assert!(!e.is(&["already_pinned"]));
        assert!(!ApiError::Deadline.is(&[""]));
        let got = e.into_chat("Slack x", |r| ChatError::Permanent(r.code.clone()));
        assert_eq!(got, ChatError::Permanent("name_taken".into()));
    }

    #[test]
    fn rest_answers_split_on_2xx_and_read_the_error_fields() {
        let (code, msg) = ("/errcode", "/error");
        let now = Timestamp::from_millis(0);
        let ok = Response::new(204, "");
        assert_eq!(rest_answer(&ok, now, code, msg), Ok(Value::Null));
        let r = rest_answer(
            &Response::new(403, r#"{"errcode":"M_FORBIDDEN","error":"no"}"#),
            now,
            code,
            msg,
        )
        .unwrap_err();
        assert_eq!(
            (r.status, r.code.as_str(), r.message.as_str()),
            (403, "M_FORBIDDEN", "no")
        );
        let r =
            rest_answer(&Response::new(502, "<html>\n bad\n</html>"), now, code, msg).unwrap_err();
        assert_eq!(
            (r.code.as_str(), r.message.as_str()),
            ("", "<html> bad </html>")
        );
    }
}
