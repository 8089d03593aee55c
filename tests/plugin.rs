//! The agent plugin end to end: the real binary as `module_plugin` runs it, a fake ilert on
//! 127.0.0.1, a temporary state directory and data_in folder, and the real Pandora agent
//! (Debian's pandorafms-agent, via tests/harness/pandora-agent.sh) for the data file it writes.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use support::ilert::{FakeIlert, Mode, HEARTBEAT2_KEY, HEARTBEAT_KEY};
use support::modules::{check_types, expat_accepts, parse_document, parse_plugin_output, Parsed};
use support::{
    code, real_agent_run, run, stderr, stdout, ConfigBuilder, PandoraAlert, TestDir, BIN,
};

/// A config with a fake ilert, a data_in folder under the test directory, and extra lines at
/// the top level, under `[ilert]` and under `[plugin]`.
fn config(dir: &TestDir, ilert: &FakeIlert, top: &str, ilert_extra: &str, plugin: &str) -> PathBuf {
    let data_in = dir.join("data_in");
    std::fs::create_dir_all(&data_in).unwrap();
    let data_in_line = if plugin.contains("data_in") {
        String::new()
    } else {
        format!("data_in = \"{}\"\n", data_in.display())
    };
    ConfigBuilder::new(ilert)
        .top(top)
        .ilert(ilert_extra)
        .plugin(&format!("{data_in_line}{plugin}"))
        .write(dir)
}

/// Runs the plugin, checks the exit code and that stdout holds only well-typed modules.
fn plugin(cfg: &Path) -> (Vec<Parsed>, Output) {
    let out = support::plugin(cfg);
    let ms = parse_plugin_output(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n--- stdout:\n{}", stdout(&out)));
    check_types(&ms);
    (ms, out)
}

fn module<'a>(ms: &'a [Parsed], name: &str) -> &'a Parsed {
    let full = format!("pandora-ilert {name}");
    ms.iter().find(|m| m.name() == full).unwrap_or_else(|| {
        let names: Vec<&str> = ms.iter().map(Parsed::name).collect();
        panic!("no module {full:?} in {names:?}")
    })
}

fn has(ms: &[Parsed], name: &str) -> bool {
    ms.iter()
        .any(|m| m.name() == format!("pandora-ilert {name}"))
}

/// Queues an ALERT without delivering it: `alert_deadline = 0` leaves no time to send, so the
/// entry waits in the outbox with no backoff, as after an interrupted alert command.
fn queue_alert(cfg: &Path, id: &str) {
    let out = PandoraAlert::firing(id).run(cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
}

fn set_mtime(path: &Path, age: Duration) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - age)
        .unwrap();
}

/// Rewrites fields of a JSON file in the store (to make records look old).
fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

const OLD: &str = "2020-01-01T00:00:00.000Z";

#[test]
fn prints_only_modules_with_the_right_types_and_numeric_data() {
    let (dir, ilert) = (TestDir::new("plugin-shape"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "");
    let (ms, out) = plugin(&cfg);
    assert!(stdout(&out).starts_with("<module>\n"), "{}", stdout(&out));
    for (name, kind, data) in [
        ("config", "generic_proc", "1"),
        ("state directory", "generic_proc", "1"),
        ("queued events", "generic_data", "0"),
        ("oldest queued age", "generic_data", "0"),
        ("dead letters", "generic_data", "0"),
        ("open incidents", "generic_data", "0"),
        ("quarantined files", "generic_data", "0"),
        ("data_in backlog", "generic_data", "0"),
        ("data_in oldest age", "generic_data", "0"),
        ("data_in rejected", "generic_data", "0"),
        ("data_in last rejected", "generic_data_string", "none"),
    ] {
        let m = module(&ms, name);
        assert_eq!((m.kind(), m.data()), (kind, data), "{name}");
        assert!(!m.get("description").unwrap_or("").is_empty(), "{name}");
    }
    let q = module(&ms, "queued events");
    assert_eq!(
        (q.get("min_warning"), q.get("min_critical")),
        (Some("1"), Some("50"))
    );
    assert_eq!(q.get("unit"), Some("events"));
    assert_eq!(module(&ms, "dead letters").get("min_critical"), Some("1"));
    let t = module(&ms, "run time");
    assert!(t.number() < 5000.0, "{}", t.data());
    assert_eq!(t.get("min_critical"), Some("20000"));
    assert!(
        !has(&ms, "ilert reachable") && !has(&ms, "last delivery age"),
        "nothing sent yet, nothing claimed"
    );
    assert!(
        ilert.server.requests().is_empty(),
        "no probe that creates anything"
    );
}

#[test]
fn plugin_and_status_say_whether_watch_is_running() {
    let (dir, ilert) = (TestDir::new("plugin-watch"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "");
    // No watcher ever: no module (the plugin works alone), and status says nothing of it.
    let (ms, _) = plugin(&cfg);
    assert!(!has(&ms, "watch"));
    let mut watcher = support::spawn_watch(&cfg, 1);
    let alive = dir.state().join("meta/watch-alive");
    let started = std::time::Instant::now();
    while !alive.exists() && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ms, _) = plugin(&cfg);
    let status: serde_json::Value =
        serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &watcher.id().to_string()])
        .status();
    assert_eq!(watcher.wait().unwrap().code(), Some(0));
    let m = module(&ms, "watch");
    assert_eq!(
        (m.kind(), m.data(), m.status()),
        ("generic_proc", "1", Some("NORMAL"))
    );
    assert_eq!(status["watch_running"], true, "{status}");
    // Its last pass ten minutes ago (the file a pass writes, moved back in time): stopped.
    std::fs::write(&alive, OLD_PASS).unwrap();
    let (ms, _) = plugin(&cfg);
    let m = module(&ms, "watch");
    assert_eq!((m.data(), m.status()), ("0", Some("WARNING")));
    assert!(
        m.get("description").unwrap().contains("NOT running"),
        "{:?}",
        m.get("description")
    );
    let status: serde_json::Value =
        serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert_eq!(status["watch_running"], false, "{status}");
    let text = stdout(&run(&cfg, &["status"]));
    assert!(
        text.contains("NOT running: chat commands wait for the plugin"),
        "{text}"
    );
}

