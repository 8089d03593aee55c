//! ilert as it really is (issue 13): the rate limit per alert-source key, paced on our side and
//! shared by concurrent processes; the order a backlog goes out in; `status` showing the pacing.
//! The fake ilert refuses beyond its limit with 429 and no `Retry-After`, as ilert documents.

mod support;

use std::time::{Duration, Instant};

use support::ilert::{FakeIlert, Mode, API_TOKEN, KEY, SOURCE_ID};
use support::slack::FakeSlack;
use support::slack::BOT_USER;
use support::{code, plugin, run, stderr, stdout, ConfigBuilder, PandoraAlert, TestDir};

/// Our budget: 40 events a second. The fake allows 50 a second: the margin covers the time a
/// request spends between our clock and the fake's (ilert's real windows are a minute long).
const OUR_RATE: &str = "40/1s";
const FAKE_LIMIT: u32 = 50;

fn config(dir: &TestDir, ilert: &FakeIlert) -> std::path::PathBuf {
    config_with(dir, ilert, OUR_RATE, FAKE_LIMIT)
}

fn config_with(dir: &TestDir, ilert: &FakeIlert, ours: &str, fake: u32) -> std::path::PathBuf {
    ilert.set_events_limit(fake, Duration::from_secs(1));
    ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"4s\"")
        .set("flush_deadline", "\"60s\"")
        .ilert(&format!("rate_limit = \"{ours}\""))
        .write(dir)
}

