//! One small synchronous HTTP surface over ureq, shared by ilert and the chat backends.
//!
//! Status codes are data, not errors (`http_status_as_error(false)`), so callers see the body
//! and `Retry-After` of a 4xx/5xx, and redirects are never followed (a 3xx is data too, and a
//! configuration error for the caller). Every answer is decoded lossily and scrubbed of the
//! configured secrets before anyone reads it. Transport errors never carry the URL: some URLs
//! hold integration keys or webhook signatures.

mod resolver;

use std::fmt;
use std::time::Duration;

use crate::redact::Scrubber;
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

/// Longest provider-requested wait (`Retry-After`) we honour; a longer one is cut to this, so a
/// misconfigured proxy cannot hold an alert back for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Longest answer body read (ureq's default); past it the answer counts by its status alone.
const BODY_MAX: u64 = 10 * 1024 * 1024;

/// A response: any status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After`, if sent (outside text: read it through `retry_after_delay`).
    pub retry_after: Option<String>,
    /// `Location`, if sent (a redirect's target), with configured secrets scrubbed.
    pub location: Option<String>,
    /// Body as text: decoded lossily (a proxy's Latin-1 error page stays readable) and with
    /// configured secrets scrubbed.
    pub body: String,
}

impl Response {
    /// An answer with a status and a body, no headers.
    #[cfg(test)]
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Response {
            status,
            retry_after: None,
            location: None,
            body: body.into(),
        }
    }
    /// An answer as it came off the wire: any bytes in the headers and the body. Text is
    /// decoded lossily and scrubbed of the configured secrets.
    pub fn from_wire(
        status: u16,
        retry_after: Option<&[u8]>,
        location: Option<&[u8]>,
        body: &[u8],
        scrubber: &Scrubber,
    ) -> Self {
        let text = |b: &[u8]| scrubber.scrub(&String::from_utf8_lossy(b));
        Response {
            status,
            retry_after: retry_after.map(text),
            location: location.map(text),
            body: text(body),
        }
    }
    /// `Retry-After` as a delay from `now`: see `parse_retry_after`.
    pub fn retry_after_delay(&self, now: Timestamp) -> Option<Duration> {
        parse_retry_after(self.retry_after.as_deref()?, now)
    }
    /// The body parsed as JSON, or `Null`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// True for a 3xx answer: API calls never follow redirects.
    pub fn is_redirect(&self) -> bool {
        (300..=399).contains(&self.status)
    }
    /// For a 3xx answer: why it is a configuration error, naming where it points and the
    /// `setting` to fix. `None` for any other status.
    pub fn redirect_error(&self, setting: &str) -> Option<String> {
        if !self.is_redirect() {
            return None;
        }
        let target = match self.location.as_deref().map(str::trim) {
            Some(l) if !l.is_empty() => format!("to {}", bounded_line(l, 300)),
            _ => "without a Location header".to_string(),
        };
        Some(format!(
            "HTTP {} redirect {target}: API calls never follow redirects (a redirected POST \
             would arrive as an empty GET and nothing would be delivered); set {setting} to the \
             URL the server redirects to, then run `pandora-ilert requeue`",
            self.status
        ))
    }
}

/// Reads a `Retry-After` value defensively. Delay-seconds (RFC 9110 §10.2.3; fractions are
/// tolerated) and HTTP dates are understood; a delay longer than `MAX_RETRY_AFTER` is cut to
/// it; a date in the past is zero. Anything else (empty, negative, `NaN`, `inf`, words) is
/// ignored: `None`, and our own backoff applies.
pub fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let v = value.trim();
    if v.is_empty() {
        return None;
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        // Too many digits for u64 is still "a very long time".
        let secs = v.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER));
    }
    if v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let secs = v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)?;
        return Some(Duration::from_secs_f64(
            secs.min(MAX_RETRY_AFTER.as_secs_f64()),
        ));
    }
    Timestamp::parse_http_date(v).map(|t| t.since(now).min(MAX_RETRY_AFTER))
}

/// `text` on one line, cut to `max` characters.
fn bounded_line(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        line
    } else {
        let mut cut: String = line.chars().take(max).collect();
        cut.push('…');
        cut
    }
}

