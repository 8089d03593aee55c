//! What servers and proxies answer, end to end through the real binary: redirects, garbage
//! `Retry-After`, bodies that are not UTF-8, answers that quote our secrets back, and
//! connections that fail for a nameable reason.

mod support;

use std::path::{Path, PathBuf};

use support::http::{Recorded, Reply, Server};
use support::ilert::{FakeIlert, KEY};
use support::{code, run, stderr, stdout, ConfigBuilder, PandoraAlert, TestDir};

/// A server that answers every request with `status` and a `Location` into `target`, as a
/// moved API, a proxy or a load balancer would (RFC 9110 §15.4: 301, 302, 303, 307, 308 carry
/// the new URI in `Location`).
fn redirector(status: u16, location: String) -> Server {
    Server::start(move |_| Reply::new(status, "").header("Location", &location))
}

/// A server that answers 202 to anything: where a followed redirect would land.
fn landing() -> Server {
    Server::start(|_| Reply::new(202, "{}"))
}

fn ilert_config(dir: &TestDir, ilert_url: &str, route_extra: &str) -> PathBuf {
    ConfigBuilder::at(ilert_url)
        .set("alert_deadline", "\"5s\"")
        .route(route_extra)
        .write(dir)
}

#[test]
fn an_ilert_redirect_is_a_dead_letter_naming_location_and_never_a_delivery() {
    for status in [301, 302, 303, 307, 308] {
        let dir = TestDir::new(&format!("redirect-{status}"));
        let target = landing();
        let moved = redirector(status, format!("{}/api/events", target.url()));
        let cfg = ilert_config(&dir, &moved.url(), "");
        let out = PandoraAlert::firing("7001").run(&cfg);
        assert_eq!(code(&out), 78, "HTTP {status}: {}", stderr(&out));
        assert!(
            target.requests().is_empty(),
            "HTTP {status}: the redirect was followed: {:?}",
            target.requests()
        );
        assert_eq!(moved.requests().len(), 1, "HTTP {status}");
        let reasons = dir.dead_reasons();
        assert_eq!(reasons.len(), 1, "HTTP {status}: {reasons:?}");
        let reason = &reasons[0];
        assert!(
            reason.contains(&format!(
                "HTTP {status} redirect to {}/api/events",
                target.url()
            )),
            "{reason}"
        );
        assert!(reason.contains("[ilert] api_url"), "{reason}");
        assert!(stderr(&out).contains("[ilert] api_url"), "{}", stderr(&out));
        let status_out = stdout(&run(&cfg, &["status"]));
        assert!(status_out.contains("redirect"), "{status_out}");
    }
}

#[test]
fn a_redirect_location_that_quotes_the_key_is_scrubbed() {
    let dir = TestDir::new("redirect-key");
    let moved = redirector(302, format!("https://login.example/?next=/events/{KEY}"));
    let cfg = ilert_config(&dir, &moved.url(), "");
    let out = PandoraAlert::firing("7002").run(&cfg);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    let reason = &dir.dead_reasons()[0];
    assert!(
        reason.contains("https://login.example/?next=/events/[redacted]"),
        "{reason}"
    );
    assert_secret_nowhere(&dir, KEY, &[&out]);
}