fn flush(cfg: &std::path::Path) {
    let out = run(cfg, &["flush"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

#[test]
fn alert_storm_from_concurrent_processes_stays_under_ilerts_limit() {
    let (dir, ilert) = (TestDir::new("ilert-storm"), FakeIlert::start());
    // Tighter than the machine's own pace: 40 processes at once would exceed it unpaced.
    let cfg = config_with(&dir, &ilert, "25/1s", 30);
    let started = Instant::now();
    for batch in 0..5 {
        let children: Vec<_> = (0..40)
            .map(|n| PandoraAlert::firing(&format!("{}", 5000 + batch * 40 + n)).spawn(&cfg))
            .collect();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(
                matches!(out.status.code(), Some(0 | 69)),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&run(&cfg, &["status", "--json"]))).unwrap();
    for q in report["queued"].as_array().unwrap() {
        let refused = q["last_error"].as_str().is_some_and(|e| e.contains("429"));
        assert!(
            q["attempts"] == 0 || refused,
            "waiting for a slot is not a failed attempt: {q}"
        );
    }
    // A process descheduled between taking its slot and sending (a loaded test machine) can
    // land in the fake's next one-second window; ilert's minute makes that moot. Tolerate a
    // stray refusal, never a storm of them; each holds the key 10-30 s, so flush until done.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = run(&cfg, &["flush"]);
        match code(&out) {
            0 => break,
            69 if Instant::now() < deadline => std::thread::sleep(Duration::from_secs(2)),
            _ => panic!("{}", stderr(&out)),
        }
    }
    let elapsed = started.elapsed();
    let refused = ilert.rate_limited();
    assert!(refused <= 3, "ilert had to refuse {refused} requests");
    let mut keys: Vec<String> = ilert
        .accepted()
        .iter()
        .map(|e| e["alertKey"].to_string())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 200, "every alert reached ilert once");
    assert_eq!(
        ilert.received().len() as u32,
        200 + refused,
        "each alert sent once, plus the refused attempts"
    );
    assert!(
        elapsed >= Duration::from_secs(7),
        "200 events at 25 a second take at least 7 s, took {elapsed:?}"
    );
}

#[test]
fn backlog_goes_out_paced_with_resolves_and_high_alerts_first() {
    let (dir, ilert) = (TestDir::new("ilert-backlog"), FakeIlert::start());
    let cfg = config(&dir, &ilert);
    // Ten incidents paged while ilert was fine.
    for n in 0..10 {
        let out = PandoraAlert::firing(&format!("{}", 1000 + n))
            .set("--severity", "Warning")
            .run(&cfg);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
    }
    // ilert fails; a storm of 190 new alerts (every fifth Critical) and the ten recoveries queue.
    ilert.set_mode(Mode::Fail(500));
    for n in 0..190 {
        let severity = if n % 5 == 0 { "Critical" } else { "Warning" };
        let out = PandoraAlert::firing(&format!("{}", 2000 + n))
            .set("--severity", severity)
            .run(&cfg);
        assert_eq!(code(&out), 69, "{}", stderr(&out));
    }
    for n in 0..10 {
        let out = PandoraAlert::recovery(&format!("{}", 1000 + n)).run(&cfg);
        assert_eq!(code(&out), 69, "{}", stderr(&out));
    }
    let status = run(&cfg, &["status", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(report["queued"].as_array().unwrap().len(), 200);

    ilert.set_mode(Mode::Accept);
    let before = ilert.received().len();
    let started = Instant::now();
    flush(&cfg);
    let elapsed = started.elapsed();
    assert_eq!(ilert.rate_limited(), 0, "ilert had to refuse requests");
    let sent: Vec<serde_json::Value> = ilert.received()[before..].to_vec();
    assert_eq!(sent.len(), 200);
    assert!(
        elapsed >= Duration::from_secs(4),
        "200 events at 40 a second take at least 4 s, took {elapsed:?}"
    );
    let urgent = |e: &serde_json::Value| e["eventType"] == "RESOLVE" || e["priority"] == "HIGH";
    let first_low = sent.iter().position(|e| !urgent(e)).unwrap();
    assert_eq!(
        first_low,
        10 + 38,
        "10 RESOLVEs and 38 HIGH ALERTs go first"
    );
    assert!(
        sent[first_low..].iter().all(|e| !urgent(e)),
        "an urgent event went after a low one"
    );
    assert!(sent[first_low..].iter().all(|e| e["eventType"] == "ALERT"));

    // status shows the pacing, in text and JSON.
    let text = stdout(&run(&cfg, &["status"]));
    assert!(
        text.contains("ilert pacing, source default:")
            && text.contains("of 40 events in the last 1s"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&run(&cfg, &["status", "--json"]))).unwrap();
    assert_eq!(report["pacing"][0]["source"], "default");
    assert_eq!(report["pacing"][0]["limit"], 40);
}

#[test]
fn a_429_without_retry_after_holds_the_key_ten_to_thirty_seconds() {
    let (dir, ilert) = (TestDir::new("ilert-429"), FakeIlert::start());
    let cfg = config(&dir, &ilert);
    // ilert counts requests from elsewhere too: its window is already full.
    ilert.set_events_limit(0, Duration::from_secs(3600));
    let out = PandoraAlert::firing("7001").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert_eq!(ilert.rate_limited(), 1);
    // Another alert is queued without a send; the scheduled run must not ask ilert again.
    let cfg = dir.config(&format!(
        "alert_deadline = 0\nrequest_timeout = \"2s\"\n[plugin]\ndata_in = \"\"\n\
         [ilert]\napi_url = \"{}\"\nrate_limit = \"{OUR_RATE}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\n",
        ilert.url()
    ));
    let out = PandoraAlert::firing("7002").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    let before = ilert.received().len();
    let out = run(&cfg, &["plugin"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        ilert.received().len(),
        before,
        "the plugin run holds the key after ilert's 429"
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&run(&cfg, &["status", "--json"]))).unwrap();
    assert_eq!(report["pacing"][0]["rate_limited"], true, "{report}");
    assert_eq!(report["queued"].as_array().unwrap().len(), 2);
    let text = stdout(&run(&cfg, &["status"]));
    let secs: u64 = text
        .split("ilert answered 429, holding back until ")
        .nth(1)
        .and_then(|s| s.split(" (").nth(1))
        .and_then(|s| s.split("s from now").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no hold in {text}"));
    assert!((8..=30).contains(&secs), "10-30 s from the 429: {secs}s");
    // An operator's flush keeps to the budget only and asks now.
    assert_eq!(code(&run(&cfg, &["flush"])), 69);
    assert!(ilert.rate_limited() > 1, "flush tried again");
}

fn rest_config(dir: &TestDir, ilert: &FakeIlert, slack: &FakeSlack) -> std::path::PathBuf {
    config_with_token(dir, ilert, slack, Some(API_TOKEN))
}

fn config_with_token(
    dir: &TestDir,
    ilert: &FakeIlert,
    slack: &FakeSlack,
    token: Option<&str>,
) -> std::path::PathBuf {
    let token = token
        .map(|t| format!("api_token = \"{t}\"\n"))
        .unwrap_or_default();
    ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"6s\"")
        .plugin("data_in = \"\"\ndeadline = \"15s\"")
        .ilert(&format!("{token}web_url = \"https://acme.ilert.example\""))
        .slack(slack)
        .route("invite = [\"U0ANA\"]")
        .write(dir)
}

fn lines(slack: &FakeSlack, channel: &str, text: &str) -> usize {
    let ch = slack.channel(channel).expect("channel");
    ch.messages.iter().filter(|m| m.text.contains(text)).count()
}

#[test]
fn the_ilert_alert_is_linked_and_its_acknowledgement_mirrored_once() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-mirror"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    dir.assert_ok(&PandoraAlert::firing("6001").run(&cfg));
    plugin(&cfg);
    let id = ilert.alerts()[0].id;
    let record = dir.record("6001");
    assert_eq!(record["ilert_mirror"]["id"], id);
    let link = format!("https://acme.ilert.example/alert/view?id={id}");
    assert_eq!(record["ilert_alert"], link.as_str());
    let pinned = slack.channel("pandorafms_alert_6001").unwrap();
    let pinned = pinned.pinned()[0];
    assert!(
        pinned.blocks.to_string().contains(&link) || pinned.text.contains(&link),
        "the pinned message links the ilert alert: {}",
        pinned.blocks
    );
    assert!(
        ilert.rest_calls().iter().any(|(m, p)| m == "GET"
            && p.contains(&format!("sources={SOURCE_ID}"))
            && p.contains("states=PENDING&states=ACCEPTED")
            && p.contains("max-results=100")),
        "{:?}",
        ilert.rest_calls()
    );

    ilert.accept_as("6001", "Jane", "Doe");
    plugin(&cfg);
    plugin(&cfg);
    let line = "Acknowledged in ilert by Jane Doe.";
    assert_eq!(
        lines(&slack, "pandorafms_alert_6001", line),
        1,
        "one line per change"
    );
    let ch = slack.channel("pandorafms_alert_6001").unwrap();
    let pinned = ch.pinned()[0].blocks.to_string();
    assert!(
        pinned.contains(&format!("alert {id} acknowledged by Jane Doe")),
        "the pinned message shows ilert's state: {pinned}"
    );
    let lookups = ilert
        .rest_calls()
        .iter()
        .filter(|(_, p)| p.starts_with("/api/alert-sources/"))
        .count();
    assert_eq!(
        lookups, 1,
        "the alert source id is looked up once and cached"
    );
}

#[test]
fn chat_ack_accepts_the_ilert_alert_by_id_and_is_not_echoed_back() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-ack-by-id"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    dir.assert_ok(&PandoraAlert::firing("6002").run(&cfg));
    plugin(&cfg);
    let id = ilert.alerts()[0].id;
    let ch = slack.channel("pandorafms_alert_6002").unwrap();
    slack.add_message(&ch.id, "U0ANA", "!ack on it");
    plugin(&cfg);
    plugin(&cfg);
    assert!(
        ilert
            .rest_calls()
            .contains(&("PUT".to_string(), format!("/api/alerts/{id}/accept?"))),
        "{:?}",
        ilert.rest_calls()
    );
    assert!(
        ilert.events().iter().all(|(t, _)| t != "ACCEPT"),
        "no ACCEPT event when the alert was accepted by id"
    );
    assert_eq!(ilert.alerts()[0].status, "ACCEPTED");
    assert_eq!(
        lines(
            &slack,
            "pandorafms_alert_6002",
            "Acknowledged in ilert by API User"
        ),
        0,
        "our own change is not echoed back"
    );
    assert_eq!(
        lines(&slack, "pandorafms_alert_6002", "Responders in ilert"),
        0,
        "accepting made the API user a responder: our own change, not echoed back"
    );
}

#[test]
fn chat_resolve_resolves_the_ilert_alert_by_id_and_stakeholder_lines_link_it() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-resolve-by-id"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let stake = slack.add_channel("ops-updates", "", "UADMIN001", false, false);
    let cfg = ConfigBuilder::new(&ilert)
        .set("alert_deadline", "\"6s\"")
        .plugin("data_in = \"\"\ndeadline = \"15s\"")
        .ilert(&format!(
            "api_token = \"{API_TOKEN}\"\nweb_url = \"https://acme.ilert.example\""
        ))
        .slack(&slack)
        .route(&format!(
            "invite = [\"U0ANA\"]\nstakeholder_channel = \"{stake}\""
        ))
        .write(&dir);
    dir.assert_ok(&PandoraAlert::firing("6004").run(&cfg));
    let id = ilert.alerts()[0].id;
    let link = format!("https://acme.ilert.example/alert/view?id={id}");
    let ch = slack.channel("pandorafms_alert_6004").unwrap();
    slack.add_message(&ch.id, "U0ANA", "!resolve disk freed");
    plugin(&cfg);
    plugin(&cfg);
    assert!(
        ilert
            .rest_calls()
            .contains(&("PUT".to_string(), format!("/api/alerts/{id}/resolve?"))),
        "{:?}",
        ilert.rest_calls()
    );
    assert!(
        ilert.events().iter().all(|(t, _)| t != "RESOLVE"),
        "no RESOLVE event when the alert was resolved by id: {:?}",
        ilert.events()
    );
    assert_eq!(ilert.alerts()[0].status, "RESOLVED");
    // The stakeholder line names the ilert alert (issue 13: "the stakeholder lines").
    let stake_lines: Vec<String> = slack
        .channel("ops-updates")
        .unwrap()
        .messages
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert!(!stake_lines.is_empty(), "no stakeholder line");
    for l in &stake_lines {
        assert!(l.contains(&format!("ilert: {link}")), "{l}");
    }
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn doctor_reads_the_alert_source_and_warns_when_its_settings_defeat_the_routes() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-doctor"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    let good = stdout(&run(&cfg, &["doctor"]));
    assert!(
        good.contains(
            "ilert alert source 'default' (Pandora FMS): no grouping, event priorities honoured"
        ),
        "{good}"
    );
    ilert.set_source("INTELLIGENT_GROUPING", "LOW_DURING_SUPPORT_HOURS");
    let bad = stdout(&run(&cfg, &["doctor"]));
    assert!(
        bad.contains("groups alerts (INTELLIGENT_GROUPING)"),
        "{bad}"
    );
    assert!(
        bad.contains("default priority LOW_DURING_SUPPORT_HOURS"),
        "{bad}"
    );
    assert!(
        !bad.contains(API_TOKEN) && !bad.contains(KEY),
        "secrets in the output: {bad}"
    );

    // Without a token the advice is still given.
    let plain = dir.config(&format!(
        "[ilert]\napi_url = \"{}\"\n[[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\n",
        ilert.url()
    ));
    let advice = stdout(&run(&plain, &["doctor"]));
    assert!(
        advice.contains("Do not group alerts") && advice.contains("default priority to HIGH"),
        "{advice}"
    );
}

