//! The alert command end to end: argv built as Pandora builds it, the real binary, a fake
//! ilert on 127.0.0.1 following the events API contract.

mod support;

use std::time::{Duration, Instant};

use support::ilert::{FakeIlert, Mode, KEY};
use support::{code, run, stderr, stdout, ConfigBuilder, PandoraAlert, TestDir};

/// The fake ilert on the default route; `extra` is top-level TOML (its keys override these).
fn config(dir: &TestDir, ilert: &FakeIlert, extra: &str) -> std::path::PathBuf {
    ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"4s\"")
        .top(extra)
        .write(dir)
}

/// A config for storms that are about concurrency, not pacing: the account's ilert limit was
/// raised (ilert-docs `rest-api/alertsource-throttle.md`: "can be increased"), ours is off.
/// Pacing itself is tests/ilert.rs's.
fn unpaced_config(dir: &TestDir, ilert: &FakeIlert, extra: &str) -> std::path::PathBuf {
    ilert.set_events_limit(1000, Duration::from_secs(60));
    dir.config(&format!(
        "request_timeout = \"2s\"\n{extra}\n[ilert]\napi_url = \"{}\"\nrate_limit = \"off\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\n",
        ilert.url()
    ))
}

#[test]
fn fire_sends_one_alert_with_the_documented_body() {
    let (dir, ilert) = (TestDir::new("fire"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let out = PandoraAlert::firing("6182268").run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let got = ilert.accepted();
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(e["eventType"], "ALERT");
    assert_eq!(e["alertKey"], "6182268");
    assert_eq!(e["integrationKey"], KEY);
    assert_eq!(e["summary"], "[Critical] web-01 / CPU Load = 95.5%");
    assert_eq!(e["priority"], "HIGH");
    assert_eq!(e["severity"], 1, "Critical is ilert severity 1");
    assert_eq!(e["labels"]["agent"], "web-01");
    assert_eq!(e["labels"]["module"], "CPU Load");
    assert_eq!(e["labels"]["route"], "default");
    assert!(e["labels"]["group"].is_string(), "{}", e["labels"]);
    assert!(
        e.get("routingKey").is_none(),
        "no routing key unless a route sets one"
    );
    assert!(
        e["details"].as_str().unwrap().contains("Agent:     web-01"),
        "{}",
        e["details"]
    );
    assert_eq!(e["customDetails"]["agent"], "web-01");
    assert_eq!(e["customDetails"]["timestamp"], "2026/11/24 02:21:59");
    let links = e["links"].as_array().unwrap();
    assert!(links[0]["href"]
        .as_str()
        .unwrap()
        .starts_with("http://pandora.example/pandora_console/index.php"));
    assert!(links[0]["href"].as_str().unwrap().contains("id_agente=12"));
    assert!(dir.queued().is_empty());
    assert!(dir.log().contains("decision=opened"), "{}", dir.log());
}

#[test]
fn refire_while_open_is_recorded_but_sends_no_second_alert() {
    let (dir, ilert) = (TestDir::new("refire"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    for data in ["95.5", "97", "99.1"] {
        let out = PandoraAlert::firing("77").set("--data", data).run(&cfg);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    assert_eq!(ilert.events(), [("ALERT".into(), "77".into())]);
    let status = run(&cfg, &["status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(j["open_incidents"][0]["times_fired"], 3);
    // Inside the dedupe window the record file is not rewritten: the latest value waits in
    // the incident's open/ marker until the record's next write (docs/store.md, invariant 7).
    assert_eq!(dir.record("77")["last"]["data"], "95.5");
    let marker = std::fs::read_dir(dir.state().join("open"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".77"))
        .unwrap();
    let text = std::fs::read_to_string(marker).unwrap();
    assert!(text.contains(r#""data":"99.1""#), "{text}");
}

#[test]
fn refire_after_the_configured_window_alerts_again() {
    let (dir, ilert) = (TestDir::new("window"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "refire_window = 4");
    PandoraAlert::firing("78").run(&cfg);
    PandoraAlert::firing("78").run(&cfg);
    dir.age_state(5); // past the 4 s window, without waiting for it
    PandoraAlert::firing("78").run(&cfg);
    let types: Vec<String> = ilert.events().into_iter().map(|e| e.0).collect();
    assert_eq!(types, ["ALERT", "ALERT"]);
}

#[test]
fn recovery_sends_resolve_with_the_same_alert_key() {
    let (dir, ilert) = (TestDir::new("resolve"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    assert_eq!(code(&PandoraAlert::firing("6182268").run(&cfg)), 0);
    let out = PandoraAlert::recovery("6182268").run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ilert.events(),
        [
            ("ALERT".into(), "6182268".into()),
            ("RESOLVE".into(), "6182268".into())
        ]
    );
    let resolve = &ilert.accepted()[1];
    assert_eq!(
        resolve["summary"],
        "[RECOVERED] [Critical] web-01 / CPU Load = 12.0%"
    );
    assert_eq!(
        resolve["customDetails"]["agent"], "web-01",
        "[RECOVER] stripped"
    );
    assert!(resolve.get("priority").is_none());
}

#[test]
fn recover_prefix_in_a_value_never_flips_an_explicit_firing() {
    let (dir, ilert) = (TestDir::new("recover-prefix"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    // A log line in _data_ (or an alias) that starts with [RECOVER], on a real firing.
    let out = PandoraAlert::firing("90")
        .set("--data", "[RECOVER] job restarted")
        .set("--agent", "[RECOVER]web-01")
        .run(&cfg);
    dir.assert_ok(&out);
    assert_eq!(ilert.events(), [("ALERT".into(), "90".into())]);
    assert_eq!(ilert.accepted()[0]["customDetails"]["agent"], "web-01");
    assert!(
        dir.log().contains("treated as a firing (--event decides)"),
        "{}",
        dir.log()
    );
}

#[test]
fn recover_prefix_means_recovery_only_when_event_is_empty() {
    let (dir, ilert) = (TestDir::new("recover-empty"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    PandoraAlert::firing("91").run(&cfg);
    let out = PandoraAlert::recovery("91").set("--event", "").run(&cfg);
    dir.assert_ok(&out);
    assert_eq!(ilert.events()[1], ("RESOLVE".into(), "91".into()));
    assert!(
        dir.log()
            .contains("--event is empty: treated as a recovery (a value starts with [RECOVER])"),
        "{}",
        dir.log()
    );
}

#[test]
fn latin1_bytes_in_arguments_are_decoded_and_the_alert_is_sent() {
    let (dir, ilert) = (TestDir::new("latin1"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    // What the Pandora server passes for an alias "Café" and data "21 °C" when the rest of the
    // line is ASCII: the raw Latin-1 bytes 0xE9 and 0xB0 (octal escapes: dash's printf has no
    // \x). The alias arrives as its own word, the data inside a quoted word.
    let line = PandoraAlert::firing("501")
        .set("--agent", "AGENT")
        .set("--data", "DATA")
        .command_line(&cfg, "")
        .replace("'AGENT'", "\"$(printf 'Caf\\351')\"")
        .replace("'DATA'", "\"$(printf '21 \\260C')\"");
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&line)
        .output()
        .unwrap();
    dir.assert_ok(&out);
    let got = ilert.accepted();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["customDetails"]["agent"], "Café");
    assert_eq!(got[0]["summary"], "[Critical] Café / CPU Load = 21 °C%");
    let log = dir.log();
    assert_eq!(
        log.matches("decoded as Windows-1252").count(),
        1,
        "one note: {log}"
    );
    assert!(log.contains("--agent, --data"), "{log}");
}

#[test]
fn values_are_not_substituted_into_each_other_in_summaries() {
    let (dir, ilert) = (TestDir::new("template"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let out = PandoraAlert::firing("42")
        .set("--agent", "web-{id}")
        .set("--module", "{severity} {agent}")
        .run(&cfg);
    dir.assert_ok(&out);
    assert_eq!(
        ilert.accepted()[0]["summary"],
        "[Critical] web-{id} / {severity} {agent} = 95.5%"
    );
}

#[test]
fn unknown_or_missing_severity_and_event_are_sent_with_one_warning_each() {
    let (dir, ilert) = (TestDir::new("sev"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    dir.assert_ok(
        &PandoraAlert::firing("61")
            .set("--severity", "Crit")
            .run(&cfg),
    );
    let mut no_sev = PandoraAlert::firing("62");
    no_sev
        .words
        .retain(|(o, _)| o != "--severity" && o != "--event");
    dir.assert_ok(&no_sev.run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("63").set("--event", "maybe").run(&cfg));
    let events = ilert.events();
    assert_eq!(
        events,
        [
            ("ALERT".into(), "61".into()),
            ("ALERT".into(), "62".into()),
            ("ALERT".into(), "63".into())
        ]
    );
    let got = ilert.accepted();
    assert_eq!(got[0]["priority"], "LOW", "unknown severity maps to LOW");
    assert_eq!(got[1]["priority"], "HIGH", "missing severity is Critical");
    let log = dir.log();
    for w in [
        "--severity \"Crit\" is not a Pandora severity",
        "kept as 'Crit' with ilert priority LOW",
        "--severity is missing: treated as 'Critical' (by default) with ilert priority HIGH",
        "no --event: treated as a firing",
        "--event \"maybe\" is neither 'alert' (firing) nor 'resolved' (recovery): treated as a firing",
    ] {
        assert_eq!(log.matches(w).count(), 1, "{w}: {log}");
    }
}

#[test]
fn a_misspelt_route_severity_is_a_config_error_with_a_suggestion() {
    let (dir, ilert) = (TestDir::new("sevcfg"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "[[route]]\nname = \"crit\"\nseverities = [\"Major\", \"Critcal\"]\nilert_key = \"il1crit\"\n",
    );
    let out = run(&cfg, &["config", "check"]);
    assert_eq!(code(&out), 78);
    let err = stderr(&out);
    assert!(
        err.contains("route 'crit': severity \"Critcal\" is not a Pandora severity")
            && err.contains("did you mean 'Critical'?"),
        "{err}"
    );
}

#[test]
fn a_closed_pipe_on_stdout_ends_quietly() {
    let (dir, ilert) = (TestDir::new("pipe"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    // `status | head -1` and `alert --dry-run | head`: the reader is gone before we write.
    // std::io::pipe with the read end closed makes that deterministic.
    let dry = [
        "alert",
        "--event",
        "alert",
        "--alert-id",
        "7",
        "--agent",
        "a",
        "--dry-run",
    ];
    for args in [
        &["status"][..],
        &["status", "--json"],
        &dry,
        &["config", "check"],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(support::BIN)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    // Through a shell, as a person types it.
    let line = format!(
        "{} --config {} status | head -1",
        support::BIN,
        cfg.display()
    );
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&line)
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn odd_bytes_in_an_outbox_file_name_do_not_panic() {
    let (dir, ilert) = (TestDir::new("oddname"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    dir.assert_ok(&PandoraAlert::firing("70").run(&cfg));
    std::fs::write(dir.state().join("outbox").join("1.%aé.json"), b"{}").unwrap();
    for args in [&["status"][..], &["flush"]] {
        let out = run(&cfg, args);
        assert!(
            !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert_ne!(code(&out), 101, "{args:?}");
    }
    let status = stdout(&run(&cfg, &["status"]));
    assert!(status.contains("quarantined"), "{status}");
}

#[test]
fn recovery_of_unknown_incident_still_resolves_and_next_firing_opens_a_new_one() {
    let (dir, ilert) = (TestDir::new("unknown"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    assert_eq!(code(&PandoraAlert::recovery("5").run(&cfg)), 0);
    assert_eq!(code(&PandoraAlert::firing("5").run(&cfg)), 0);
    assert_eq!(code(&PandoraAlert::recovery("5").run(&cfg)), 0);
    assert_eq!(code(&PandoraAlert::firing("5").run(&cfg)), 0);
    let types: Vec<String> = ilert.events().into_iter().map(|e| e.0).collect();
    assert_eq!(types, ["RESOLVE", "ALERT", "RESOLVE", "ALERT"]);
    assert_eq!(
        dir.files("history").len(),
        2,
        "superseded incidents are kept in history"
    );
}

#[test]
fn ilert_down_queues_then_flush_delivers_in_order() {
    let (dir, ilert) = (TestDir::new("down"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    ilert.server.stop();
    let fire = PandoraAlert::firing("300").run(&cfg);
    assert_eq!(code(&fire), 69, "{}", stderr(&fire));
    let other = PandoraAlert::firing("301").run(&cfg);
    assert_eq!(code(&other), 69);
    let rec = PandoraAlert::recovery("300").run(&cfg);
    assert_eq!(code(&rec), 69);
    assert_eq!(dir.queued().len(), 3);
    let status = stdout(&run(&cfg, &["status"]));
    assert!(status.contains("queued events: 3"), "{status}");

    let ilert = ilert.restart();
    let out = run(&cfg, &["flush"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let events = ilert.events();
    assert_eq!(events.len(), 3, "{events:?}");
    let pos = |t: &str, k: &str| events.iter().position(|e| e.0 == t && e.1 == k).unwrap();
    assert!(pos("ALERT", "300") < pos("RESOLVE", "300"), "{events:?}");
    assert!(
        pos("ALERT", "300") < pos("ALERT", "301"),
        "oldest first: {events:?}"
    );
    assert!(dir.queued().is_empty());
}

#[test]
fn server_error_keeps_the_event_queued_and_resolve_waits_for_its_alert() {
    let (dir, ilert) = (TestDir::new("500"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    ilert.set_mode(Mode::Fail(500));
    assert_eq!(code(&PandoraAlert::firing("400").run(&cfg)), 69);
    ilert.set_mode(Mode::Accept);
    ilert.server.clear();
    // The recovery's own invocation delivers the queued ALERT first, then RESOLVE.
    assert_eq!(code(&PandoraAlert::recovery("400").run(&cfg)), 0);
    let types: Vec<String> = ilert.events().into_iter().map(|e| e.0).collect();
    assert_eq!(types, ["ALERT", "RESOLVE"]);
}

#[test]
fn rate_limit_honours_retry_after() {
    let (dir, ilert) = (TestDir::new("429"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    ilert.set_mode(Mode::RateLimited(120));
    let out = PandoraAlert::firing("429").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    ilert.set_mode(Mode::Accept);
    let n = ilert.server.requests().len();
    // Retry-After 120 s has not passed: flush must not send yet.
    assert_eq!(code(&run(&cfg, &["flush"])), 69);
    assert_eq!(
        ilert.server.requests().len(),
        n,
        "flush ignored Retry-After"
    );
    let status: serde_json::Value =
        serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert!(status["queued"][0]["last_error"]
        .as_str()
        .unwrap()
        .contains("429"));
}

#[test]
fn short_retry_after_is_waited_out_inside_the_deadline() {
    let (dir, ilert) = (TestDir::new("429-short"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    ilert.set_mode(Mode::RateLimited(1));
    let handle = {
        let cfg = cfg.clone();
        std::thread::spawn(move || PandoraAlert::firing("431").run(&cfg))
    };
    std::thread::sleep(Duration::from_millis(400));
    ilert.set_mode(Mode::Accept);
    let out = handle.join().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ilert.accepted().len(), 1);
}

#[test]
fn bad_key_goes_to_dead_letters_with_the_response() {
    let (dir, ilert) = (TestDir::new("badkey"), FakeIlert::start());
    let cfg = dir.config(&format!(
        "[ilert]\napi_url = \"{}\"\n[[route]]\nname = \"default\"\nilert_key = \"il1wrongkey\"\n",
        ilert.url()
    ));
    let out = PandoraAlert::firing("500").run(&cfg);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert!(stderr(&out).contains("HTTP 400"), "{}", stderr(&out));
    assert!(
        !stderr(&out).contains("il1wrongkey") && !dir.log().contains("il1wrongkey"),
        "key leaked"
    );
    assert!(dir.queued().is_empty());
    let dead = dir.files("dead");
    assert_eq!(dead.len(), 1);
    let body = std::fs::read_to_string(dir.state().join("dead").join(&dead[0])).unwrap();
    assert!(body.contains("BAD_REQUEST"), "{body}");
    assert!(
        !body.contains("il1wrongkey"),
        "the outbox never stores keys"
    );
    // After fixing the key, requeue + flush delivers it.
    let cfg = config(&dir, &ilert, "");
    assert_eq!(code(&run(&cfg, &["requeue"])), 0);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert_eq!(ilert.accepted().len(), 1);
}

#[test]
fn slow_ilert_past_the_deadline_leaves_the_event_queued() {
    let (dir, ilert) = (TestDir::new("slow"), FakeIlert::start());
    let cfg = dir.config(&format!(
        "alert_deadline = \"2s\"\nrequest_timeout = \"5s\"\n[ilert]\napi_url = \"{}\"\n[[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\n",
        ilert.url()
    ));
    // ilert would answer after 30 s; a 2 s deadline must end the run long before that.
    ilert.set_mode(Mode::Slow(Duration::from_secs(30)));
    let t = Instant::now();
    let out = PandoraAlert::firing("600").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "deadline not enforced: {:?}",
        t.elapsed()
    );
    assert_eq!(dir.queued().len(), 1);
}

#[test]
fn sigterm_stops_promptly_and_keeps_the_event() {
    let (dir, ilert) = (TestDir::new("sigterm"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    // ilert would answer after 30 s; SIGTERM must end the run long before that.
    ilert.set_mode(Mode::Slow(Duration::from_secs(30)));
    let mut child = PandoraAlert::firing("700").spawn(&cfg);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "slow to stop: {:?}",
        t.elapsed()
    );
    assert_eq!(status.code(), Some(69));
    ilert.set_mode(Mode::Accept);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert!(ilert.accepted().iter().any(|e| e["alertKey"] == "700"));
}

#[test]
fn sigkill_mid_delivery_then_flush_loses_nothing() {
    let (dir, ilert) = (TestDir::new("sigkill"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    ilert.set_mode(Mode::Slow(Duration::from_secs(10)));
    for id in ["800", "801"] {
        let mut child = PandoraAlert::firing(id).spawn(&cfg);
        // Mid delivery: the POST has reached ilert, whose answer is 10 s away (a fixed sleep
        // could kill a slow start before the commit, when nothing is queued by design).
        let t = Instant::now();
        while !ilert.received().iter().any(|e| e["alertKey"] == id) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "alert {id} never reached ilert"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
    ilert.set_mode(Mode::Accept);
    let out = run(&cfg, &["flush"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let keys: Vec<String> = ilert
        .accepted()
        .iter()
        .filter(|e| e["eventType"] == "ALERT")
        .map(|e| e["alertKey"].as_str().unwrap().to_string())
        .collect();
    assert!(
        keys.contains(&"800".to_string()) && keys.contains(&"801".to_string()),
        "{keys:?}"
    );
    assert!(dir.queued().is_empty() && dir.files("inbox").is_empty());
}

#[test]
fn killed_at_random_instants_the_store_stays_readable_and_nothing_is_lost() {
    let (dir, ilert) = (TestDir::new("chaos"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let mut killed = 0;
    for i in 0..12u64 {
        let id = format!("{}", 900 + i);
        let mut child = PandoraAlert::firing(&id).spawn(&cfg);
        std::thread::sleep(Duration::from_micros(300 + i * 700));
        let _ = child.kill();
        // Ended by the signal, not finished before it: no exit code.
        if child.wait().unwrap().code().is_none() {
            killed += 1;
        }
    }
    assert!(
        killed > 0,
        "no invocation was killed: the test proves nothing"
    );
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    let alerts: std::collections::BTreeSet<String> = ilert
        .accepted()
        .iter()
        .map(|e| e["alertKey"].as_str().unwrap().to_string())
        .collect();
    // Every invocation that got as far as its inbox write is delivered; none is half-written.
    let status: serde_json::Value =
        serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert_eq!(
        status["quarantined"].as_array().unwrap().len(),
        0,
        "{status}"
    );
    assert_eq!(status["queued"].as_array().unwrap().len(), 0);
    for rec in dir.files("incidents") {
        let key = rec.trim_end_matches(".json");
        assert!(
            alerts.contains(key),
            "incident {key} recorded but never delivered"
        );
    }
}

#[test]
fn fifty_concurrent_invocations_of_one_alert_send_exactly_one_alert() {
    let (dir, ilert) = (TestDir::new("concurrent-one"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "alert_deadline = \"12s\"");
    let children: Vec<_> = (0..50)
        .map(|_| PandoraAlert::firing("1000").spawn(&cfg))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(ilert.events(), [("ALERT".into(), "1000".into())]);
    let status: serde_json::Value =
        serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert_eq!(status["open_incidents"][0]["times_fired"], 50);
    // The fifty took turns on one byte of the shared lock file: no lock file per incident.
    let mut locks: Vec<String> = std::fs::read_dir(dir.state().join("locks"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    locks.sort();
    assert_eq!(locks, ["incidents"]);
}

#[test]
fn two_hundred_distinct_alerts_concurrently_are_each_delivered_once() {
    let (dir, ilert) = (TestDir::new("concurrent-many"), FakeIlert::start());
    let cfg = unpaced_config(&dir, &ilert, "alert_deadline = \"12s\"");
    let mut all = Vec::new();
    for batch in 0..4 {
        let children: Vec<_> = (0..50)
            .map(|i| PandoraAlert::firing(&format!("{}", 2000 + batch * 50 + i)).spawn(&cfg))
            .collect();
        all.extend(children);
    }
    for c in all {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut keys: Vec<String> = ilert.events().into_iter().map(|e| e.1).collect();
    keys.sort();
    let expected: Vec<String> = (2000..2200).map(|i| i.to_string()).collect();
    assert_eq!(keys, expected);
}

/// A whole log line as `logging` writes it: `2026-11-24T07:40:05.123Z [INFO] message`.
fn is_whole_log_line(line: &str) -> bool {
    let mut words = line.splitn(3, ' ');
    let (Some(time), Some(level), Some(_)) = (words.next(), words.next(), words.next()) else {
        return false;
    };
    let time_ok = time.len() >= 20
        && time.as_bytes()[10] == b'T'
        && time.ends_with('Z')
        && time[..4].bytes().all(|b| b.is_ascii_digit());
    let level_ok = ["[ERROR]", "[WARN]", "[INFO]", "[DEBUG]", "[TRACE]"].contains(&level);
    time_ok && level_ok
}

#[test]
fn concurrent_alerts_append_whole_log_lines() {
    // 120 processes at debug level append to one log file at once (an alert storm). Each line
    // must land whole: one `write` per line on an O_APPEND file.
    let (dir, ilert) = (TestDir::new("log-storm"), FakeIlert::start());
    let cfg = unpaced_config(&dir, &ilert, "alert_deadline = \"12s\"");
    let children: Vec<_> = (0..120)
        .map(|i| PandoraAlert::firing(&format!("{}", 3000 + i)).spawn(&cfg))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        // 69: beyond ilert's 50 events a minute per key the rest waits in the queue.
        assert!(
            matches!(out.status.code(), Some(0 | 69)),
            "{:?}",
            out.status
        );
    }
    let log = dir.log();
    let torn: Vec<&str> = log.lines().filter(|l| !is_whole_log_line(l)).collect();
    assert!(torn.is_empty(), "{} torn lines: {torn:#?}", torn.len());
    assert!(log.ends_with('\n'));
    let opened = log
        .lines()
        .filter(|l| l.contains("decision=opened"))
        .count();
    assert_eq!(opened, 120, "one decision line per alert");
}

#[test]
fn corrupt_record_is_quarantined_and_the_alert_still_goes_out() {
    let (dir, ilert) = (TestDir::new("corrupt"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    PandoraAlert::firing("1100").run(&cfg);
    std::fs::write(
        dir.state().join("incidents/1100.json"),
        b"{\"format\": 1, garbage",
    )
    .unwrap();
    std::fs::write(
        dir.state()
            .join("outbox/0000000000001-0000001-0000-00.999.json"),
        b"\xff\xfe not json",
    )
    .unwrap();
    let out = PandoraAlert::recovery("1100").run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ilert.events().last().unwrap(),
        &("RESOLVE".to_string(), "1100".to_string())
    );
    let flush = run(&cfg, &["flush"]);
    assert_eq!(code(&flush), 0, "{}", stderr(&flush));
    assert_eq!(
        dir.files("quarantine").len(),
        2,
        "{:?}",
        dir.files("quarantine")
    );
    assert!(dir.log().contains("quarantined"), "{}", dir.log());
}

#[test]
fn hostile_macro_values_arrive_intact_in_valid_json() {
    let (dir, ilert) = (TestDir::new("hostile"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let agent = "O'Brien \"prod\" $(id) `uname` ; & | <b>é</b> 日本";
    let data = "line1\nline2\tTAB \\ 100%";
    let big = "x".repeat(100 * 1024);
    let out = PandoraAlert::firing("1200")
        .set("--agent", agent)
        .set("--data", data)
        .set("--module", "-starts-with-dash")
        .set("--details", &big)
        .set("--timestamp", "N/A")
        .run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let e = &ilert.accepted()[0];
    assert_eq!(e["customDetails"]["agent"], agent);
    assert_eq!(e["customDetails"]["data"], data);
    assert_eq!(e["customDetails"]["module"], "-starts-with-dash");
    assert_eq!(
        e["customDetails"]["details"].as_str().unwrap().len(),
        big.len()
    );
    assert!(e["summary"].as_str().unwrap().chars().count() <= 255);
    assert!(!e["summary"].as_str().unwrap().contains('\n'));
}

#[test]
fn long_summaries_are_cut_on_a_character_boundary() {
    let (dir, ilert) = (TestDir::new("long"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    PandoraAlert::firing("1300")
        .set("--summary", &"€".repeat(400))
        .run(&cfg);
    let s = ilert.accepted()[0]["summary"].as_str().unwrap().to_string();
    assert_eq!(s.chars().count(), 255);
    assert!(s.ends_with('…'));
}

#[test]
fn pandorafms_endpoint_route_uses_ilerts_pandora_contract() {
    let (dir, ilert) = (TestDir::new("pfms"), FakeIlert::start());
    let cfg = dir.config(&format!(
        "[ilert]\napi_url = \"{}\"\n[[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\nilert_api = \"pandorafms\"\n",
        ilert.url()
    ));
    assert_eq!(code(&PandoraAlert::firing("1400").run(&cfg)), 0);
    assert_eq!(code(&PandoraAlert::recovery("1400").run(&cfg)), 0);
    let reqs = ilert.server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, format!("/api/v1/events/pandorafms/{KEY}"));
    let (a, r) = (reqs[0].json(), reqs[1].json());
    assert_eq!(a["eventType"], "alert");
    assert_eq!(r["eventType"], "resolved");
    assert_eq!(a["incidentKey"], "1400");
    assert_eq!(r["incidentKey"], "1400");
    assert_eq!(a["details"]["agentName"], "web-01");
    assert_eq!(a["details"]["moduleData"], "95.5%");
    assert!(!dir.log().contains(KEY), "key leaked into the log");
}

#[test]
fn routes_choose_source_and_priority() {
    let (dir, ilert) = (TestDir::new("routes"), FakeIlert::start());
    let cfg = dir.config(&format!(
        r#"[ilert]
api_url = "{}"
[[ilert.source]]
name = "databases"
integration_key = "{KEY}"
[[route]]
name = "db"
groups = ["Databases"]
modules = ["*latency*"]
ilert_source = "databases"
ilert_priority = "LOW"
ilert_routing_key = "dba-oncall"
[[route]]
name = "default"
ilert_key = "il1unused000"
"#,
        ilert.url()
    ));
    let out = PandoraAlert::firing("1500")
        .set("--group", "Databases")
        .set("--module", "Query Latency")
        .run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let e = &ilert.accepted()[0];
    assert_eq!(e["priority"], "LOW");
    assert_eq!(e["routingKey"], "dba-oncall");
    assert_eq!(e["labels"]["group"], "Databases");
    assert_eq!(e["labels"]["route"], "db");
    assert_eq!(e["customDetails"]["pandora_route"], "db");
    let check = run(&cfg, &["config", "check"]);
    let text = stdout(&check);
    assert!(
        text.contains("1. db: group in [databases] and module in [*latency*]"),
        "{text}"
    );
    assert!(
        !text.contains(KEY) && !text.contains("il1unused000"),
        "keys must be redacted: {text}"
    );
}

#[test]
fn dry_run_prints_requests_with_keys_redacted_and_changes_nothing() {
    let (dir, ilert) = (TestDir::new("dry"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let out = PandoraAlert::firing("1600").run_with(&cfg, "--dry-run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("POST {}/api/events", ilert.url())),
        "{text}"
    );
    assert!(text.contains("\"eventType\": \"ALERT\""), "{text}");
    assert!(!text.contains(KEY), "{text}");
    assert!(ilert.server.requests().is_empty());
    assert!(!dir.state().exists(), "dry run created the state directory");
}

#[test]
fn bad_input_is_rejected_with_65_and_kept() {
    let (dir, ilert) = (TestDir::new("badinput"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let out = PandoraAlert::firing("12a").run(&cfg);
    assert_eq!(code(&out), 65);
    assert!(
        stderr(&out).contains("--alert-id \"12a\" is not a number"),
        "{}",
        stderr(&out)
    );
    let out = PandoraAlert::firing("1").set("--alert-id", "x1").run(&cfg);
    assert_eq!(code(&out), 65);
    assert_eq!(dir.files("quarantine").len(), 2);
    assert!(ilert.server.requests().is_empty());
}

#[test]
fn rejected_input_is_named_once_on_stderr_and_logged() {
    let (dir, ilert) = (TestDir::new("badinput-once"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let out = PandoraAlert::firing("12a").run(&cfg);
    assert_eq!(code(&out), 65);
    let err = stderr(&out);
    assert_eq!(err.matches("is not a number").count(), 1, "{err}");
    assert!(err.contains("input kept in"), "{err}");
    assert_eq!(
        dir.log().matches("is not a number").count(),
        1,
        "{}",
        dir.log()
    );
}

#[test]
fn an_unreadable_config_names_its_owner_group_and_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, ilert) = (TestDir::new("unreadable"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| stdout(&o).trim() == "0");
    // root reads any file: run as nobody then (a file of root's, mode 0640); else a file of
    // our own with no read permission.
    let out = if is_root {
        std::fs::set_permissions(&dir.path, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(support::BIN)
            .arg("--config")
            .arg(&cfg)
            .args(["config", "check"])
            .output()
            .expect("setpriv (util-linux) runs the binary as nobody")
    } else {
        std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o200)).unwrap();
        run(&cfg, &["config", "check"])
    };
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot read it: Permission denied"), "{err}");
    if is_root {
        assert!(
            err.contains("it is root:root mode 0640 and pandora-ilert runs as nobody, neither its owner nor in group root"),
            "{err}"
        );
    } else {
        assert!(
            err.contains("its owner, without read permission: chmod u+r"),
            "{err}"
        );
    }
    assert!(!err.contains("--config"), "{err}");
}

#[test]
fn the_example_placeholder_key_is_named_by_config_check_and_dry_run() {
    let dir = TestDir::new("placeholder-key");
    let cfg = dir.config(
        "[ilert]\napi_url = \"http://127.0.0.1:9\"\n[[route]]\nname = \"default\"\nilert_key = \"REPLACE-WITH-INTEGRATION-KEY\"\n",
    );
    let out = run(&cfg, &["config", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(!text.contains(": OK"), "{text}");
    assert!(text.contains("valid, but not ready"), "{text}");
    assert!(
        text.contains("warning: route 'default' still has the placeholder ilert_key"),
        "{text}"
    );
    let out = PandoraAlert::firing("1").run_with(&cfg, "--dry-run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("route 'default' still has the example's placeholder key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_64_and_no_arguments_is_harmless() {
    let out = std::process::Command::new(support::BIN).output().unwrap();
    assert_eq!(code(&out), 64);
    let out = std::process::Command::new(support::BIN)
        .args(["alert", "--no-such-option"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 64);
    let out = std::process::Command::new(support::BIN)
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    assert!(
        stdout(&out).contains("69  accepted into the outbox"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn alert_help_examples_use_only_installed_paths() {
    let out = std::process::Command::new(support::BIN)
        .args(["alert", "--help"])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let help = stdout(&out);
    // A package user has no source tree: no example may point into it (issue 17 item 9).
    assert!(!help.contains("pandora/demo.toml"), "{help}");
    assert!(
        help.contains("installed config (/etc/pandora-ilert/pandora-ilert.toml)"),
        "{help}"
    );
    assert!(
        help.contains("/usr/share/pandora-ilert/pandora/command.txt"),
        "{help}"
    );
}

#[test]
fn config_errors_name_the_line_and_exit_78() {
    let dir = TestDir::new("badconfig");
    let cfg = dir.config("[ilert]\napi_url = \"http://127.0.0.1:9\"\n[[route]]\nname = \"default\"\nintegration_ky = \"x\"\n");
    let out = PandoraAlert::firing("1").run(&cfg);
    assert_eq!(code(&out), 78);
    let err = stderr(&out);
    assert!(
        err.contains("line 8: unknown key 'integration_ky'"),
        "{err}"
    );
    let missing = run(&dir.join("nope.toml"), &["flush"]);
    assert_eq!(code(&missing), 78);
    assert!(
        stderr(&missing).contains("nope.toml: cannot read it"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn world_readable_config_with_keys_gets_a_warning() {
    let (dir, ilert) = (TestDir::new("perms"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&cfg, &["config", "check"]);
    assert!(
        stdout(&out).contains("readable by all users"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn unwritable_state_dir_exits_73() {
    let (dir, ilert) = (TestDir::new("ro"), FakeIlert::start());
    let cfg = dir.config(&format!(
        "state_dir = \"/proc/pandora-ilert-cannot\"\n[ilert]\napi_url = \"{}\"\n[[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\n",
        ilert.url()
    ));
    let out = PandoraAlert::firing("1").run(&cfg);
    assert!(code(&out) == 73 || code(&out) == 78, "{}", stderr(&out));
}

#[test]
fn config_check_warns_about_unknown_template_placeholders() {
    let (dir, ilert) = (TestDir::new("placeholders"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "summary_template = \"{severty} {agent} {id}\"",
    );
    let out = run(&cfg, &["config", "check"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "warning: summary_template uses {severty}, which is not a placeholder (kept as written); did you mean 'severity'?"
        ),
        "{text}"
    );
    assert_eq!(
        text.matches("which is not a placeholder").count(),
        1,
        "{text}"
    );
}

#[test]
fn dry_run_warns_about_unknown_template_placeholders() {
    let (dir, ilert) = (TestDir::new("placeholders-dry-run"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "summary_template = \"{severty} {agent} {id}\"",
    );
    let out = PandoraAlert::firing("1").run_with(&cfg, "--dry-run");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("summary_template uses {severty}, which is not a placeholder")
            .count(),
        1,
        "{err}"
    );
    assert_eq!(ilert.request_count(), 0, "a dry run sends nothing");
}

/// The stop handler runs in the signal's own context (no thread): a `flush` interrupted by
/// SIGINT in the middle of a slow POST stops at once, says so in one log line with the state
/// directory, exits 69, and what it was sending stays queued for the next run.
#[test]
fn sigint_stops_a_flush_mid_post_and_keeps_its_queue() {
    let (dir, ilert) = (TestDir::new("sigint-flush"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    ilert.set_mode(Mode::Fail(503));
    assert_eq!(code(&PandoraAlert::firing("920").run(&cfg)), 69);
    ilert.set_mode(Mode::Slow(Duration::from_secs(30)));
    let before = ilert.received().len();
    let child = std::process::Command::new(support::BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("flush")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while ilert.received().len() == before {
        assert!(t.elapsed() < Duration::from_secs(20), "flush never sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "slow to stop: {:?}",
        t.elapsed()
    );
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    let said = format!(
        "received SIGINT: stopping now; undelivered events stay queued in {}",
        dir.state().display()
    );
    assert_eq!(dir.log().matches(&said).count(), 1, "{}", dir.log());
    assert!(stderr(&out).contains(&said), "{}", stderr(&out));
    assert_eq!(dir.queued().len(), 1);
    ilert.set_mode(Mode::Accept);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert!(dir.queued().is_empty());
    assert!(ilert.accepted().iter().any(|e| e["alertKey"] == "920"));
}

/// Pandora (or a person's shell) may start the command with standard input, output and error
/// closed. The process opens them on /dev/null before anything else (src/start.rs), so no
/// store file takes descriptor 1 or 2 and receives what is printed or logged: with ilert
/// down (warnings on stderr) the event is queued intact and goes out with the next flush.
#[test]
fn closed_standard_descriptors_never_become_store_files() {
    let (dir, ilert) = (TestDir::new("closed-fds"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "");
    ilert.set_mode(Mode::Fail(503));
    // With only stdin and stderr closed, the lock file would be descriptor 2 without the
    // guard (checked: the delivery warning then lands in it).
    for (id, closed) in [("930", "<&- >&- 2>&-"), ("931", "<&- 2>&-")] {
        let out = PandoraAlert::firing(id).run_with(&cfg, closed);
        assert_eq!(code(&out), 69, "{}", dir.log());
        assert!(out.stderr.is_empty(), "{}", stderr(&out));
    }
    assert!(dir.log().contains("[WARN]"), "{}", dir.log());
    // Every file of the store is what it should be: no log line or printed text inside.
    let mut files = vec![dir.state()];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
        assert!(
            !text.contains(" [WARN] ") && !text.contains(" [ERROR] ") && !text.contains(" [INFO] "),
            "{}: {text}",
            path.display()
        );
    }
    assert_eq!(dir.queued().len(), 2);
    ilert.set_mode(Mode::Accept);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert_eq!(ilert.accepted().len(), 2);
}

/// The log file's directory is made when it is missing (a fresh installation without the
/// packages' log directory), and the alert goes out either way.
#[test]
fn a_log_file_in_a_missing_directory_is_created_with_it() {
    let (dir, ilert) = (TestDir::new("log-dir"), FakeIlert::start());
    let log = dir.join("logs/pandora-ilert/pandora-ilert.log");
    let cfg = dir.join("custom.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}\"\nlog_file = \"{}\"\n[ilert]\napi_url = \"{}\"\n\
             [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\n",
            dir.state().display(),
            log.display(),
            ilert.url()
        ),
    )
    .unwrap();
    let out = PandoraAlert::firing("6182269").run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ilert.accepted().len(), 1);
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("decision=opened"), "{text:?}");
}