/// Why no response came back, by class, each with what to check. Messages never include the
/// URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens on that host and port.
    Refused,
    /// The request did not finish in time.
    Timeout,
    /// The server's certificate is not trusted (expired, wrong name, unknown issuer).
    Certificate(String),
    /// The TLS handshake failed for another reason.
    Tls(String),
    /// Could not connect for another reason (network unreachable, reset).
    Connect(String),
    /// Anything else on the wire.
    Other(String),
}

impl TransportError {
    /// A short name of the failure class, for messages that add their own advice.
    pub fn class(&self) -> &'static str {
        match self {
            TransportError::Dns => "DNS",
            TransportError::Refused => "connection refused",
            TransportError::Timeout => "timeout",
            TransportError::Certificate(_) => "certificate",
            TransportError::Tls(_) => "TLS",
            TransportError::Connect(_) => "connection failed",
            TransportError::Other(_) => "transport error",
        }
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Dns => f.write_str(
                "DNS: the host name does not resolve; check the host in the configured URL and \
                 this server's DNS (/etc/resolv.conf)",
            ),
            TransportError::Refused => f.write_str(
                "connection refused: nothing listens on that host and port, or a firewall \
                 rejects it; check the port in the configured URL and the firewall, or set \
                 HTTPS_PROXY if this server must use a proxy",
            ),
            TransportError::Timeout => f.write_str(
                "timed out: no answer within request_timeout; a firewall may drop the packets \
                 or a proxy may be needed (HTTPS_PROXY)",
            ),
            TransportError::Certificate(m) => write!(
                f,
                "certificate not trusted ({m}): the server's certificate is expired, for another \
                 host name, or not issued by a public CA (a TLS-inspecting proxy?); fix the \
                 certificate or exempt this host from TLS inspection"
            ),
            TransportError::Tls(m) => write!(
                f,
                "TLS handshake failed ({m}): check that the URL's scheme matches the port \
                 (https:// for TLS) and that no proxy interferes"
            ),
            TransportError::Connect(m) => write!(
                f,
                "cannot connect ({m}): check the network route and firewall to that host"
            ),
            TransportError::Other(m) => write!(f, "transport error: {m}"),
        }
    }
}

/// The largest response header block read (ureq's default is 64 KiB; Slack, Graph and ilert
/// send a few KiB).
const RESPONSE_HEADERS_MAX: usize = 32 * 1024;

/// The shared HTTP client.
pub struct Http {
    agent: ureq::Agent,
    scrubber: Scrubber,
}

impl Http {
    /// A client with status codes as data, no redirects followed, proxies from the
    /// environment, and `scrubber` applied to every answer before anyone reads it. Host names
    /// are resolved once per client and IP addresses not at all (`resolver`): ureq's own
    /// resolver starts a thread for every request.
    pub fn new(scrubber: Scrubber) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A redirect is never a delivery: a followed 301/302/303 turns a POST into an
            // empty GET whose 2xx would count as sent. The 3xx comes back as data instead.
            .max_redirects(0)
            .user_agent(concat!("pandora-ilert/", env!("CARGO_PKG_VERSION")))
            // ureq zeroes 128 KiB for each direction per connection (a quarter of an
            // alert's page faults). Requests are small JSON documents, streamed in chunks
            // anyway; the input buffer must hold a whole header block, hence the limit below.
            .input_buffer_size(RESPONSE_HEADERS_MAX + 1024)
            .max_response_header_size(RESPONSE_HEADERS_MAX)
            .output_buffer_size(16 * 1024)
            .build();
        let agent = ureq::Agent::with_parts(
            config,
            ureq::unversioned::transport::DefaultConnector::new(),
            resolver::OncePerHost::default(),
        );
        Http { agent, scrubber }
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
                let header = |name: &str| resp.headers().get(name).map(|v| v.as_bytes().to_vec());
                let retry_after = header("retry-after");
                let location = header("location");
                // The status line has arrived, so the status decides; a body that breaks off
                // or is not UTF-8 only changes what the messages can quote.
                let bytes = match resp.body_mut().with_config().limit(BODY_MAX).read_to_vec() {
                    Ok(b) => b,
                    Err(e) => {
                        log::debug!(
                            "HTTP {status}: the answer's body could not be read ({})",
                            map_error(e, &self.scrubber)
                        );
                        Vec::new()
                    }
                };
                Ok(Response::from_wire(
                    status,
                    retry_after.as_deref(),
                    location.as_deref(),
                    &bytes,
                    &self.scrubber,
                ))
            }
            Err(e) => Err(map_error(e, &self.scrubber)),
        }
    }
}