#[test]
fn watch_mirrors_an_acknowledgement_made_in_ilert() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-watch"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    dir.assert_ok(&PandoraAlert::firing("6003").run(&cfg));
    plugin(&cfg);
    ilert.accept_as("6003", "Jane", "Doe");
    let mut watch = support::spawn_watch(&cfg, 1);
    let started = std::time::Instant::now();
    let line = "Acknowledged in ilert by Jane Doe.";
    while lines(&slack, "pandorafms_alert_6003", line) == 0
        && started.elapsed() < std::time::Duration::from_secs(10)
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &watch.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert_eq!(watch.wait().unwrap().code(), Some(0));
    assert_eq!(lines(&slack, "pandorafms_alert_6003", line), 1);
    // The ack made in ilert shows in the topic too.
    let ch = slack.channel("pandorafms_alert_6003").unwrap();
    let link = dir.record("6003")["ilert_alert"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ch.topic,
        format!("ACKNOWLEDGED by Jane Doe - web-01 / CPU Load - ilert: {link}"),
        "the topic links the ilert alert where it fits"
    );
}

/// The bot's messages in a channel (the state lines, the pinned card, answers).
fn bot_messages(slack: &FakeSlack, channel: &str) -> usize {
    let ch = slack.channel(channel).expect("channel");
    ch.messages.iter().filter(|m| m.user == BOT_USER).count()
}

