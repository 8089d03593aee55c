//! `pandora-ilert test`: the drill through the real binary against a fake ilert.

mod support;

use support::ilert::{FakeIlert, Mode};
use support::{code, run, stdout, ConfigBuilder, TestDir};

fn config(dir: &TestDir, ilert: &FakeIlert) -> std::path::PathBuf {
    ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"4s\"")
        .set("flush_deadline", "\"6s\"")
        .write(dir)
}

#[test]
fn drill_fires_and_resolves_a_labelled_alert_and_reports_each_hop() {
    let (dir, ilert) = (TestDir::new("drill"), FakeIlert::start());
    let cfg = config(&dir, &ilert);
    let out = run(&cfg, &["test"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(text.contains("[ok  ] ilert accepted the ALERT"), "{text}");
    assert!(text.contains("[ok  ] ilert accepted the RESOLVE"), "{text}");
    assert!(text.contains("2 of 2 hops OK"), "{text}");
    let events = ilert.accepted();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["eventType"], "ALERT");
    assert_eq!(events[1]["eventType"], "RESOLVE");
    assert_eq!(events[0]["alertKey"], events[1]["alertKey"]);
    assert!(events[0]["alertKey"]
        .as_str()
        .unwrap()
        .starts_with("drill-"));
    assert!(
        events[0]["summary"]
            .as_str()
            .unwrap()
            .starts_with("[DRILL]"),
        "{}",
        events[0]["summary"]
    );
    assert_eq!(events[0]["customDetails"]["drill"], true);
    let status: serde_json::Value =
        serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert!(status["open_incidents"].as_array().unwrap().is_empty());
}

#[test]
fn drill_with_ilert_down_reports_the_failed_hop_and_exits_69() {
    let (dir, ilert) = (TestDir::new("drill-down"), FakeIlert::start());
    let cfg = config(&dir, &ilert);
    ilert.set_mode(Mode::Fail(503));
    let out = run(&cfg, &["test", "--json"]);
    assert_eq!(code(&out), 69, "{}", stdout(&out));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["hops"][0]["ok"], false);
    assert!(
        j["hops"][0]["error"].as_str().unwrap().contains("503"),
        "{j}"
    );
    // Nothing is lost: once ilert is back, flush delivers the drill in order.
    ilert.set_mode(Mode::Accept);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    let types: Vec<String> = ilert
        .accepted()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(types, ["ALERT", "RESOLVE"]);
}

#[test]
fn drill_on_an_unknown_route_is_a_usage_error() {
    let (dir, ilert) = (TestDir::new("drill-route"), FakeIlert::start());
    let cfg = config(&dir, &ilert);
    let out = run(&cfg, &["test", "--route", "defualt"]);
    assert_eq!(code(&out), 64);
    assert!(
        support::stderr(&out).contains("did you mean 'default'"),
        "{}",
        support::stderr(&out)
    );
}