/// Sorts a ureq error into a class; texts are scrubbed and never carry the URL.
fn map_error(e: ureq::Error, scrubber: &Scrubber) -> TransportError {
    let text = |t: String| {
        // Strip anything that could echo the URL back.
        let t = t.split("http").next().unwrap_or("").trim().to_string();
        scrubber.scrub(&t)
    };
    match e {
        ureq::Error::Timeout(_) => TransportError::Timeout,
        ureq::Error::HostNotFound => TransportError::Dns,
        ureq::Error::ConnectionFailed => TransportError::Connect("no address answered".into()),
        ureq::Error::Io(io) => classify_io(&io, text(io.to_string())),
        ureq::Error::Tls(m) => tls_error(text(m.to_string())),
        ureq::Error::Rustls(e) => tls_error(text(e.to_string())),
        ureq::Error::BadUri(_) => TransportError::Other(
            "bad URL (check api_url / homeserver / webhook_url in the config)".into(),
        ),
        ureq::Error::ConnectProxyFailed(m) => TransportError::Connect(format!(
            "the proxy refused the CONNECT ({}); check HTTPS_PROXY",
            text(m)
        )),
        ureq::Error::LargeResponseHeader(_, max) => TransportError::Other(format!(
            "the answer's headers exceed {} KiB; a proxy or load balancer in between may be \
             adding them",
            max / 1024
        )),
        ureq::Error::InvalidProxyUrl => {
            TransportError::Other("the proxy URL in HTTPS_PROXY / HTTP_PROXY is invalid".into())
        }
        other => {
            let t = text(other.to_string());
            TransportError::Other(if t.is_empty() {
                "request failed".into()
            } else {
                t
            })
        }
    }
}

/// An i/o failure by its kind and, where the kind says little, by its text.
fn classify_io(io: &std::io::Error, text: String) -> TransportError {
    use std::io::ErrorKind as K;
    let lower = text.to_ascii_lowercase();
    match io.kind() {
        K::TimedOut | K::WouldBlock => TransportError::Timeout,
        K::ConnectionRefused => TransportError::Refused,
        _ if lower.contains("failed to lookup address")
            || lower.contains("name or service not known")
            || lower.contains("temporary failure in name resolution")
            || lower.contains("no address associated") =>
        {
            TransportError::Dns
        }
        _ if lower.contains("certificate") || lower.contains("invalidcertificate") => {
            TransportError::Certificate(text)
        }
        _ if lower.contains("tls")
            || lower.contains("handshake")
            || lower.contains("corrupt message")
            || lower.contains("peer is incompatible")
            || lower.contains("received fatal alert") =>
        {
            TransportError::Tls(text)
        }
        K::UnexpectedEof => TransportError::Connect(
            "the server closed the connection without answering: the URL's scheme may not \
             match the port, or a proxy cut it"
                .into(),
        ),
        K::ConnectionReset | K::ConnectionAborted | K::NotConnected => {
            TransportError::Connect(text)
        }
        K::HostUnreachable | K::NetworkUnreachable => TransportError::Connect(text),
        kind => TransportError::Other(format!("i/o error ({kind}): {text}")),
    }
}

fn tls_error(text: String) -> TransportError {
    if text.to_ascii_lowercase().contains("certificate") {
        TransportError::Certificate(text)
    } else {
        TransportError::Tls(text)
    }
}

pub use crate::text::encode_component;

/// Strategies for property tests of every reader of HTTP answers: any status, any header
/// bytes, any body bytes, and bodies shaped like each provider's JSON with arbitrary values.
#[cfg(test)]
pub mod arbitrary {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use serde_json::json;

    use super::Response;
    use crate::redact::Scrubber;