/// A chat backend whose API URL answers with a redirect: the ilert event is still delivered,
/// the chat step is a dead letter naming the setting and the target, and nothing follows it.
fn chat_redirect_case(name: &str, section: impl Fn(&str) -> String, setting: &str) {
    for status in [301, 302, 303, 307, 308] {
        let dir = TestDir::new(&format!("chat-redirect-{name}-{status}"));
        let ilert = FakeIlert::start();
        let target = landing();
        let moved = redirector(status, format!("{}/moved", target.url()));
        let cfg = dir.config(&format!(
            "alert_deadline = \"5s\"\nrequest_timeout = \"2s\"\n[ilert]\napi_url = \"{}\"\n\
             [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\nchat = \"{name}\"\n{}\n",
            ilert.url(),
            section(&moved.url())
        ));
        let out = PandoraAlert::firing("7100").run(&cfg);
        assert_eq!(code(&out), 78, "{name} {status}: {}", stderr(&out));
        assert_eq!(
            ilert.accepted().len(),
            1,
            "{name} {status}: paging must not wait"
        );
        assert!(
            target.requests().is_empty(),
            "{name} {status}: redirect followed"
        );
        let reasons = dir.dead_reasons();
        assert_eq!(reasons.len(), 1, "{name} {status}: {reasons:?}");
        assert!(
            reasons[0].contains(&format!("HTTP {status} redirect to {}/moved", target.url())),
            "{name}: {}",
            reasons[0]
        );
        assert!(reasons[0].contains(setting), "{name}: {}", reasons[0]);
    }
}

#[test]
fn a_slack_redirect_is_a_dead_letter_naming_api_url() {
    chat_redirect_case(
        "slack",
        |url| format!("[slack]\ntoken = \"xoxb-redirect-test\"\napi_url = \"{url}\""),
        "[slack] api_url",
    );
}

#[test]
fn a_teams_webhook_redirect_is_a_dead_letter_naming_webhook_url() {
    chat_redirect_case(
        "teams",
        |url| format!("[teams]\nwebhook_url = \"{url}/workflows/x?sig=abcdefghijkl\""),
        "[teams] webhook_url",
    );
}

#[test]
fn a_teams_login_redirect_is_a_dead_letter_naming_login_url() {
    chat_redirect_case(
        "teams",
        |url| {
            format!(
                "[teams]\ntenant_id = \"t1\"\nclient_id = \"c1\"\nclient_secret = \"teams-client-secret\"\n\
                 team_id = \"team1\"\nlogin_url = \"{url}\"\ngraph_url = \"{url}/v1.0\""
            )
        },
        "[teams] login_url",
    );
}

#[test]
fn a_teams_graph_redirect_is_a_dead_letter_naming_graph_url() {
    use support::graph::{FakeGraph, CLIENT_ID, CLIENT_SECRET, TEAM, TENANT};
    let graph = FakeGraph::start();
    let login = graph.login_url();
    chat_redirect_case(
        "teams",
        move |url| {
            format!(
                "[teams]\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\n\
                 client_secret = \"{CLIENT_SECRET}\"\nteam_id = \"{TEAM}\"\nlogin_url = \"{login}\"\n\
                 graph_url = \"{url}\""
            )
        },
        "[teams] graph_url",
    );
}

#[test]
fn a_matrix_redirect_is_a_dead_letter_naming_homeserver() {
    chat_redirect_case(
        "matrix",
        |url| format!("[matrix]\nhomeserver = \"{url}\"\naccess_token = \"syt_redirect_test\""),
        "[matrix] homeserver",
    );
}

/// Serves 503 with one `Retry-After` value for event posts until told to accept. (503, not
/// 429: a 429 from ilert holds the whole integration key for its rate window, see
/// tests/ilert.rs; these tests are about one entry's `Retry-After`, which RFC 9110 §10.2.3
/// allows on a 503 too.)
fn rate_limiter(value: &'static str) -> (Server, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let accept = std::sync::Arc::new(AtomicBool::new(false));
    let a = accept.clone();
    let server = Server::start(move |_| {
        if a.load(Ordering::SeqCst) {
            Reply::new(202, "")
        } else {
            Reply::json(503, serde_json::json!({"message": "Service unavailable"}))
                .header("Retry-After", value)
        }
    });
    (server, accept)
}

