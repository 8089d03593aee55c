//! Never miss a page: each defect found by the kill/fault harness, reproduced through the
//! real binary. (Kills and faults at every store write are in tests/crash.rs; the randomized
//! soak is in tests/soak.rs.)

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::ilert::{FakeIlert, Mode};
use support::slack::FakeSlack;
use support::{code, run, stderr, stdout, ConfigBuilder, PandoraAlert, TestDir};

fn config(
    dir: &TestDir,
    ilert: &FakeIlert,
    slack: Option<&FakeSlack>,
    route: &str,
) -> std::path::PathBuf {
    let mut b = ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"8s\"")
        .set("flush_deadline", "\"20s\"")
        .plugin("data_in = \"\"\ndeadline = \"15s\"")
        .route(route);
    if let Some(s) = slack {
        b = b.slack(s);
    }
    b.write(dir)
}

fn status_json(cfg: &std::path::Path) -> serde_json::Value {
    let out = run(cfg, &["status", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)))
}

/// Defect 3: a SIGTERM that arrives before the event is saved must not claim "queued".
/// The route's storm lock is held by the test, so the alert waits before its commit write.
#[test]
fn sigterm_before_the_event_is_saved_exits_75_and_claims_nothing() {
    let (dir, ilert, slack) = (
        TestDir::new("term-early"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, Some(&slack), "");
    // Creates the store (and the lock file's directory).
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    let lock_path = dir.state().join("meta").join("storm-default.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap();
    lock.lock().unwrap();
    let child = PandoraAlert::firing("7100").spawn(&cfg);
    std::thread::sleep(Duration::from_millis(700));
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    drop(lock);
    assert_eq!(
        out.status.code(),
        Some(75),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dir.log()
    );
    assert!(
        dir.log().contains("before the event was saved"),
        "{}",
        dir.log()
    );
    assert_eq!(status_json(&cfg)["queued"].as_array().unwrap().len(), 0);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert!(ilert.events().is_empty(), "{:?}", ilert.events());
    // The next firing pages.
    dir.assert_ok(&PandoraAlert::firing("7100").run(&cfg));
    assert_eq!(ilert.events(), [("ALERT".to_string(), "7100".to_string())]);
}

/// Defect 4: chat steps belong to their incident. Incident 1 fires and recovers and
/// incident 2 fires while chat is down; once chat is back, incident 1's channel shows the
/// recovery and incident 2 gets its own channel, still firing.
#[test]
fn queued_chat_steps_act_on_their_own_incident_after_a_new_one_opens() {
    let (dir, ilert, slack) = (
        TestDir::new("chat-seq"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, Some(&slack), "");
    dir.assert_ok(&PandoraAlert::firing("7200").run(&cfg));
    slack.server.stop();
    for out in [
        PandoraAlert::recovery("7200").run(&cfg),
        PandoraAlert::firing("7200").run(&cfg),
    ] {
        assert_eq!(code(&out), 69, "{}", stderr(&out));
    }
    let slack = slack.restart();
    let flush = run(&cfg, &["flush"]);
    assert_eq!(code(&flush), 0, "{}\n{}", stderr(&flush), dir.log());
    let channels = slack.channels();
    assert_eq!(channels.len(), 2, "{channels:?}");
    let first = &channels[0];
    let second = &channels[1];
    assert!(first.topic.starts_with("RESOLVED"), "{}", first.topic);
    assert!(second.topic.starts_with("FIRING"), "{}", second.topic);
    assert_ne!(first.name, second.name);
    assert_eq!(dir.record("7200")["seq"], 2);
    assert_eq!(
        ilert.events(),
        [
            ("ALERT".to_string(), "7200".to_string()),
            ("RESOLVE".to_string(), "7200".to_string()),
            ("ALERT".to_string(), "7200".to_string())
        ]
    );
}

/// Defect 5: the storm budget is exact at any parallelism: 32 alerts at once with
/// `storm_per_minute = 10` open exactly 10 incident channels and one storm channel.
#[test]
fn storm_budget_is_exact_with_32_parallel_alerts() {
    let (dir, ilert, slack) = (
        TestDir::new("storm-par"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    // Eleven channels set up at once go over Tier 2's floor of 20 calls a minute for topics;
    // this test is about the storm budget.
    slack.relax_limits();
    let cfg = config(
        &dir,
        &ilert,
        Some(&slack),
        "storm_per_minute = 10\nstorm_quiet = \"10m\"",
    );
    let children: Vec<_> = (0..32)
        .map(|i| PandoraAlert::firing(&(7300 + i).to_string()).spawn(&cfg))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 69)),
            "{:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(code(&run(&cfg, &["flush"])), 0, "{}", dir.log());
    let names: Vec<String> = slack.channels().into_iter().map(|c| c.name).collect();
    let incident_channels = names
        .iter()
        .filter(|n| n.starts_with("pandorafms_alert_"))
        .count();
    assert_eq!(incident_channels, 10, "{names:?}");
    assert!(
        names.iter().any(|n| n == "pandorafms_storm_default"),
        "{names:?}"
    );
    assert_eq!(ilert.events().len(), 32, "every alert still pages");
}

/// Defect 6: the plugin's state-directory module tells the truth. An immutable (read-only)
/// outbox passes a "does the directory exist" check but refuses every alert.
#[test]
fn plugin_reports_a_read_only_state_directory_as_critical() {
    let (dir, ilert) = (TestDir::new("ro-state"), FakeIlert::start());
    let cfg = config(&dir, &ilert, None, "");
    dir.assert_ok(&PandoraAlert::firing("7400").run(&cfg));
    let outbox = dir.state().join("outbox");
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    // root ignores permission bits; an immutable directory refuses root too.
    let made_read_only = if is_root {
        Command::new("chattr")
            .arg("+i")
            .arg(&outbox)
            .status()
            .is_ok_and(|s| s.success())
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o555)).is_ok()
    };
    assert!(
        made_read_only,
        "cannot make {} read-only here (chattr +i failed as root)",
        outbox.display()
    );
    let alert = PandoraAlert::firing("7401").run(&cfg);
    let plugin = run(&cfg, &["plugin"]);
    if is_root {
        let _ = Command::new("chattr").arg("-i").arg(&outbox).status();
    } else {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&outbox, std::fs::Permissions::from_mode(0o750));
    }
    assert_eq!(code(&alert), 73, "{}", stderr(&alert));
    let xml = stdout(&plugin);
    let module = xml
        .split("<module>")
        .find(|m| m.contains("state directory"))
        .unwrap_or_else(|| panic!("no state directory module: {xml}"));
    assert!(
        module.contains("<data><![CDATA[0]]></data>") || module.contains("<data>0</data>"),
        "{module}"
    );
    assert!(
        module.contains("CRITICAL") || module.contains("critical"),
        "{module}"
    );
}