#[test]
fn an_escalation_and_an_acknowledgement_in_ilert_reach_the_channel_once_each() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-escalation"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    dir.assert_ok(&PandoraAlert::firing("6201").run(&cfg));
    let channel = "pandorafms_alert_6201";
    let ch = slack.channel(channel).unwrap();
    let card = ch.pinned()[0].blocks.to_string();
    assert!(
        card.contains("responders: Jane Doe"),
        "the first card names ilert's responders: {card}"
    );

    // A second incident on the same alert source.
    dir.assert_ok(&PandoraAlert::firing("6202").run(&cfg));

    // ilert escalates to its second rule: Max Muster is paged too.
    ilert.escalate("6201", "Max", "Muster");
    let calls = ilert.rest_calls().len();
    plugin(&cfg);
    let pass: Vec<(String, String)> = ilert.rest_calls()[calls..].to_vec();
    assert_eq!(
        pass.len(),
        1,
        "one listing of the source serves both incidents: {pass:?}"
    );
    assert!(pass[0].1.starts_with("/api/alerts?"), "{pass:?}");
    plugin(&cfg);
    assert_eq!(lines(&slack, channel, "Escalated in ilert to level 2."), 1);
    assert_eq!(
        lines(
            &slack,
            channel,
            "Responders in ilert: Jane Doe, Max Muster."
        ),
        1
    );
    let ch = slack.channel(channel).unwrap();
    let link = dir.record("6201")["ilert_alert"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        ch.topic,
        format!("ESCALATED to level 2 - web-01 / CPU Load - ilert: {link}")
    );
    let card = ch.pinned()[0].blocks.to_string();
    assert!(
        card.contains("pending, escalation level 2; responders: Jane Doe, Max Muster"),
        "the pinned card shows the escalation in place: {card}"
    );
    assert_eq!(ch.pinned().len(), 1, "updated in place, not pinned anew");

    // Max accepts in the ilert app: one line, the acknowledgement.
    ilert.accept_as("6201", "Max", "Muster");
    plugin(&cfg);
    let told = bot_messages(&slack, channel);
    plugin(&cfg);
    plugin(&cfg);
    assert_eq!(
        bot_messages(&slack, channel),
        told,
        "passes with no change in ilert post nothing"
    );
    assert_eq!(
        lines(&slack, channel, "Acknowledged in ilert by Max Muster."),
        1
    );
    assert_eq!(
        lines(&slack, channel, "Responders in ilert"),
        1,
        "accepting is told by the acknowledgement alone"
    );
    let ch = slack.channel(channel).unwrap();
    assert_eq!(
        ch.topic,
        format!("ACKNOWLEDGED by Max Muster - web-01 / CPU Load - ilert: {link}")
    );
    let card = ch.pinned()[0].blocks.to_string();
    assert!(
        card.contains("acknowledged by Max Muster; responders: Jane Doe, Max Muster"),
        "{card}"
    );
    let record = dir.record("6201");
    assert_eq!(record["ilert_mirror"]["level"], 2);
    assert_eq!(record["ilert_mirror"]["status"], "ACCEPTED");

    // Pandora recovers: our RESOLVE resolves the alert in ilert, which is not told back.
    dir.assert_ok(&PandoraAlert::recovery("6201").run(&cfg));
    plugin(&cfg);
    plugin(&cfg);
    assert_eq!(ilert.alerts()[0].status, "RESOLVED");
    assert_eq!(dir.record("6201")["ilert_mirror"]["status"], "RESOLVED");
    assert_eq!(
        lines(&slack, channel, "Resolved in ilert"),
        0,
        "our own RESOLVE is not echoed back"
    );
}

