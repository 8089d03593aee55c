//! `pandora-ilert test`: the drill through the real binary against a fake ilert.

mod support;

use support::ilert::{FakeIlert, Mode, KEY};
use support::{code, run, stderr, stdout, ConfigBuilder, TestDir};

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

/// Each hop's time comes from the store's event log: ilert took the ALERT before the RESOLVE,
/// both within the drill.
#[test]
fn drill_times_each_hop_from_the_event_log() {
    let (dir, ilert) = (TestDir::new("drill-times"), FakeIlert::start());
    let cfg = config(&dir, &ilert);
    let out = run(&cfg, &["test", "--json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let drill: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let times: Vec<f64> = drill["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            h["after_secs"]
                .as_f64()
                .unwrap_or_else(|| panic!("untimed hop {h}"))
        })
        .collect();
    assert_eq!(times.len(), 2, "{drill}");
    assert!(0.0 <= times[0] && times[0] <= times[1], "{times:?}");
    assert!(times[1] <= drill["total_secs"].as_f64().unwrap(), "{drill}");
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
    // The drill did not finish and says so; it leaves nothing queued to fire later.
    assert_eq!(j["dropped"], 2, "{j}");
    let status: serde_json::Value =
        serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert!(dir.queued().is_empty(), "{:?}", dir.queued());
    assert!(
        status["open_incidents"].as_array().unwrap().is_empty(),
        "{status}"
    );
    ilert.set_mode(Mode::Accept);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert!(ilert.accepted().is_empty(), "{:?}", ilert.accepted());
    let text = stdout(&run(&cfg, &["test"]));
    assert!(text.contains("2 of 2 hops OK"), "{text}");
}

#[test]
fn drill_text_says_it_could_not_finish_and_removed_its_events() {
    let (dir, ilert) = (TestDir::new("drill-down-text"), FakeIlert::start());
    let cfg = config(&dir, &ilert);
    ilert.set_mode(Mode::Fail(503));
    let out = run(&cfg, &["test"]);
    assert_eq!(code(&out), 69);
    assert!(
        stdout(&out).contains("The drill could not reach ilert, so it did not finish: its 2 queued event(s) were removed"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn drills_page_at_low_priority_unless_asked_for_high() {
    let (dir, ilert) = (TestDir::new("drill-priority"), FakeIlert::start());
    // Even a route with a fixed HIGH priority drills at LOW.
    let cfg = dir.config(&format!(
        "alert_deadline = \"4s\"\nflush_deadline = \"6s\"\nrequest_timeout = \"2s\"\n[ilert]\napi_url = \"{}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\nilert_priority = \"HIGH\"\n",
        ilert.url()
    ));
    assert_eq!(code(&run(&cfg, &["test"])), 0);
    assert_eq!(code(&run(&cfg, &["test", "--priority", "HIGH"])), 0);
    let priorities: Vec<String> = ilert
        .accepted()
        .iter()
        .filter(|e| e["eventType"] == "ALERT")
        .map(|e| e["priority"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(priorities, ["LOW", "HIGH"]);
    let out = run(&cfg, &["test", "--priority", "urgent"]);
    assert_eq!(code(&out), 64, "{}", support::stderr(&out));
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