/// Defect 7: an outbox entry that cannot be read (a directory, a symlink loop) is
/// quarantined, counted and shown, and never blocks `flush`.
#[test]
fn unreadable_outbox_entries_are_quarantined_not_retried_forever() {
    let (dir, ilert) = (TestDir::new("unreadable"), FakeIlert::start());
    let cfg = config(&dir, &ilert, None, "");
    dir.assert_ok(&PandoraAlert::firing("7500").run(&cfg));
    let outbox = dir.state().join("outbox");
    std::fs::create_dir(outbox.join("7501.json")).unwrap();
    std::os::unix::fs::symlink("7502.json", outbox.join("7502.json")).unwrap();
    let t = Instant::now();
    for _ in 0..2 {
        let flush = run(&cfg, &["flush"]);
        assert_eq!(code(&flush), 0, "{}\n{}", stderr(&flush), dir.log());
    }
    assert!(t.elapsed() < Duration::from_secs(20));
    let status = status_json(&cfg);
    assert_eq!(status["queued"].as_array().unwrap().len(), 0, "{status}");
    let quarantined = status["quarantined"].as_array().unwrap();
    assert_eq!(quarantined.len(), 2, "{status}");
    assert!(dir.log().contains("quarantined"), "{}", dir.log());
    let text = stdout(&run(&cfg, &["status"]));
    assert!(text.contains("quarantine"), "{text}");
}