/// A watcher's last pass long ago (2020).
const OLD_PASS: &str = "2020-01-01T00:00:00Z";

#[test]
fn broken_config_still_prints_a_config_module_and_exits_0() {
    let dir = TestDir::new("plugin-badconfig");
    let cfg = dir.config("integration_ky = \"x\"\n");
    let (ms, out) = plugin(&cfg);
    assert_eq!(ms.len(), 1, "{}", stdout(&out));
    let m = module(&ms, "config");
    assert_eq!(
        (m.kind(), m.data(), m.status()),
        ("generic_proc", "0", Some("CRITICAL"))
    );
    let d = m.get("description").unwrap();
    assert!(d.contains("integration_ky"), "{d}");
    assert!(d.contains("line 4"), "{d}");

    let missing = run(&dir.join("nope.toml"), &["plugin"]);
    assert_eq!(code(&missing), 0);
    let ms = parse_plugin_output(&missing.stdout).unwrap();
    assert_eq!(module(&ms, "config").data(), "0");
}

#[test]
fn delivers_queued_events_and_reports_ilert_reachable() {
    let (dir, ilert) = (TestDir::new("plugin-deliver"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "alert_deadline = 0", "", "");
    queue_alert(&cfg, "41");
    assert!(ilert.events().is_empty());
    let (ms, _) = plugin(&cfg);
    assert_eq!(ilert.events(), [("ALERT".to_string(), "41".to_string())]);
    assert_eq!(module(&ms, "queued events").data(), "0");
    let r = module(&ms, "ilert reachable");
    assert_eq!((r.data(), r.status()), ("1", Some("NORMAL")));
    assert!(module(&ms, "last delivery age").number() < 10.0);
    let open = module(&ms, "open incidents");
    assert_eq!(open.data(), "1");
    assert!(
        open.get("description")
            .unwrap()
            .contains("web-01 / CPU Load"),
        "{:?}",
        open.get("description")
    );
    assert!(dir.queued().is_empty());
}

/// Once `open/` has been still for a while the plugin takes the open-incident count from
/// `meta/open-head` instead of listing the directory; an incident opened or resolved after
/// that is still counted at once, and the oldest ones are still read from their records.
#[test]
fn open_incident_count_follows_alerts_after_its_listing_is_cached() {
    let (dir, ilert) = (TestDir::new("plugin-open-head"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "");
    let firing = |id: &str| PandoraAlert::firing(id).set("--agent", &format!("host-{id}"));
    for id in ["51", "52", "53"] {
        dir.assert_ok(&firing(id).run(&cfg));
    }
    let cache = dir.state().join("meta/open-head");
    let (ms, _) = plugin(&cfg);
    assert_eq!(module(&ms, "open incidents").data(), "3");
    assert!(
        !cache.exists(),
        "open/ changed within the last seconds: not cached"
    );
    std::thread::sleep(Duration::from_millis(2_200));
    for _ in 0..2 {
        let (ms, _) = plugin(&cfg);
        assert_eq!(module(&ms, "open incidents").data(), "3");
    }
    let cached = std::fs::read_to_string(&cache).expect("settled open/: cached");
    assert!(cached.lines().nth(1).unwrap().ends_with(" 3"), "{cached}");
    dir.assert_ok(&PandoraAlert::recovery("51").run(&cfg));
    dir.assert_ok(&firing("54").run(&cfg));
    dir.assert_ok(&firing("55").run(&cfg));
    let (ms, _) = plugin(&cfg);
    let open = module(&ms, "open incidents");
    assert_eq!(open.data(), "4");
    let description = open.get("description").unwrap();
    assert!(!description.contains("host-51"), "{description}");
    let (oldest, newest) = (description.find("host-52"), description.find("host-55"));
    assert!(
        oldest.is_some_and(|o| newest.is_none_or(|n| o < n)),
        "{description}"
    );
}

#[test]
fn failed_delivery_in_backoff_waits_and_shows_ilert_unreachable() {
    let (dir, ilert) = (TestDir::new("plugin-backoff"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "");
    ilert.set_mode(Mode::Fail(500));
    let out = PandoraAlert::firing("42").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    ilert.set_mode(Mode::Accept);
    let (ms, _) = plugin(&cfg);
    assert_eq!(
        ilert.events().len(),
        1,
        "the entry is in backoff: not sent again"
    );
    let r = module(&ms, "ilert reachable");
    assert_eq!((r.data(), r.status()), ("0", Some("CRITICAL")));
    assert!(r.get("description").unwrap().contains("HTTP 500"), "{r:?}");
    let q = module(&ms, "queued events");
    assert_eq!(q.data(), "1");
    assert!(q.get("description").unwrap().contains("HTTP 500"), "{q:?}");
}

#[test]
fn heartbeat_is_pinged_and_reported() {
    let (dir, ilert) = (TestDir::new("plugin-heartbeat"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "",
        &format!("heartbeat_key = \"{HEARTBEAT_KEY}\""),
        "",
    );
    let (ms, _) = plugin(&cfg);
    assert_eq!(
        ilert.heartbeats(),
        [("GET".to_string(), HEARTBEAT_KEY.to_string())]
    );
    let hb = module(&ms, "heartbeat");
    assert_eq!(
        (hb.kind(), hb.data(), hb.status()),
        ("generic_proc", "1", Some("NORMAL"))
    );
    assert_eq!(module(&ms, "ilert reachable").data(), "1");
    assert!(ilert.events().is_empty(), "a heartbeat is not an event");
}

#[test]
fn heartbeat_monitor_integration_url_is_pinged_with_head_on_the_beat_host() {
    let (dir, ilert) = (TestDir::new("plugin-heartbeat2"), FakeIlert::start());
    // The integration URL as ilert's UI shows it; the beat host is the fake.
    let cfg = config(
        &dir,
        &ilert,
        "",
        &format!(
            "heartbeat_key = \"https://beat.ilert.com/api/pings/{HEARTBEAT2_KEY}\"\n\
             heartbeat_url = \"{}\"",
            ilert.url()
        ),
        "",
    );
    let (ms, _) = plugin(&cfg);
    assert_eq!(
        ilert.heartbeats(),
        [("HEAD".to_string(), HEARTBEAT2_KEY.to_string())]
    );
    let hb = module(&ms, "heartbeat");
    assert_eq!((hb.data(), hb.status()), ("1", Some("NORMAL")), "{hb:?}");
}

#[test]
fn heartbeat_pings_stay_within_five_a_minute_however_often_the_plugin_runs() {
    let (dir, ilert) = (TestDir::new("plugin-heartbeat-rate"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "",
        &format!(
            "heartbeat_key = \"{HEARTBEAT2_KEY}\"\nheartbeat_url = \"{}\"",
            ilert.url()
        ),
        "",
    );
    let mut last = None;
    for _ in 0..7 {
        last = Some(plugin(&cfg).0);
    }
    assert_eq!(ilert.heartbeats().len(), 5, "{:?}", ilert.heartbeats());
    assert_eq!(ilert.rate_limited(), 0, "ilert never had to refuse a ping");
    let last = last.unwrap();
    let hb = module(&last, "heartbeat");
    assert_eq!(
        (hb.data(), hb.status()),
        ("1", Some("NORMAL")),
        "a run that skips the ping reports the last one: {hb:?}"
    );
}

#[test]
fn wrong_heartbeat_key_is_a_critical_module_and_is_not_logged() {
    let (dir, ilert) = (TestDir::new("plugin-heartbeat-bad"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "",
        &format!(
            "heartbeat_key = \"hb-wrong-key-123456\"\nheartbeat_url = \"{}\"",
            ilert.url()
        ),
        "",
    );
    let (ms, _) = plugin(&cfg);
    let hb = module(&ms, "heartbeat");
    assert_eq!((hb.data(), hb.status()), ("0", Some("CRITICAL")));
    let d = hb.get("description").unwrap();
    assert!(d.contains("HTTP 404") && d.contains("heartbeat_key"), "{d}");
    assert!(dir.log().contains("heartbeat refused"), "{}", dir.log());
    assert!(
        !dir.log().contains("hb-wrong-key-123456"),
        "key leaked into the log"
    );
}

#[test]
fn data_in_backlog_age_and_rejected_files_are_reported() {
    let (dir, ilert) = (TestDir::new("plugin-datain"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "");
    let data_in = dir.join("data_in");
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/agent/");
    let old = data_in.join("web-01.1795000000.data");
    std::fs::copy(format!("{fixture}critical_and_normal.data"), &old).unwrap();
    set_mtime(&old, Duration::from_secs(600));
    std::fs::copy(
        format!("{fixture}recovered.data"),
        data_in.join("0a1b2c3d.1795000300.data"),
    )
    .unwrap();
    std::fs::copy(
        format!("{fixture}broken_cdata.data"),
        data_in.join("pandora-ilert-test.1795000100.data_BADXML"),
    )
    .unwrap();
    std::fs::create_dir_all(data_in.join("conf")).unwrap();
    std::fs::write(data_in.join("notes.txt"), "not a data file").unwrap();

    let (ms, _) = plugin(&cfg);
    assert_eq!(module(&ms, "data_in backlog").data(), "2");
    let age = module(&ms, "data_in oldest age");
    assert!((600.0..700.0).contains(&age.number()), "{age:?}");
    assert_eq!(
        (age.get("min_warning"), age.get("min_critical")),
        (Some("300"), Some("900"))
    );
    assert_eq!(module(&ms, "data_in rejected").data(), "1");
    let last = module(&ms, "data_in last rejected");
    assert_eq!(last.status(), Some("WARNING"));
    assert!(
        last.data().starts_with(
            "pandora-ilert-test.1795000100.data_BADXML (agent pandora-ilert-test): line 82 column 60: \"]]>\" in text"
        ),
        "{}",
        last.data()
    );
    let logged = |log: &str| log.matches("Pandora rejected data file").count();
    assert_eq!(logged(&dir.log()), 1, "{}", dir.log());
    plugin(&cfg);
    assert_eq!(logged(&dir.log()), 1, "logged once, not every run");
}

#[test]
fn unreadable_data_in_is_a_critical_module_not_a_failure() {
    let (dir, ilert) = (TestDir::new("plugin-datain-missing"), FakeIlert::start());
    let missing = dir.join("no-such-folder");
    let cfg = config(
        &dir,
        &ilert,
        "",
        "",
        &format!("data_in = \"{}\"", missing.display()),
    );
    let (ms, _) = plugin(&cfg);
    let m = module(&ms, "data_in readable");
    assert_eq!((m.data(), m.status()), ("0", Some("CRITICAL")));
    assert!(m.get("description").unwrap().contains("data_in = \"\""));
    assert!(has(&ms, "queued events"), "the other modules still print");

    let cfg = config(&dir, &ilert, "", "", "data_in = \"\"");
    let (ms, _) = plugin(&cfg);
    assert!(!ms.iter().any(|m| m.name().contains("data_in")), "disabled");
}

/// Store contents an attacker or a broken agent could control: agent names with `]]>`,
/// markup and control characters, a quarantined file whose name is not UTF-8, and a module
/// prefix with `]]>` and a BEL.
fn hostile_setup(dir: &TestDir, ilert: &FakeIlert) -> PathBuf {
    let cfg = config(dir, ilert, "", "", "module_prefix = \"pi]]>\\u0007<x>&\"");
    for (id, agent) in [
        ("61", "web]]>01"),
        ("62", "db \u{1}\u{1b}[31m <b>&amp;</b>\ttab"),
        ("63", "x]]]]><![CDATA[>y \u{7f}\u{85} é 温度"),
    ] {
        let out = PandoraAlert::firing(id).set("--agent", agent).run(&cfg);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let q = dir.state().join("quarantine");
        std::fs::create_dir_all(&q).unwrap();
        let name = std::ffi::OsStr::from_bytes(b"bad\xff\xfe]]>\x01name.json.1");
        std::fs::write(q.join(name), b"{").unwrap();
    }
    cfg
}

#[test]
fn hostile_store_strings_keep_the_output_well_formed() {
    let (dir, ilert) = (TestDir::new("plugin-hostile"), FakeIlert::start());
    let cfg = hostile_setup(&dir, &ilert);
    let out = run(&cfg, &["plugin"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ms = parse_plugin_output(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&out.stdout)));
    check_types(&ms);
    let open = ms
        .iter()
        .find(|m| m.name() == "pi]]><x>& open incidents")
        .unwrap_or_else(|| panic!("{:?}", ms.iter().map(Parsed::name).collect::<Vec<_>>()));
    assert_eq!(open.data(), "3");
    let d = open.get("description").unwrap();
    assert!(d.contains("web]]>01 / CPU Load"), "{d}");
    assert!(
        d.contains("db [31m <b>&amp;</b> tab"),
        "control characters removed: {d}"
    );
    assert!(d.contains("x]]]]><![CDATA[>y é 温度"), "{d}");
    let q = ms
        .iter()
        .find(|m| m.name() == "pi]]><x>& quarantined files")
        .unwrap();
    assert_eq!(q.data(), "1");
    assert!(
        q.get("description")
            .unwrap()
            .contains("bad\u{FFFD}\u{FFFD}]]>name"),
        "{q:?}"
    );

    let doc = dir.join("wrapped.xml");
    std::fs::write(
        &doc,
        [
            b"<agent_data agent_name='t'>".as_slice(),
            &out.stdout,
            b"</agent_data>",
        ]
        .concat(),
    )
    .unwrap();
    if let Some(verdict) = expat_accepts(&doc) {
        verdict.unwrap();
    }
}

#[test]
fn slow_ilert_cannot_hold_the_run_past_its_deadline() {
    let (dir, ilert) = (TestDir::new("plugin-deadline"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "alert_deadline = 0\nrequest_timeout = \"30s\"",
        "",
        "deadline = \"3s\"",
    );
    queue_alert(&cfg, "43");
    // ilert would answer after 60 s; the 3 s deadline must end the run long before that.
    ilert.set_mode(Mode::Slow(Duration::from_secs(60)));
    let started = Instant::now();
    let (ms, _) = plugin(&cfg);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(
        module(&ms, "queued events").data(),
        "1",
        "still queued, not lost"
    );
    assert!(module(&ms, "run time").number() < 3000.0);
    assert_eq!(dir.queued().len(), 1);
}

#[test]
fn overlapping_run_reports_but_leaves_delivery_to_the_first() {
    let (dir, ilert) = (TestDir::new("plugin-overlap"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "alert_deadline = 0\nrequest_timeout = \"15s\"",
        "",
        "",
    );
    queue_alert(&cfg, "44");
    // The first run's delivery takes 6 s; the second must not wait for it.
    ilert.set_mode(Mode::Slow(Duration::from_secs(6)));
    let first = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("plugin")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    let (ms, _) = plugin(&cfg);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited for the first run"
    );
    assert!(has(&ms, "queued events"));
    let first = first.wait_with_output().unwrap();
    assert_eq!(code(&first), 0);
    assert_eq!(ilert.events().len(), 1, "delivered once, by the first run");
    assert!(
        dir.log()
            .contains("another plugin run holds the plugin lock"),
        "{}",
        dir.log()
    );
    assert!(dir.queued().is_empty());
}

#[test]
fn housekeeping_prunes_old_closed_records_never_open_ones() {
    let (dir, ilert) = (TestDir::new("plugin-prune"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "prune_after = \"1d\"");
    let ok = |out: Output| assert_eq!(code(&out), 0, "{}", stderr(&out));
    ok(PandoraAlert::firing("50").run(&cfg));
    ok(PandoraAlert::recovery("50").run(&cfg));
    ok(PandoraAlert::firing("51").run(&cfg));
    ok(PandoraAlert::firing("52").run(&cfg));
    ok(PandoraAlert::recovery("52").run(&cfg));
    ok(PandoraAlert::firing("52").run(&cfg));
    let state = dir.state();
    edit_json(&state.join("incidents/50.json"), |v| {
        v["incident"]["resolved_at"] = OLD.into();
        v["incident"]["last_seen"] = OLD.into();
    });
    edit_json(&state.join("incidents/51.json"), |v| {
        v["incident"]["opened_at"] = OLD.into();
        v["incident"]["last_seen"] = OLD.into();
    });
    edit_json(&state.join("history/52.1.json"), |v| {
        v["resolved_at"] = OLD.into();
    });
    let seqs = |key: &str| -> Vec<u64> {
        std::fs::read_to_string(state.join(format!("events/{key}.jsonl")))
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    };
    assert!(seqs("52").contains(&1) && seqs("52").contains(&2));

    plugin(&cfg);
    assert_eq!(dir.files("incidents"), ["51.json", "52.json"]);
    assert!(
        dir.files("history").is_empty(),
        "{:?}",
        dir.files("history")
    );
    assert!(!state.join("events/50.jsonl").exists());
    assert!(
        !seqs("52").is_empty() && seqs("52").iter().all(|s| *s == 2),
        "{:?}",
        seqs("52")
    );
    assert!(
        dir.log()
            .contains("housekeeping: removed closed incident 50"),
        "{}",
        dir.log()
    );
}

// ----- the real Pandora agent -------------------------------------------------------------

fn agent_plugin_line(cfg: &Path) -> String {
    format!("module_plugin {BIN} --config {} plugin", cfg.display())
}

fn check_data_file(path: &Path) -> (std::collections::BTreeMap<String, String>, Vec<Parsed>) {
    let bytes = std::fs::read(path).unwrap();
    let parsed = parse_document(&bytes).unwrap_or_else(|e| {
        panic!(
            "{} is not well-formed: {e}\n{}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    });
    if let Some(verdict) = expat_accepts(path) {
        verdict.unwrap_or_else(|e| panic!("expat refuses {}: {e}", path.display()));
    }
    parsed
}

#[test]
#[ignore = "needs the real Pandora agent (tests/harness/pandora-agent.sh): run by tests/run.sh"]
fn real_agent_data_file_is_well_formed_and_carries_our_modules() {
    let (dir, ilert) = (TestDir::new("plugin-agent"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "alert_deadline = 0",
        &format!("heartbeat_key = \"{HEARTBEAT_KEY}\""),
        "",
    );
    queue_alert(&cfg, "45");
    let data = real_agent_run(
        &dir.join("agent"),
        &[
            agent_plugin_line(&cfg),
            "module_begin\nmodule_name agent own\nmodule_type generic_data\nmodule_exec echo 7\nmodule_end"
                .to_string(),
        ],
    );
    let (root, ms) = check_data_file(&data);
    assert_eq!(
        root.get("agent_name").map(String::as_str),
        Some("pandora-ilert-test")
    );
    check_types(&ms);
    let own = ms
        .iter()
        .find(|m| m.name() == "agent own")
        .expect("the agent's own module");
    assert_eq!(own.data(), "7");
    assert_eq!(ilert.events(), [("ALERT".to_string(), "45".to_string())]);
    assert_eq!(ilert.heartbeats().len(), 1);
    assert_eq!(module(&ms, "queued events").data(), "0");
    assert_eq!(module(&ms, "ilert reachable").data(), "1");
    assert_eq!(module(&ms, "heartbeat").kind(), "generic_proc");
    assert_eq!(module(&ms, "open incidents").data(), "1");
    assert_eq!(module(&ms, "data_in backlog").data(), "0");
    assert!(module(&ms, "run time").number() < 5000.0);
}

#[test]
#[ignore = "needs the real Pandora agent (tests/harness/pandora-agent.sh): run by tests/run.sh"]
fn real_agent_data_file_stays_well_formed_with_hostile_store_strings() {
    let (dir, ilert) = (TestDir::new("plugin-agent-hostile"), FakeIlert::start());
    let cfg = hostile_setup(&dir, &ilert);
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/agent/broken_cdata.data"
        ),
        dir.join("data_in/evil]]>\u{1}.1795000100.data_BADXML"),
    )
    .unwrap();
    let data = real_agent_run(&dir.join("agent"), &[agent_plugin_line(&cfg)]);
    let (_, ms) = check_data_file(&data);
    check_types(&ms);
    let names: Vec<&str> = ms.iter().map(Parsed::name).collect();
    assert!(names.contains(&"pi]]><x>& open incidents"), "{names:?}");
    let last = ms
        .iter()
        .find(|m| m.name() == "pi]]><x>& data_in last rejected")
        .unwrap();
    assert!(
        last.data()
            .starts_with("evil]]>.1795000100.data_BADXML (agent pandora-ilert-test)"),
        "{}",
        last.data()
    );
}

#[test]
#[ignore = "needs the real Pandora agent (tests/harness/pandora-agent.sh): run by tests/run.sh"]
fn real_agent_keeps_the_modules_when_the_config_is_broken() {
    let dir = TestDir::new("plugin-agent-badconfig");
    let cfg = dir.config(
        "[[route]]\nname = \"default\"\nilert_key = \"k\"\n[plugin]\ndeadline = \"soon\"\n",
    );
    let data = real_agent_run(&dir.join("agent"), &[agent_plugin_line(&cfg)]);
    let (_, ms) = check_data_file(&data);
    let m = module(&ms, "config");
    assert_eq!((m.data(), m.status()), ("0", Some("CRITICAL")));
    assert!(m.get("description").unwrap().contains("deadline"), "{m:?}");
}

// ----- the pass over every record, a slice per run ----------------------------------------

/// A store of 3,101 incidents: 701 open (100 of them lost their `open/` marker, as in a power
/// cut) and 2,400 closed long ago (10 with a stale marker, as after a crash between a
/// recovery and the marker's removal). One of each kind goes through the binary; the rest
/// are its records with only the alert id changed (as bench.py's `fill_cloned` does).
fn sliced_store(name: &str) -> (TestDir, FakeIlert, PathBuf) {
    let (dir, ilert) = (TestDir::new(name), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "prune_after = \"1d\"");
    dir.assert_ok(&PandoraAlert::firing("500000").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("600000").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("600000").run(&cfg));
    let state = dir.state();
    edit_json(&state.join("incidents/600000.json"), |v| {
        v["incident"]["resolved_at"] = OLD.into();
        v["incident"]["last_seen"] = OLD.into();
    });
    let open_marker = dir.files("open").pop().unwrap();
    let opened = open_marker.split('.').next().unwrap().to_string();
    let open = std::fs::read_to_string(state.join("incidents/500000.json")).unwrap();
    let closed = std::fs::read_to_string(state.join("incidents/600000.json")).unwrap();
    for n in 1..=700 {
        let id = 500_000 + n;
        let text = open.replace("\"500000\"", &format!("\"{id}\""));
        std::fs::write(state.join(format!("incidents/{id}.json")), text).unwrap();
        if n > 100 {
            std::fs::write(state.join(format!("open/{opened}.{id}")), b"").unwrap();
        }
    }
    for n in 1..=2399 {
        let id = 600_000 + n;
        let text = closed.replace("\"600000\"", &format!("\"{id}\""));
        std::fs::write(state.join(format!("incidents/{id}.json")), text).unwrap();
        if n <= 10 {
            std::fs::write(state.join(format!("open/{opened}.{id}")), b"").unwrap();
        }
    }
    (dir, ilert, cfg)
}

/// The open ids the `open/` markers name, sorted.
fn marked_open(dir: &TestDir) -> Vec<u64> {
    let mut v: Vec<u64> = dir
        .files("open")
        .iter()
        .filter_map(|m| m.split('.').nth(1)?.parse().ok())
        .collect();
    v.sort_unstable();
    v
}

fn closed_left(dir: &TestDir) -> usize {
    dir.files("incidents")
        .iter()
        .filter(|f| f.starts_with('6'))
        .count()
}

fn prune_cursor(dir: &TestDir) -> String {
    std::fs::read_to_string(dir.state().join("meta/last-prune-scan")).unwrap_or_default()
}

/// Runs the plugin until the housekeeping cycle is complete; returns the runs it took and
/// checks that no run removed more than a slice's worth of records.
fn run_cycle(dir: &TestDir, cfg: &Path) -> usize {
    let mut runs = 0;
    loop {
        let before = closed_left(dir);
        plugin(cfg);
        runs += 1;
        let removed = before - closed_left(dir);
        assert!(removed <= 1000, "run {runs} removed {removed} records");
        if !prune_cursor(dir).contains(" next ") {
            return runs;
        }
        assert!(runs < 20, "the cycle does not end: {}", prune_cursor(dir));
    }
}

/// Issue 12: with a chat platform configured, archiving and housekeeping both go over every
/// record; they share one list of the record files per cycle (one listing of `incidents/`,
/// one list read per run), each with its own cursor, and the list goes when both are done.
#[test]
fn archiving_and_housekeeping_share_one_cycle_list() {
    let (dir, ilert, _) = sliced_store("plugin-shared-cycle");
    let slack = support::slack::FakeSlack::start();
    let cfg = ConfigBuilder::new(&ilert)
        .slack(&slack)
        .plugin("prune_after = \"1d\"")
        .write(&dir);
    let meta = dir.state().join("meta");
    let cursor = |what: &str| {
        std::fs::read_to_string(meta.join(format!("last-{what}-scan"))).unwrap_or_default()
    };
    // A list each pass kept before they shared one is removed when a list is written.
    std::fs::write(
        meta.join("prune-cycle"),
        "pandora-ilert record files 2026-01-01T00:00:00.000Z\nend 0\n",
    )
    .unwrap();
    plugin(&cfg);
    let (prune, archive) = (cursor("prune"), cursor("archive"));
    assert!(prune.ends_with(" next 0 of 4096"), "{prune}");
    assert_eq!(prune, archive, "both passes are in one cycle");
    let started = prune.split(' ').next().unwrap().to_string();
    let list = std::fs::read_to_string(meta.join("records-cycle")).unwrap();
    assert_eq!(
        list.lines().next(),
        Some(format!("pandora-ilert record files {started}").as_str())
    );
    assert!(!meta.join("prune-cycle").exists());
    assert!(!meta.join("archive-cycle").exists());
    let mut runs = 1;
    while cursor("prune").contains(" next ") || cursor("archive").contains(" next ") {
        assert!(
            meta.join("records-cycle").exists(),
            "a pass still needs the list"
        );
        plugin(&cfg);
        runs += 1;
        assert!(runs < 20, "the cycle does not end: {}", cursor("prune"));
    }
    assert_eq!(cursor("prune"), started);
    assert_eq!(cursor("archive"), started);
    // Each slice's records were read once for both passes.
    let shared = dir
        .log()
        .matches("archiving and housekeeping read buckets")
        .count();
    assert_eq!(shared, runs - 1, "{}", dir.log());
    assert!(
        !meta.join("records-cycle").exists(),
        "the list goes with its cycle"
    );
    assert_eq!(closed_left(&dir), 0);
}

/// Issue 12: the plugin's housekeeping reads about 1,000 records per run, and one cycle of
/// runs visits every record: every old closed record is pruned, every lost marker put
/// back and every stale one removed; then no run reads records until the next hour.
#[test]
fn housekeeping_goes_a_slice_per_run_and_one_cycle_covers_every_record() {
    let (dir, _ilert, cfg) = sliced_store("plugin-slices");
    let expected: Vec<u64> = (500_000..=500_700).collect();
    assert_eq!(closed_left(&dir), 2400);
    assert_ne!(marked_open(&dir), expected);
    // Temporary files a killed process left two hours ago, and one being written now.
    let state = dir.state();
    let old_temps = [
        state.join("incidents/.tmp-1-0-600001.json"),
        state.join("events/.tmp-1-0-600001.jsonl"),
    ];
    for t in &old_temps {
        std::fs::write(t, b"{").unwrap();
        set_mtime(t, Duration::from_secs(7200));
    }
    let fresh_temp = state.join("incidents/.tmp-2-0-600002.json");
    std::fs::write(&fresh_temp, b"{").unwrap();

    // The first run lists the record files for the cycle, and reads none.
    plugin(&cfg);
    assert!(!old_temps[0].exists(), "swept by the cycle's listing");
    let cursor = prune_cursor(&dir);
    assert!(cursor.ends_with(" next 0 of 4096"), "{cursor}");
    assert!(state.join("meta/records-cycle").exists());
    assert_eq!(closed_left(&dir), 2400);

    plugin(&cfg);
    let left = closed_left(&dir);
    assert!(
        (1400..2400).contains(&left),
        "the second run pruned one slice: {left} left"
    );
    assert_ne!(marked_open(&dir), expected, "not every marker in one run");

    let runs = 2 + run_cycle(&dir, &cfg);
    assert!((4..=7).contains(&runs), "{runs} runs for 3,101 records");
    assert_eq!(closed_left(&dir), 0);
    assert!(
        !state.join("meta/records-cycle").exists(),
        "the list goes with its cycle"
    );
    assert_eq!(marked_open(&dir), expected);
    assert!(dir.files("quarantine").is_empty());
    assert!(
        !old_temps[1].exists(),
        "every directory is swept once a cycle"
    );
    assert!(
        fresh_temp.exists(),
        "a file being written now is left alone"
    );
    let done = prune_cursor(&dir);
    let (ms, _) = plugin(&cfg);
    assert_eq!(module(&ms, "open incidents").data(), "701");
    assert_eq!(
        prune_cursor(&dir),
        done,
        "the next cycle starts an hour later"
    );
    let removed = dir
        .log()
        .matches("housekeeping: removed closed incident")
        .count();
    assert_eq!(removed, 2400, "each record pruned once");
}

/// A plugin run killed in the middle of a slice (here after some of its records were
/// removed) leaves a store the next runs finish: the slice is read again, and the cycle
/// ends with the same store as an uninterrupted one.
#[test]
fn a_run_killed_mid_slice_is_finished_by_the_next_runs() {
    let (dir, _ilert, cfg) = sliced_store("plugin-slice-kill");
    // Where the second run's store writes go (the trace of an identical store); the first
    // lists the records for the cycle.
    let (twin, _twin_ilert, twin_cfg) = sliced_store("plugin-slice-kill-twin");
    plugin(&cfg);
    plugin(&twin_cfg);
    let listed = prune_cursor(&dir);
    assert!(listed.ends_with(" next 0 of 4096"), "{listed}");
    let trace = twin.join("trace");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&twin_cfg)
        .arg("plugin")
        .env("PANDORA_ILERT_FAULT_TRACE", &trace)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0);
    let removals: Vec<usize> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .filter(|l| l.contains("incidents/6"))
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert!(removals.len() > 100, "{} removals", removals.len());
    let kill_at = removals[removals.len() / 2];
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .arg("plugin")
        .env("PANDORA_ILERT_FAULT", format!("{kill_at}:kill"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    assert_eq!(
        prune_cursor(&dir),
        listed,
        "the cursor does not pass a slice that was not finished"
    );
    let left = closed_left(&dir);
    assert!(left < 2400, "{left}");
    // And a power cut cut the cycle's list short (it is written without fsync): the next
    // run starts a new cycle.
    let list = dir.state().join("meta/records-cycle");
    let text = std::fs::read_to_string(&list).unwrap();
    std::fs::write(&list, &text[..text.len() / 2]).unwrap();
    plugin(&cfg);
    let restarted = prune_cursor(&dir);
    assert!(
        restarted.ends_with(" next 0 of 4096") && restarted != listed,
        "{restarted}"
    );
    assert!(
        dir.log()
            .contains("list of record files is missing or damaged"),
        "{}",
        dir.log()
    );

    run_cycle(&dir, &cfg);
    assert_eq!(closed_left(&dir), 0);
    assert_eq!(marked_open(&dir), (500_000..=500_700).collect::<Vec<_>>());
    assert!(dir.files("quarantine").is_empty());
    let (ms, _) = plugin(&cfg);
    assert_eq!(module(&ms, "open incidents").data(), "701");
}

/// Issue 12: the plugin lists `open/` once and keeps only the oldest few markers (and a few
/// spare); when more of the oldest than that are stale (crashes between recoveries and
/// their markers' removal, not yet repaired), the report reads on through the whole index
/// and still shows the oldest open incidents.
#[test]
fn the_oldest_open_incidents_are_shown_past_many_stale_markers() {
    let (dir, ilert) = (TestDir::new("plugin-stale-head"), FakeIlert::start());
    let cfg = config(&dir, &ilert, "", "", "");
    for id in ["801", "802", "803"] {
        dir.assert_ok(&PandoraAlert::firing(id).run(&cfg));
    }
    // The first run's housekeeping cycle: the next is an hour away.
    plugin(&cfg);
    assert!(!prune_cursor(&dir).is_empty());
    for n in 0..20 {
        let marker = dir.state().join(format!("open/{:013}.9{n:02}", n + 1));
        std::fs::write(marker, b"").unwrap();
    }
    let (ms, _) = plugin(&cfg);
    let open = module(&ms, "open incidents");
    assert_eq!(open.data(), "23", "stale markers count until repaired");
    let shown = open.get("description").unwrap_or_default();
    assert_eq!(
        shown.matches("web-01 / CPU Load (open").count(),
        3,
        "{shown}"
    );
}