#[test]
fn garbage_retry_after_never_panics_and_a_later_flush_delivers() {
    use std::sync::atomic::Ordering;
    // Not delay-seconds and not an HTTP date (RFC 9110 §10.2.3): ignored, our own backoff
    // applies, and `flush` (which does not honour our backoff) sends it at once.
    for value in [
        "NaN",
        "-5",
        "inf",
        "",
        "soon",
        "١٠",
        "é",
        "1e400",
        "Wed, 21 Oct 99999999999 07:28:00 GMT",
    ] {
        let dir = TestDir::new("retry-garbage");
        let (server, accept) = rate_limiter(value);
        let cfg = ilert_config(&dir, &server.url(), "");
        let out = PandoraAlert::firing("7200").run(&cfg);
        assert_eq!(code(&out), 69, "Retry-After {value:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        accept.store(true, Ordering::SeqCst);
        let flush = run(&cfg, &["flush"]);
        assert_eq!(code(&flush), 0, "Retry-After {value:?}: {}", stderr(&flush));
        assert!(dir.files("outbox").is_empty(), "Retry-After {value:?}");
    }
}

#[test]
fn a_huge_retry_after_holds_only_its_own_incident_and_flush_goes_on() {
    use std::sync::atomic::Ordering;
    for value in ["99999999999999999999999", "86400", "3601.5"] {
        let dir = TestDir::new("retry-huge");
        let (server, accept) = rate_limiter(value);
        let cfg = ilert_config(&dir, &server.url(), "");
        let out = PandoraAlert::firing("7300").run(&cfg);
        assert_eq!(code(&out), 69, "Retry-After {value:?}: {}", stderr(&out));
        // A second incident queued behind it while the API answers 500.
        server.set_handler(|_| Reply::json(500, serde_json::json!({"message": "down"})));
        assert_eq!(code(&PandoraAlert::firing("7301").run(&cfg)), 69);
        server.set_handler(|_| Reply::new(202, ""));
        accept.store(true, Ordering::SeqCst);
        let before = server.requests().len();
        let flush = run(&cfg, &["flush"]);
        assert_eq!(code(&flush), 69, "{}", stderr(&flush));
        assert!(!stderr(&flush).contains("panicked"), "{}", stderr(&flush));
        let sent: Vec<Recorded> = server.requests()[before..].to_vec();
        assert_eq!(sent.len(), 1, "only the second incident goes: {sent:?}");
        assert_eq!(sent[0].json()["alertKey"], "7301");
        let status: serde_json::Value =
            serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
        assert_eq!(
            status["queued"].as_array().map(Vec::len),
            Some(1),
            "{status}"
        );
    }
}

#[test]
fn a_non_utf8_202_is_delivered_once_and_a_latin1_403_is_a_dead_letter() {
    let dir = TestDir::new("latin1");
    let server = Server::start(|_| Reply::bytes(202, b"accept\xe9".to_vec()));
    let cfg = ilert_config(&dir, &server.url(), "");
    dir.assert_ok(&PandoraAlert::firing("7400").run(&cfg));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert_eq!(server.requests().len(), 1, "a 202 must not be sent again");

    // A proxy's error page in Latin-1 (`Accès refusé`), as Squid or an appliance sends it.
    server.set_handler(|_| {
        Reply::bytes(
            403,
            b"<html><body>Acc\xe8s refus\xe9</body></html>".to_vec(),
        )
        .header("Content-Type", "text/html; charset=iso-8859-1")
    });
    let out = PandoraAlert::firing("7401").run(&cfg);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    let reasons = dir.dead_reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(reasons[0].contains("HTTP 403"), "{}", reasons[0]);
    assert!(
        reasons[0].contains("Acc\u{fffd}s refus\u{fffd}"),
        "{}",
        reasons[0]
    );
}

/// A server (or proxy) that quotes the whole request back in a 400: method, path, query,
/// every header (with `Authorization`) and the body.
fn echo() -> Server {
    Server::start(|r: &Recorded| {
        let mut text = format!("{} {}?{}\n", r.method, r.path, r.query);
        for (k, v) in &r.headers {
            text.push_str(&format!("{k}: {v}\n"));
        }
        text.push_str(&r.body);
        Reply::new(400, text).header("Content-Type", "text/plain")
    })
}

/// Fails when `secret` is in any file under the test directory (state, log) or in any output.
fn assert_secret_nowhere(dir: &TestDir, secret: &str, outputs: &[&std::process::Output]) {
    fn walk(p: &Path, secret: &str, config: &Path) {
        for entry in std::fs::read_dir(p).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, secret, config);
            } else if path != config {
                let bytes = std::fs::read(&path).unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes);
                assert!(
                    !text.contains(secret),
                    "secret {secret:?} stored in {}:\n{text}",
                    path.display()
                );
            }
        }
    }
    walk(&dir.path, secret, &dir.join("pandora-ilert.toml"));
    for out in outputs {
        for (what, text) in [("stdout", stdout(out)), ("stderr", stderr(out))] {
            assert!(
                !text.contains(secret),
                "secret {secret:?} in {what}:\n{text}"
            );
        }
    }
}