/// Defect 1, the ENOSPC variant: a failure after the event is committed no longer says
/// "could NOT be queued"; the event is delivered and the next firing after recovery pages.
#[test]
fn a_failure_after_the_commit_reports_queued_and_pages_later() {
    let (dir, ilert) = (TestDir::new("after-commit"), FakeIlert::start());
    let cfg = config(&dir, &ilert, None, "");
    dir.assert_ok(&PandoraAlert::firing("7600").run(&cfg));
    ilert.set_mode(Mode::Fail(503));
    // Write points of a recovery: 1-4 the commit (create, write, fsync, rename), 5 the
    // directory flush after the rename: ENOSPC there comes after the event is visible.
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(format!(
            "exec {}",
            PandoraAlert::recovery("7600").command_line(&cfg, "")
        ))
        .env("PANDORA_ILERT_FAULT", "5:enospc")
        .output()
        .unwrap();
    assert_eq!(code(&out), 69, "{}\n{}", stderr(&out), dir.log());
    ilert.set_mode(Mode::Accept);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    dir.assert_ok(&PandoraAlert::firing("7600").run(&cfg));
    let types: Vec<String> = ilert
        .accepted()
        .iter()
        .map(|e| e["eventType"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(types, ["ALERT", "RESOLVE", "ALERT"], "{}", dir.log());
}

/// Issue 12: after an outage, the first delivery that succeeds ends our backoff for the rest
/// of its lane: the plugin run that finds ilert back sends everything, not one entry per
/// backoff period.
#[test]
fn the_first_success_after_an_outage_releases_the_whole_backlog() {
    let (dir, ilert) = (TestDir::new("outage-over"), FakeIlert::start());
    let cfg = config(&dir, &ilert, None, "");
    ilert.set_mode(Mode::Fail(503));
    for id in ["7700", "7701", "7702"] {
        assert_eq!(code(&PandoraAlert::firing(id).run(&cfg)), 69);
    }
    ilert.set_mode(Mode::Accept);
    // Nothing is due yet: every entry is in our 30 s backoff, and the plugin run sends nothing.
    let out = run(&cfg, &["plugin"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(ilert.accepted().is_empty(), "{:?}", ilert.events());
    // One incident's backoff ends (as 30 s later): its delivery succeeds, and the same run
    // sends the other two although their backoff has not ended.
    let path = dir.state().join("outbox").join("7700.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for e in v["queue"].as_array_mut().unwrap() {
        e.as_object_mut().unwrap().remove("backoff_until");
    }
    std::fs::write(&path, v.to_string()).unwrap();
    let out = run(&cfg, &["plugin"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(ilert.accepted().len(), 3, "{}", dir.log());
    assert!(dir.queued().is_empty());
}

/// Issue 12: `status` and the plugin count open incidents from the `open/` index, which a
/// reader repairs: a stale marker (a crash between a recovery and the marker's removal) is
/// dropped, and the plugin's hourly pass puts back a missing one.
#[test]
fn open_incidents_come_from_an_index_that_repairs_itself() {
    let (dir, ilert) = (TestDir::new("open-index"), FakeIlert::start());
    let cfg = config(&dir, &ilert, None, "");
    for id in ["7800", "7801", "7802"] {
        dir.assert_ok(&PandoraAlert::firing(id).run(&cfg));
    }
    dir.assert_ok(&PandoraAlert::recovery("7801").run(&cfg));
    let open = dir.state().join("open");
    // A marker is named `<opened at, ms>.<key>`.
    let marker = |key: &str| -> Option<std::path::PathBuf> {
        std::fs::read_dir(&open)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(&format!(".{key}")))
    };
    assert!(marker("7801").is_none(), "removed after the recovery");
    // A stale marker (a crash between a resolution and the marker's removal).
    std::fs::write(open.join("1700000000000.7801"), b"").unwrap();
    std::fs::remove_file(marker("7802").unwrap()).unwrap();
    let keys = |j: &serde_json::Value| -> Vec<String> {
        j["open_incidents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        keys(&status_json(&cfg)),
        ["7800"],
        "the stale marker is not counted"
    );
    // The plugin (which writes, unlike `status`) removes the stale marker, and its
    // closed-records pass (due on its first run) puts back the missing one.
    let out = run(&cfg, &["plugin"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(marker("7801").is_none());
    assert!(marker("7802").is_some());
    assert_eq!(keys(&status_json(&cfg)), ["7800", "7802"]);
}