#[test]
fn the_alert_command_links_the_ilert_alert_on_the_first_chat_card() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-link-at-once"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    dir.assert_ok(&PandoraAlert::firing("6301").run(&cfg));
    let id = ilert.alerts()[0].id;
    let record = dir.record("6301");
    let link = format!("https://acme.ilert.example/alert/view?id={id}");
    assert_eq!(record["ilert_alert"], link.as_str(), "no plugin run needed");
    assert_eq!(record["ilert_mirror"]["id"], id);
    let ch = slack.channel("pandorafms_alert_6301").unwrap();
    let card = ch.pinned()[0];
    assert!(card.blocks.to_string().contains(&link), "{}", card.blocks);
    assert_eq!(
        card.edits, 0,
        "the first card carries the link, no edit needed"
    );
    assert_eq!(ilert.list_calls(), 1, "listed at once: one look");
    let text = stdout(&run(&cfg, &["status"]));
    assert!(
        text.contains(
            "ilert pacing, REST API lookups by the alert command: 1 of 60 in the last 1m"
        ),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&run(&cfg, &["status", "--json"]))).unwrap();
    assert_eq!(report["rest_lookups"]["used"], 1, "{report}");
}

#[test]
fn the_ilert_alert_behind_a_page_of_others_is_found_on_the_next_page() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-paging"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    ilert.open_others(130);
    dir.assert_ok(&PandoraAlert::firing("6401").run(&cfg));
    let ours = ilert
        .alerts()
        .into_iter()
        .find(|a| a.alert_key == "6401")
        .expect("ilert opened our alert");
    assert_eq!(
        dir.record("6401")["ilert_alert"],
        format!("https://acme.ilert.example/alert/view?id={}", ours.id),
        "matched by alertKey on the second page"
    );
    let pages: Vec<String> = ilert
        .rest_calls()
        .into_iter()
        .filter(|(m, p)| m == "GET" && p.starts_with("/api/alerts?"))
        .map(|(_, p)| p)
        .collect();
    assert!(
        pages
            .iter()
            .any(|p| p.contains("start-index=0&max-results=100"))
            && pages
                .iter()
                .any(|p| p.contains("start-index=100&max-results=100")),
        "two pages of at most 100: {pages:?}"
    );
}