#[test]
fn secrets_quoted_back_by_a_server_are_stored_and_shown_nowhere() {
    const ILERT_SECRET: &str = "il1pandorakey0secret";
    const SLACK_SECRET: &str = "xoxb-echo-slack-secret";
    const MATRIX_SECRET: &str = "syt_echo_matrix_secret";
    const TEAMS_SECRET: &str = "teams-echo-client-secret";
    const SIGNATURE: &str = "webhookSignature0123456789";
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "slack",
            "[slack]\ntoken = \"xoxb-echo-slack-secret\"\napi_url = \"{echo}\"".into(),
            vec![SLACK_SECRET],
        ),
        (
            "matrix",
            "[matrix]\nhomeserver = \"{echo}\"\naccess_token = \"syt_echo_matrix_secret\"".into(),
            vec![MATRIX_SECRET],
        ),
        (
            "teams",
            "[teams]\ntenant_id = \"t1\"\nclient_id = \"c1\"\nclient_secret = \"teams-echo-client-secret\"\n\
             team_id = \"team1\"\nlogin_url = \"{echo}\"\ngraph_url = \"{echo}/v1.0\""
                .into(),
            vec![TEAMS_SECRET],
        ),
        (
            "teams",
            "[teams]\nwebhook_url = \"{echo}/workflows/abc/triggers?api-version=1&sig=webhookSignature0123456789\""
                .into(),
            vec![SIGNATURE],
        ),
    ];
    for (backend, section, secrets) in cases {
        let dir = TestDir::new(&format!("echo-{backend}"));
        let server = echo();
        let section = section.replace("{echo}", &server.url());
        let data_in = dir.join("data_in");
        std::fs::create_dir_all(&data_in).unwrap();
        let cfg = dir.config(&format!(
            "alert_deadline = \"5s\"\nrequest_timeout = \"2s\"\n[ilert]\napi_url = \"{}\"\n\
             [[route]]\nname = \"default\"\nilert_key = \"{ILERT_SECRET}\"\nilert_api = \"pandorafms\"\n\
             chat = \"{backend}\"\n{section}\n[plugin]\ndata_in = \"{}\"\n",
            server.url(),
            data_in.display()
        ));
        let alert = PandoraAlert::firing("7500").run(&cfg);
        assert_eq!(code(&alert), 78, "{backend}: {}", stderr(&alert));
        // The server did quote the secrets back: the test would catch a leak.
        let quoted: String = server.requests().iter().map(|r| format!("{r:?}")).collect();
        assert!(
            quoted.contains(ILERT_SECRET),
            "{backend}: no key in the requests"
        );
        let reasons = dir.dead_reasons().join("\n");
        assert!(reasons.contains("[redacted]"), "{backend}: {reasons}");
        let flush = run(&cfg, &["flush"]);
        let status = run(&cfg, &["status"]);
        let status_json = run(&cfg, &["status", "--json"]);
        let plugin = run(&cfg, &["plugin"]);
        let doctor = run(&cfg, &["doctor"]);
        let outputs = [&alert, &flush, &status, &status_json, &plugin, &doctor];
        for secret in std::iter::once(ILERT_SECRET).chain(secrets) {
            assert_secret_nowhere(&dir, secret, &outputs);
        }
    }
}

