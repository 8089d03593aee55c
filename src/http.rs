//! One small synchronous HTTP surface over ureq, shared by ilert and the chat backends.
//!
//! Status codes are data, not errors (`http_status_as_error(false)`), so callers see the body
//! and `Retry-After` of a 4xx/5xx. Transport errors never carry the URL: some URLs hold
//! integration keys or webhook signatures.

mod resolver;

use std::fmt;
use std::time::Duration;

use crate::time::Timestamp;

/// A request body.
#[derive(Clone, Debug)]
pub enum Body {
    /// No body.
    None,
    /// A JSON document.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded` pairs.
    Form(Vec<(String, String)>),
}

/// An HTTP request to send.
#[derive(Clone, Debug)]
pub struct Request {
    /// `GET`, `HEAD`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'static str,
    /// Full URL.
    pub url: String,
    /// Extra headers (e.g. `Authorization`).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Body,
}

impl Request {
    /// A request with no headers or body.
    pub fn new(method: &'static str, url: impl Into<String>) -> Self {
        Request {
            method,
            url: url.into(),
            headers: Vec::new(),
            body: Body::None,
        }
    }
    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
    /// Sets a JSON body.
    pub fn json(mut self, v: serde_json::Value) -> Self {
        self.body = Body::Json(v);
        self
    }
    /// Sets a form body.
    pub fn form(mut self, pairs: Vec<(String, String)>) -> Self {
        self.body = Body::Form(pairs);
        self
    }
}

/// A response: any status.
#[derive(Clone, Debug)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, if sent.
    pub retry_after: Option<String>,
    /// Body as text (bounded by ureq's 10 MB limit).
    pub body: String,
}

impl Response {
    /// `Retry-After` as a delay from `now` (seconds or an HTTP date).
    pub fn retry_after_delay(&self, now: Timestamp) -> Option<Duration> {
        let v = self.retry_after.as_deref()?.trim();
        if let Ok(secs) = v.parse::<f64>() {
            return Some(Duration::from_secs_f64(secs.clamp(0.0, 86_400.0)));
        }
        Timestamp::parse_http_date(v).map(|t| t.since(now))
    }
    /// The body parsed as JSON, or `Null`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Why no response came back. Messages never include the URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The request did not finish in time.
    Timeout,
    /// Could not connect (refused, DNS, TLS).
    Connect(String),
    /// Anything else on the wire.
    Other(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Timeout => f.write_str("timed out"),
            TransportError::Connect(m) => write!(f, "cannot connect: {m}"),
            TransportError::Other(m) => write!(f, "transport error: {m}"),
        }
    }
}

/// The shared HTTP client.
pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    /// A client with status codes as data and proxies from the environment. Host names are
    /// resolved once per client and IP addresses not at all (`resolver`): ureq's own resolver
    /// starts a thread for every request.
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(concat!("pandora-ilert/", env!("CARGO_PKG_VERSION")))
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            resolver::OncePerHost::default(),
        );
        Http { agent }
    }

    /// Sends a request; `timeout` bounds the whole exchange.
    pub fn send(&self, req: &Request, timeout: Duration) -> Result<Response, TransportError> {
        let timeout = timeout.max(Duration::from_millis(50));
        let result = match req.method {
            "GET" | "DELETE" | "HEAD" => {
                let mut b = match req.method {
                    "GET" => self.agent.get(&req.url),
                    "HEAD" => self.agent.head(&req.url),
                    _ => self.agent.delete(&req.url),
                };
                for (k, v) in &req.headers {
                    b = b.header(k, v);
                }
                b.config().timeout_global(Some(timeout)).build().call()
            }
            method => {
                let mut b = match method {
                    "PUT" => self.agent.put(&req.url),
                    "PATCH" => self.agent.patch(&req.url),
                    _ => self.agent.post(&req.url),
                };
                for (k, v) in &req.headers {
                    b = b.header(k, v);
                }
                let b = b.config().timeout_global(Some(timeout)).build();
                match &req.body {
                    Body::None => b.send_empty(),
                    Body::Json(v) => b
                        .header("Content-Type", "application/json; charset=utf-8")
                        .send(serde_json::to_vec(v).unwrap_or_default()),
                    Body::Form(pairs) => {
                        let refs: Vec<(&str, &str)> = pairs
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_str()))
                            .collect();
                        b.send_form(refs)
                    }
                }
            }
        };
        match result {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let body = resp.body_mut().read_to_string().map_err(map_error)?;
                Ok(Response {
                    status,
                    retry_after,
                    body,
                })
            }
            Err(e) => Err(map_error(e)),
        }
    }
}

fn map_error(e: ureq::Error) -> TransportError {
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::HostNotFound => TransportError::Connect("host not found".into()),
        ureq::Error::ConnectionFailed => TransportError::Connect("connection failed".into()),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                TransportError::Timeout
            }
            std::io::ErrorKind::ConnectionRefused => {
                TransportError::Connect("connection refused".into())
            }
            kind => TransportError::Other(format!("i/o error ({kind})")),
        },
        ureq::Error::Tls(m) => TransportError::Connect(format!("TLS: {m}")),
        ureq::Error::Rustls(e) => TransportError::Connect(format!("TLS: {e}")),
        ureq::Error::BadUri(_) => {
            TransportError::Other("bad URL (check api_url / homeserver in the config)".into())
        }
        other => {
            // Strip anything that could echo the URL back.
            let text = other.to_string();
            let text = text.split("http").next().unwrap_or("").trim().to_string();
            TransportError::Other(if text.is_empty() {
                "request failed".into()
            } else {
                text
            })
        }
    }
}

/// Percent-encodes a path segment or query value.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