#[test]
fn an_alert_ilert_lists_late_is_found_on_a_second_look_or_by_the_next_pass() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-link-late"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    // Listed 0.3 s after the event: the second look, 0.5 s later, finds it.
    ilert.set_listed_after(Duration::from_millis(300));
    dir.assert_ok(&PandoraAlert::firing("6401").run(&cfg));
    assert_eq!(
        dir.record("6401")["ilert_mirror"]["id"],
        ilert.alerts()[0].id
    );
    assert_eq!(ilert.list_calls(), 2);

    // Listed 3 s after: two looks miss it, the command succeeds all the same, and the next
    // plugin pass finds it.
    ilert.set_listed_after(Duration::from_secs(3));
    let before = ilert.list_calls();
    let started = Instant::now();
    let out = PandoraAlert::firing("6402").run(&cfg);
    let took = started.elapsed();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    eprintln!("alert command, ilert alert not listed yet (two looks, 0.5 s apart): {took:?}");
    assert_eq!(ilert.list_calls() - before, 2, "at most two looks");
    assert!(dir.record("6402").get("ilert_mirror").is_none());
    let ch = slack.channel("pandorafms_alert_6402").unwrap();
    assert_eq!(ch.pinned().len(), 1, "the card went out without the link");
    // ilert lists it now (as it would 3 s later): no wall-clock wait.
    ilert.set_listed_after(Duration::ZERO);
    plugin(&cfg);
    let id = ilert.alerts()[1].id;
    assert_eq!(dir.record("6402")["ilert_mirror"]["id"], id);
    let card = slack.channel("pandorafms_alert_6402").unwrap().pinned()[0]
        .blocks
        .to_string();
    assert!(
        card.contains(&format!("alert/view?id={id}")),
        "the pass links it in place: {card}"
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn without_a_token_the_alert_command_makes_no_extra_request() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-no-token"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let plain = config_with_token(&dir, &ilert, &slack, None);
    let mut without = Vec::new();
    for n in 0..7 {
        let before = ilert.request_count();
        let started = Instant::now();
        dir.assert_ok(&PandoraAlert::firing(&format!("{}", 6500 + n)).run(&plain));
        without.push(started.elapsed());
        assert_eq!(
            ilert.request_count() - before,
            1,
            "the ALERT event and nothing else"
        );
    }
    assert!(ilert.rest_calls().is_empty(), "{:?}", ilert.rest_calls());

    // The cost of the lookup when ilert lists the alert at once (the same config and fakes
    // but for the token).
    let dir2 = TestDir::new("ilert-with-token");
    let cfg = rest_config(&dir2, &ilert, &slack);
    let mut with = Vec::new();
    for n in 0..7 {
        let started = Instant::now();
        dir2.assert_ok(&PandoraAlert::firing(&format!("{}", 6600 + n)).run(&cfg));
        with.push(started.elapsed());
    }
    let (without, with) = (median(without), median(with));
    eprintln!("alert command with Slack, median of 7: no token {without:?}, token and the alert found at once {with:?}");
    assert!(
        with < without + Duration::from_millis(1500),
        "the lookup is bounded: {with:?} vs {without:?}"
    );
}