#[test]
fn a_dns_failure_is_named_with_its_fix() {
    let dir = TestDir::new("dns");
    let cfg = ilert_config(&dir, "http://pandora-ilert-test.invalid", "");
    let out = PandoraAlert::firing("7600").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    let text = format!("{}{}", stderr(&out), dir.log());
    assert!(
        text.contains("DNS: the host name does not resolve"),
        "{text}"
    );
    assert!(!text.contains("uncategorized"), "{text}");
    let doctor = run(&cfg, &["doctor"]);
    let advice = stdout(&doctor) + &stderr(&doctor);
    assert!(
        advice.contains("(DNS)") && advice.contains("resolv.conf"),
        "{advice}"
    );
}

#[test]
fn refused_and_tls_failures_are_named() {
    let dir = TestDir::new("refused");
    let cfg = ilert_config(&dir, "http://127.0.0.1:9", "");
    let out = PandoraAlert::firing("7700").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("connection refused"),
        "{}",
        stderr(&out)
    );

    // https:// to a plain-HTTP port: the handshake gets an HTTP answer instead of a
    // ServerHello (what a proxy or a mistyped port does).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    });
    let dir = TestDir::new("tls");
    let cfg = ilert_config(&dir, &format!("https://{addr}"), "");
    let out = PandoraAlert::firing("7701").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("TLS handshake failed"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs the openssl command (tests/run.sh installs it): run by tests/run.sh"]
fn an_untrusted_certificate_is_named_with_its_fix() {
    use std::process::{Command, Stdio};
    let dir = TestDir::new("cert");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
        ])
        .arg("/CN=127.0.0.1")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("this test needs the openssl command (apt-get install openssl)");
    assert!(
        made.success(),
        "openssl could not make a self-signed certificate"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // A self-signed server, as an internal proxy or a test instance would present.
    let mut server = Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_server");
    let ready = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let cfg = ilert_config(&dir, &format!("https://127.0.0.1:{port}"), "");
    let out = PandoraAlert::firing("7702").run(&cfg);
    let doctor = run(&cfg, &["doctor"]);
    let _ = server.kill();
    let _ = server.wait();
    assert!(ready, "openssl s_server did not start");
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("certificate not trusted"),
        "{}",
        stderr(&out)
    );
    let advice = stdout(&doctor);
    assert!(
        advice.contains("(certificate)") && advice.contains("TLS-inspecting proxy"),
        "{advice}"
    );
}

/// Header blocks: a few KiB is normal (Graph, Slack), 20 KiB still reads; past 32 KiB the
/// event stays queued with a one-line reason instead of a confused transport error.
#[test]
fn large_answer_headers_are_read_and_oversized_ones_are_named() {
    let dir = TestDir::new("big-headers");
    let filler = "x".repeat(1000);
    let server = Server::start(move |_| {
        let mut reply = Reply::new(202, "{}");
        for i in 0..20 {
            reply = reply.header(&format!("X-Filler-{i}"), &filler);
        }
        reply
    });
    let cfg = ilert_config(&dir, &server.url(), "");
    dir.assert_ok(&PandoraAlert::firing("7500").run(&cfg));

    let filler = "x".repeat(1000);
    server.set_handler(move |_| {
        let mut reply = Reply::new(202, "{}");
        for i in 0..40 {
            reply = reply.header(&format!("X-Filler-{i}"), &filler);
        }
        reply
    });
    let out = PandoraAlert::firing("7501").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("headers exceed 32 KiB"), "{err}");
    assert_eq!(dir.queued().len(), 1, "kept for the next run");
}