    /// Body bytes: random, or a provider-shaped JSON document with random values.
    pub fn body() -> impl Strategy<Value = Vec<u8>> {
        let shaped = (".{0,24}", any::<i64>(), any::<bool>(), 0..8usize).prop_map(
            |(s, n, b, k)| {
                match k {
                    0 => json!({"ok": b, "error": s, "needed": s}),
                    1 => json!({"errcode": s, "error": s, "retry_after_ms": n}),
                    2 => json!({"error": {"code": s, "message": s}}),
                    3 => json!({"error": s, "error_description": s, "access_token": s, "expires_in": n}),
                    4 => json!({"ok": true, "channel": {"id": s}, "ts": s, "user_id": s}),
                    5 => json!({"message": s, "code": n}),
                    6 => json!(s),
                    _ => json!(format!("HTTP error 429 {s}")),
                }
                .to_string()
                .into_bytes()
            },
        );
        prop_oneof![vec(any::<u8>(), 0..300), shaped]
    }

    /// Header value bytes: random, or a plausible `Retry-After` / `Location`.
    pub fn header() -> impl Strategy<Value = Option<Vec<u8>>> {
        let plausible = prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|f| f.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            Just("Wed, 21 Oct 2015 07:28:00 GMT".to_string()),
            "[A-Za-z]{3}, [0-9]{1,12} [A-Za-z]{3} [0-9]{1,20} [0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3} GMT",
            "https?://.{0,40}",
        ];
        proptest::option::of(prop_oneof![
            vec(any::<u8>(), 0..64),
            plausible.prop_map(String::into_bytes)
        ])
    }

    /// The property-test config: `default_cases` cases, or `PROPTEST_CASES` to run long.
    pub fn config(default_cases: u32) -> ProptestConfig {
        let cases = std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default_cases);
        ProptestConfig::with_cases(cases)
    }

    /// Any status a server can send (ureq accepts 100 to 999).
    pub fn status() -> impl Strategy<Value = u16> {
        prop_oneof![100u16..=999, 200u16..=399]
    }

    /// A whole answer as `Http::send` builds it.
    pub fn answer() -> impl Strategy<Value = Response> {
        (status(), header(), header(), body()).prop_map(|(status, ra, loc, body)| {
            Response::from_wire(
                status,
                ra.as_deref(),
                loc.as_deref(),
                &body,
                &Scrubber::default(),
            )
        })
    }
}