/// The ilert sync reads the open incidents and those its last pass left to re-check, not every
/// closed record on every run: a closed record spoilt after a pass is left alone (read, it
/// would be quarantined) until the hourly pass that reads them all.
#[test]
fn the_ilert_sync_does_not_read_every_closed_record_on_every_run() {
    let (dir, ilert, slack) = (
        TestDir::new("ilert-sync-closed"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = rest_config(&dir, &ilert, &slack);
    dir.assert_ok(&PandoraAlert::firing("6301").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("6301").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("6302").run(&cfg));
    plugin(&cfg);
    plugin(&cfg);
    assert_eq!(
        dir.record("6302")["ilert_mirror"]["id"],
        ilert.alerts()[1].id
    );
    let closed = dir.state().join("incidents").join("6301.json");
    assert!(closed.exists());
    std::fs::write(&closed, b"{ not a record").unwrap();
    plugin(&cfg);
    assert!(
        closed.exists() && dir.files("quarantine").is_empty(),
        "the closed record was read: {:?}",
        dir.files("quarantine")
    );
    // Without the re-check list (lost, or an hour old) a pass reads every record once.
    std::fs::remove_file(dir.state().join("meta").join("ilert-recheck")).unwrap();
    plugin(&cfg);
    assert!(!closed.exists(), "read by the full pass and quarantined");
    assert_eq!(dir.files("quarantine").len(), 1);
}