impl std::error::Error for TransportError {}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use proptest::prelude::*;

    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_millis(1_700_000_000_000)
    }

    #[test]
    fn retry_after_garbage_is_ignored_and_long_waits_are_cut() {
        let p = |v: &str| parse_retry_after(v, now());
        assert_eq!(p("7"), Some(Duration::from_secs(7)));
        assert_eq!(p(" 1.5 "), Some(Duration::from_millis(1500)));
        assert_eq!(p("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(p("86400"), Some(MAX_RETRY_AFTER));
        for garbage in [
            "NaN", "nan", "-5", "-0.5", "inf", "infinity", "", "  ", "soon", "1e400", "１０",
            "10s", "1.2.3", ".",
        ] {
            assert_eq!(p(garbage), None, "{garbage:?}");
        }
        assert_eq!(p("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(p("Wed, 21 Oct 99999999999999 07:28:00 GMT"), None);
    }

    #[test]
    fn a_non_utf8_body_is_decoded_lossily_and_secrets_are_scrubbed() {
        let s = Scrubber::new(["il1api123-secret"]);
        let r = Response::from_wire(
            403,
            Some(b"\xff\xfe"),
            Some(b"https://x.example/il1api123-secret"),
            b"Acc\xe8s refus\xe9 pour /il1api123-secret",
            &s,
        );
        assert_eq!(r.status, 403);
        assert_eq!(r.body, "Acc\u{fffd}s refus\u{fffd} pour /[redacted]");
        assert_eq!(r.location.as_deref(), Some("https://x.example/[redacted]"));
        assert_eq!(r.retry_after_delay(now()), None);
    }

    #[test]
    fn a_redirect_names_its_target_and_the_setting() {
        let r = Response {
            location: Some("https://new.example/api".into()),
            ..Response::new(308, "")
        };
        let why = r.redirect_error("[ilert] api_url").unwrap();
        assert!(
            why.contains("HTTP 308 redirect to https://new.example/api"),
            "{why}"
        );
        assert!(why.contains("set [ilert] api_url"), "{why}");
        assert!(Response::new(302, "")
            .redirect_error("x")
            .unwrap()
            .contains("without a Location header"));
        assert_eq!(Response::new(200, "").redirect_error("x"), None);
    }

    #[test]
    fn io_failures_are_sorted_into_classes() {
        use std::io::{Error, ErrorKind};
        let c = |e: Error| classify_io(&e, e.to_string());
        assert_eq!(
            c(Error::other(
                "failed to lookup address information: Name or service not known"
            )),
            TransportError::Dns
        );
        assert_eq!(
            c(Error::from(ErrorKind::ConnectionRefused)),
            TransportError::Refused
        );
        assert_eq!(c(Error::from(ErrorKind::TimedOut)), TransportError::Timeout);
        assert!(matches!(
            c(Error::new(
                ErrorKind::InvalidData,
                "invalid peer certificate: UnknownIssuer"
            )),
            TransportError::Certificate(_)
        ));
        assert!(matches!(
            c(Error::new(
                ErrorKind::InvalidData,
                "received corrupt message of type InvalidContentType"
            )),
            TransportError::Tls(_)
        ));
        assert!(TransportError::Dns.to_string().starts_with("DNS:"));
    }

    #[test]
    fn a_redirect_is_not_followed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let mut seen = 0;
            listener.set_nonblocking(false).unwrap();
            // Answer the first request with a redirect; a second connection would be a follow.
            while let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                seen += 1;
                let _ = s.write_all(
                    b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                if seen == 1 {
                    break;
                }
            }
            seen
        });
        let http = Http::new(Scrubber::default());
        let r = http
            .send(
                &Request::new("POST", format!("http://{addr}/api/events"))
                    .json(serde_json::json!({})),
                Duration::from_secs(5),
            )
            .unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(r.location.as_deref(), Some("/elsewhere"));
        assert_eq!(server.join().unwrap(), 1);
    }

    proptest! {
        #![proptest_config(arbitrary::config(512))]

        #[test]
        fn any_answer_retry_after_never_panics_and_stays_in_range(v in ".{0,40}") {
            if let Some(d) = parse_retry_after(&v, now()) {
                prop_assert!(d <= MAX_RETRY_AFTER);
            }
        }

        #[test]
        fn any_answer_reads_without_panic(r in arbitrary::answer()) {
            let _ = r.json();
            let _ = r.retry_after_delay(now());
            prop_assert_eq!(r.redirect_error("[x] url").is_some(), (300..=399).contains(&r.status));
        }
    }

    /// Any bytes a server sends on the wire come back as a response or a transport error.
    #[test]
    fn any_bytes_on_the_wire_give_an_answer_or_an_error() {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(48));
        let wire = (
            arbitrary::status(),
            proptest::collection::vec(any::<u8>(), 0..40),
            arbitrary::body(),
        );
        runner
            .run(&wire, |(status, header, body)| {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let mut reply = format!("HTTP/1.1 {status} X\r\nRetry-After: ").into_bytes();
                reply.extend_from_slice(&header);
                reply.extend_from_slice(
                    format!(
                        "\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .as_bytes(),
                );
                reply.extend_from_slice(&body);
                let server = std::thread::spawn(move || {
                    if let Ok((mut s, _)) = listener.accept() {
                        let mut buf = [0u8; 4096];
                        let _ = s.read(&mut buf);
                        let _ = s.write_all(&reply);
                    }
                });
                let http = Http::new(Scrubber::default());
                let result = http.send(
                    &Request::new("GET", format!("http://{addr}/")),
                    Duration::from_secs(5),
                );
                server.join().unwrap();
                if let Ok(r) = result {
                    prop_assert_eq!(r.status, status);
                    if let Some(d) = r.retry_after_delay(now()) {
                        prop_assert!(d <= MAX_RETRY_AFTER);
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}
