//! ChatOps through the whole incident (issue 6) against the fake Slack and fake ilert:
//! storm control, archiving, the post-mortem timeline, drills with a channel, incident reports
//! from an intake channel, and `!ack` / `!resolve` typed in an incident channel.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::ilert::{FakeIlert, Mode, KEY};
use support::slack::{FakeSlack, TOKEN};
use support::{code, plugin, run, stderr, stdout, ConfigBuilder, PandoraAlert, TestDir};

fn config(dir: &TestDir, ilert: &FakeIlert, slack: &FakeSlack, route: &str) -> PathBuf {
    ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"6s\"")
        .set("flush_deadline", "\"10s\"")
        .plugin("data_in = \"\"\ndeadline = \"15s\"")
        .slack(slack)
        .route(route)
        .write(dir)
}

/// Fires alert `id` of agent `host-<id>` in agent group `group`.
fn fire(cfg: &Path, id: &str, group: &str) {
    let alert = PandoraAlert::firing(id)
        .set("--group", group)
        .set("--agent", &format!("host-{id}"));
    support::fire(cfg, &alert);
}

#[test]
fn storm_summarises_new_incidents_in_one_channel_and_says_when_it_is_over() {
    let (dir, ilert, slack) = (
        TestDir::new("storm"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let stake = slack.add_channel("stakeholders", "", "U0ADMIN", false, false);
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        &format!(
            "storm_per_minute = 3\nstorm_quiet = \"5s\"\ninvite = [\"U0ANA\"]\nstakeholder_channel = \"{stake}\""
        ),
    );
    for (i, group) in [
        "Servers",
        "Servers",
        "Databases",
        "Databases",
        "Databases",
        "Servers",
    ]
    .iter()
    .enumerate()
    {
        fire(&cfg, &format!("{}", 100 + i), group);
    }
    // Every ilert event is still delivered.
    assert_eq!(
        ilert
            .accepted()
            .iter()
            .filter(|e| e["eventType"] == "ALERT")
            .count(),
        6
    );
    let names: Vec<String> = slack.channels().into_iter().map(|c| c.name).collect();
    let incident_channels = names
        .iter()
        .filter(|n| n.starts_with("pandorafms_alert_"))
        .count();
    assert_eq!(incident_channels, 3, "{names:?}");
    let storm = slack
        .channel("pandorafms_storm_default")
        .expect("storm channel");
    let pinned = storm.pinned();
    assert_eq!(pinned.len(), 1, "one summary, updated in place");
    let summary = &pinned[0].text;
    assert!(
        summary.contains("ALERT STORM on route 'default'") && summary.contains("3 new incident(s)"),
        "{summary}"
    );
    assert!(
        summary.contains("Databases: 2 open") && summary.contains("Servers: 1 open"),
        "{summary}"
    );
    assert!(summary.contains("host-105 / CPU Load"), "{summary}");
    assert!(
        storm.topic.starts_with("STORM - route default"),
        "{}",
        storm.topic
    );
    let status: Value = serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert_eq!(status["open_incidents"].as_array().unwrap().len(), 6);
    assert_eq!(status["storms"][0]["route"], "default");
    assert_eq!(status["storms"][0]["incidents"], 3);
    assert_eq!(status["storms"][0]["channel"], "pandorafms_storm_default");
    assert!(stdout(&run(&cfg, &["status"])).contains("ALERT STORM on route default"));

    // A storm incident recovers: the summary counts it, no channel of its own is created.
    let out = PandoraAlert::recovery("104")
        .set("--group", "Databases")
        .set("--agent", "host-104")
        .run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let storm = slack.channel("pandorafms_storm_default").unwrap();
    assert!(
        storm.pinned()[0]
            .text
            .contains("Databases: 1 open, 1 resolved"),
        "{}",
        storm.pinned()[0].text
    );
    assert!(
        storm.pinned()[0].text.contains("[104] (resolved)")
            && !storm.pinned()[0].text.contains("[103] (resolved)"),
        "the recovered entry is marked, the others not: {}",
        storm.pinned()[0].text
    );
    assert_eq!(
        slack.channels().len(),
        5,
        "three incidents, the storm, the stakeholders"
    );
    // People can find the storm: the responders are in it, stakeholders were told once.
    let storm = slack.channel("pandorafms_storm_default").unwrap();
    assert!(
        storm.members.iter().any(|m| m == "U0ANA"),
        "{:?}",
        storm.members
    );
    let storm_lines = |slack: &FakeSlack| -> Vec<String> {
        slack
            .channel_by_id(&stake)
            .unwrap()
            .messages
            .iter()
            .map(|m| m.text.clone())
            .filter(|t| t.contains("storm"))
            .collect()
    };
    let lines = storm_lines(&slack);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("Alert storm on route 'default': new incidents are summarised in"),
        "{lines:?}"
    );

    // Quiet for storm_quiet: the plugin run ends the storm and says so.
    dir.age_state(6); // quiet for longer than storm_quiet, without waiting for it
    plugin(&cfg);
    let storm = slack.channel("pandorafms_storm_default").unwrap();
    let last = &storm.messages.last().unwrap().text;
    assert!(last.contains("storm on route 'default' is over"), "{last}");
    assert!(storm.topic.starts_with("QUIET"), "{}", storm.topic);
    let lines = storm_lines(&slack);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].starts_with("The alert storm on route 'default' is over (3 incident(s)"),
        "{lines:?}"
    );
    let status: Value = serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert!(status["storms"].as_array().unwrap().is_empty(), "{status}");
    // Afterwards a new incident gets its own channel again.
    fire(&cfg, "200", "Servers");
    assert!(slack.channel("pandorafms_alert_200").is_some());
}

#[test]
fn archive_posts_a_closing_line_and_archives_only_long_resolved_channels() {
    let (dir, ilert, slack) = (
        TestDir::new("archive"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    fire(&cfg, "301", "Servers");
    fire(&cfg, "302", "Servers");
    assert_eq!(code(&PandoraAlert::recovery("301").run(&cfg)), 0);

    let out = run(&cfg, &["archive", "--older-than", "7d"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("archive: 0 archived"),
        "{}",
        stderr(&out)
    );

    let dry = run(&cfg, &["archive", "--older-than", "0s", "--dry-run"]);
    assert!(
        stdout(&dry).contains("would archive #pandorafms_alert_301"),
        "{}",
        stdout(&dry)
    );
    assert!(
        !stdout(&dry).contains("302"),
        "an open incident is never archived"
    );
    assert!(!slack.channel("pandorafms_alert_301").unwrap().is_archived);

    let out = run(&cfg, &["archive", "--older-than", "0s"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let c = slack.channel("pandorafms_alert_301").unwrap();
    assert!(c.is_archived);
    assert!(c.topic.starts_with("ARCHIVED - RESOLVED - "), "{}", c.topic);
    assert!(
        c.messages
            .last()
            .unwrap()
            .text
            .starts_with("Archiving this channel"),
        "{:?}",
        c.messages.last()
    );
    assert!(!slack.channel("pandorafms_alert_302").unwrap().is_archived);
    // Twice is harmless: nothing left to archive.
    let again = run(&cfg, &["archive", "--older-than", "0s"]);
    assert!(
        stderr(&again).contains("archive: 0 archived"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn timeline_merges_the_event_log_and_the_channel_history() {
    let (dir, ilert, slack) = (
        TestDir::new("timeline"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    fire(&cfg, "401", "Servers");
    let channel = slack.channel("pandorafms_alert_401").unwrap();
    slack.add_message(
        &channel.id,
        "U0ANA",
        "looking at it, disk is full | cleaning",
    );
    // A discussion in the alert message's thread: only conversations.replies returns it.
    slack.add_reply(
        &channel.id,
        &channel.messages[0].ts,
        "U0BOB",
        "cleaner restarted <3",
    );
    fire(&cfg, "401", "Servers");
    assert_eq!(code(&PandoraAlert::recovery("401").run(&cfg)), 0);

    let out = run(&cfg, &["timeline", "401"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let md = stdout(&out);
    assert!(
        md.starts_with("# Incident timeline: host-401 / CPU Load"),
        "{md}"
    );
    assert!(
        md.contains("| event log | pandora | fired: host-401 / CPU Load"),
        "{md}"
    );
    assert!(
        md.contains("| slack | U0ANA | looking at it, disk is full \\| cleaning |"),
        "{md}"
    );
    assert!(
        md.contains("| slack | U0BOB | (in thread) cleaner restarted <3 |"),
        "thread replies are in the timeline: {md}"
    );
    assert!(slack.calls().contains(&"conversations.replies".to_string()));
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
    assert!(md.contains("📌"), "the pinned alert is marked: {md}");
    assert!(md.contains("ilert RESOLVE delivered"), "{md}");

    let j: Value =
        serde_json::from_slice(&run(&cfg, &["timeline", "pandorafms_alert_401", "--json"]).stdout)
            .unwrap();
    let entries = j["entries"].as_array().unwrap();
    let times: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "chronological");
    let sources: std::collections::BTreeSet<&str> = entries
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert!(sources.contains("slack") && sources.contains("event log"));
    let unknown = run(&cfg, &["timeline", "999999"]);
    assert_eq!(code(&unknown), 64);
}

#[test]
fn drill_with_a_channel_checks_every_hop_and_is_archived_first() {
    let (dir, ilert, slack) = (
        TestDir::new("drill-chat"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let stake = slack.add_channel("stakeholders", "", "U0BOSS", false, false);
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        &format!("invite = [\"U0ANA\"]\nstakeholder_channel = \"{stake}\""),
    );
    let out = run(&cfg, &["test"]);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}\n{}", stderr(&out));
    for hop in [
        "ilert accepted the ALERT",
        "public channel #drill-pandorafms_alert_",
        "responders invited: U0ANA",
        "alert message posted",
        "alert message pinned",
        "topic set to \"DRILL FIRING",
        "stakeholder line in",
        "ilert accepted the RESOLVE",
        "recovery message posted",
    ] {
        // Each hop is timed from the store's event log ("+0.12s").
        let timed = |l: &str| {
            l.split_whitespace()
                .last()
                .is_some_and(|t| t.starts_with('+') && t.ends_with('s'))
        };
        assert!(
            text.lines()
                .any(|l| l.contains("[ok  ]") && l.contains(hop) && timed(l)),
            "missing or untimed {hop}:\n{text}"
        );
    }
    assert!(!text.contains("FAIL"), "{text}");
    let drill = slack
        .channels()
        .into_iter()
        .find(|c| c.name.starts_with("drill-"))
        .unwrap();
    assert!(
        drill.pinned()[0].text.contains("DRILL"),
        "{:?}",
        drill.pinned()
    );
    // Drills are archived as soon as they are resolved, even with a long cut-off.
    let out = run(&cfg, &["archive", "--older-than", "30d"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(slack.channel(&drill.name).unwrap().is_archived);
}

#[test]
fn incident_report_in_the_intake_channel_becomes_an_ilert_alert_and_gets_a_reply() {
    let (dir, ilert, slack) = (
        TestDir::new("intake"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let intake = slack.add_channel("incidents", "", "U0ADMIN", false, false);
    slack.add_message(&intake, "U0ANA", "good morning, no incident here");
    let report_ts = slack.add_message(&intake, "U0ANA", "!incident database is slow for everyone");
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        &format!("intake_channel = \"{intake}\""),
    );
    plugin(&cfg);
    let alerts: Vec<Value> = ilert
        .accepted()
        .into_iter()
        .filter(|e| e["eventType"] == "ALERT")
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["summary"], "[Chat] database is slow for everyone");
    assert_eq!(alerts[0]["customDetails"]["reporter"], "U0ANA");
    let key = alerts[0]["alertKey"].as_str().unwrap().to_string();
    assert!(key.starts_with("chat-"));
    // The incident got its own channel, and the reporter a reply in thread that links to it.
    let channel = slack
        .channels()
        .into_iter()
        .find(|c| c.name.starts_with("pandorafms_alert_chat-"))
        .expect("incident channel");
    let intake_ch = slack.channel_by_id(&intake).unwrap();
    let reply = intake_ch
        .messages
        .iter()
        .find(|m| m.thread_ts.as_deref() == Some(report_ts.as_str()))
        .expect("reply in thread");
    assert!(
        reply.text.contains("Incident opened in ilert for U0ANA"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains(&channel.id) || reply.text.contains(&channel.name),
        "{} / {}",
        reply.text,
        channel.name
    );
    // The read position is kept: a second run acts on nothing.
    plugin(&cfg);
    assert_eq!(ilert.accepted().len(), 1);
    assert_eq!(
        slack
            .channel_by_id(&intake)
            .unwrap()
            .messages
            .iter()
            .filter(|m| m.thread_ts.is_some())
            .count(),
        1
    );
    // A new report is picked up, with its severity; the text is in the topic, the reporter
    // is invited.
    slack.add_message(&intake, "U0BOB", "!incident minor VPN down");
    plugin(&cfg);
    let alerts: Vec<Value> = ilert
        .accepted()
        .into_iter()
        .filter(|e| e["eventType"] == "ALERT")
        .collect();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["summary"], "[Chat] VPN down");
    assert_eq!(alerts[1]["priority"], "LOW", "{}", alerts[1]);
    let vpn = slack
        .channels()
        .into_iter()
        .find(|c| c.topic.contains("VPN down"))
        .expect("the report text in a channel topic");
    assert_eq!(vpn.topic, "FIRING - chat report by U0BOB / VPN down");
    assert!(
        vpn.members.iter().any(|m| m == "U0BOB"),
        "{:?}",
        vpn.members
    );
    assert!(
        vpn.pinned()[0]
            .text
            .starts_with("FIRING [Minor] chat report by U0BOB / VPN down"),
        "{}",
        vpn.pinned()[0].text
    );
}

#[test]
fn help_status_and_note_each_get_one_answer_and_the_note_is_a_key_timeline_row() {
    let (dir, ilert, slack) = (
        TestDir::new("commands-more"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "invite = [\"U0ANA\"]");
    fire(&cfg, "503", "Servers");
    // A first read sets the read position (the fake pages two messages at a time, and a first
    // read takes only the latest page).
    plugin(&cfg);
    let ch = slack.channel("pandorafms_alert_503").unwrap();
    let help = slack.add_message(&ch.id, "U0EVE", "!help");
    let ack = slack.add_message(&ch.id, "U0ANA", "!ack");
    let status = slack.add_message(&ch.id, "U0EVE", "!status");
    let note = slack.add_message(&ch.id, "U0ANA", "!note the disk filled up at 03:00");
    let refused = slack.add_message(&ch.id, "U0EVE", "!note I was here");
    plugin(&cfg);
    plugin(&cfg);
    let ch = slack.channel("pandorafms_alert_503").unwrap();
    let answer = |ts: &str| {
        let all: Vec<&str> = ch
            .messages
            .iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .map(|m| m.text.as_str())
            .collect();
        assert_eq!(all.len(), 1, "exactly one answer to {ts}: {all:?}");
        all[0].to_string()
    };
    assert!(answer(&help).starts_with("Commands in this channel: !ack"));
    assert_eq!(answer(&ack), "Acknowledged in ilert by U0ANA.");
    let st = answer(&status);
    assert!(
        st.starts_with("FIRING for ") && st.contains("acknowledged by U0ANA"),
        "{st}"
    );
    assert!(st.contains("ilert alert key 503"), "{st}");
    assert_eq!(answer(&note), "Noted for the timeline, U0ANA.");
    assert!(answer(&refused).starts_with("Sorry U0EVE"));
    let out = run(&cfg, &["timeline", "503"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let md = stdout(&out);
    let row = md
        .lines()
        .find(|l| l.contains("| note |") || l.contains("the disk filled up"))
        .filter(|l| l.contains("event log"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        row.contains("U0ANA") && row.contains("📌 the disk filled up at 03:00"),
        "{row}"
    );
    assert!(
        !md.contains("📌 I was here"),
        "a refused note is no key note: {md}"
    );
}

#[test]
fn ack_and_resolve_typed_in_the_incident_channel_reach_ilert_attributed_to_the_person() {
    let (dir, ilert, slack) = (
        TestDir::new("commands"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    // U0ANA is a responder (invited), U0BOB on the allow-list.
    let stake = slack.add_channel("stakeholders", "", "U0ADMIN", false, false);
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        &format!(
            "invite = [\"U0ANA\"]\nchatops_allow = [\"U0BOB\"]\nstakeholder_channel = \"{stake}\""
        ),
    );
    fire(&cfg, "501", "Servers");
    let ch = slack.channel("pandorafms_alert_501").unwrap();
    let ack_ts = slack.add_message(&ch.id, "U0ANA", "!ack looking into it");
    plugin(&cfg);
    let accept = ilert
        .accepted()
        .into_iter()
        .find(|e| e["eventType"] == "ACCEPT")
        .expect("ACCEPT");
    assert_eq!(accept["alertKey"], "501");
    assert_eq!(accept["comments"][0]["creator"], "U0ANA");
    assert_eq!(
        accept["comments"][0]["content"],
        "acknowledged from chat: looking into it"
    );
    let ch = slack.channel("pandorafms_alert_501").unwrap();
    let reply = ch
        .messages
        .iter()
        .find(|m| m.thread_ts.as_deref() == Some(ack_ts.as_str()))
        .expect("answered");
    assert_eq!(reply.text, "Acknowledged in ilert by U0ANA.");
    // The ack is visible: topic, pinned message, one stakeholder line.
    assert_eq!(ch.topic, "ACKNOWLEDGED by U0ANA - host-501 / CPU Load");
    assert!(
        ch.pinned()[0]
            .text
            .starts_with("ACKNOWLEDGED by U0ANA [Critical] host-501 / CPU Load"),
        "{}",
        ch.pinned()[0].text
    );
    plugin(&cfg);
    let lines: Vec<String> = slack
        .channel_by_id(&stake)
        .unwrap()
        .messages
        .iter()
        .map(|m| m.text.clone())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("Incident opened: [Critical] host-501"),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("Incident acknowledged by U0ANA: [Critical] host-501"),
        "{lines:?}"
    );
    assert_eq!(
        ilert
            .accepted()
            .iter()
            .filter(|e| e["eventType"] == "ACCEPT")
            .count(),
        1,
        "acted on once"
    );

    slack.add_message(&ch.id, "U0BOB", "!resolve freed the disk");
    plugin(&cfg);
    let resolve = ilert
        .accepted()
        .into_iter()
        .find(|e| e["eventType"] == "RESOLVE")
        .expect("RESOLVE");
    assert_eq!(resolve["comments"][0]["creator"], "U0BOB");
    let ch = slack.channel("pandorafms_alert_501").unwrap();
    assert!(ch.topic.starts_with("RESOLVED"), "{}", ch.topic);
    assert!(
        ch.pinned()[0].text.contains("RESOLVED"),
        "{}",
        ch.pinned()[0].text
    );
    let log = std::fs::read_to_string(dir.state().join("events/501.jsonl")).unwrap();
    assert!(
        log.contains("\"by\":\"U0ANA\"") && log.contains("\"by\":\"U0BOB\""),
        "{log}"
    );
    let status: Value = serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert!(status["open_incidents"].as_array().unwrap().is_empty());
}

#[test]
fn an_outsiders_resolve_is_refused_in_thread_and_logged_not_sent_to_ilert() {
    let (dir, ilert, slack) = (
        TestDir::new("outsider"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "invite = [\"U0ANA\"]");
    fire(&cfg, "502", "Servers");
    let ch = slack.channel("pandorafms_alert_502").unwrap();
    let ts = slack.add_message(&ch.id, "U0EVE", "!resolve not my problem");
    plugin(&cfg);
    plugin(&cfg);
    assert!(
        ilert.accepted().iter().all(|e| e["eventType"] == "ALERT"),
        "{:?}",
        ilert.accepted()
    );
    let ch = slack.channel("pandorafms_alert_502").unwrap();
    let answers: Vec<_> = ch
        .messages
        .iter()
        .filter(|m| m.thread_ts.as_deref() == Some(ts.as_str()))
        .collect();
    assert_eq!(answers.len(), 1, "one answer: {answers:?}");
    assert!(
        answers[0]
            .text
            .starts_with("Sorry U0EVE, only this incident's responders can use !resolve"),
        "{}",
        answers[0].text
    );
    assert!(!ch.topic.starts_with("RESOLVED"), "{}", ch.topic);
    let log = std::fs::read_to_string(dir.state().join("events/502.jsonl")).unwrap();
    assert!(
        log.contains("\"kind\":\"command-refused\"") && log.contains("\"by\":\"U0EVE\""),
        "{log}"
    );
    let status: Value = serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert_eq!(status["open_incidents"].as_array().unwrap().len(), 1);
}

#[test]
fn pinned_message_carries_the_runbook_text_and_a_console_link_from_console_url() {
    let (dir, ilert, slack) = (
        TestDir::new("pin-details"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = dir.config(&format!(
        "console_url = \"https://console.example/pandora_console/\"\n\
         alert_deadline = \"6s\"\nrequest_timeout = \"2s\"\n[plugin]\ndata_in = \"\"\n\
         [ilert]\napi_url = \"{}\"\n[slack]\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\nchat = \"slack\"\ninvite = [\"U0ANA\"]\n",
        ilert.url(),
        slack.url()
    ));
    // Field 13 (`_homeurl_`) left empty, as many installs do.
    let out = PandoraAlert::firing("504")
        .set("--homeurl", "")
        .set(
            "--details",
            "Runbook: restart nginx, then check /var/log/nginx",
        )
        .run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let ch = slack.channel("pandorafms_alert_504").unwrap();
    let pinned = &ch.pinned()[0].text;
    assert!(
        pinned.contains("Details: Runbook: restart nginx, then check /var/log/nginx"),
        "{pinned}"
    );
    assert!(
        pinned.contains("https://console.example/pandora_console/index.php?sec=estado"),
        "{pinned}"
    );
}

#[test]
fn a_refused_alert_shows_not_paged_in_the_channel_until_ilert_has_it() {
    let (dir, ilert, slack) = (
        TestDir::new("not-paged"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "invite = [\"U0ANA\"]");
    ilert.set_mode(Mode::Fail(400));
    let out = PandoraAlert::firing("505")
        .set("--agent", "host-505")
        .run(&cfg);
    assert_ne!(code(&out), 70, "{}", stderr(&out));
    let ch = slack
        .channel("pandorafms_alert_505")
        .expect("the channel still opens");
    assert_eq!(ch.topic, "NOT PAGED - host-505 / CPU Load");
    assert!(
        ch.pinned()[0].text.starts_with("NOT PAGED [Critical]"),
        "{}",
        ch.pinned()[0].text
    );
    let banners: Vec<&str> = ch
        .messages
        .iter()
        .map(|m| m.text.as_str())
        .filter(|t| t.starts_with("⚠️ NOT PAGED: ilert refused this alert"))
        .collect();
    assert_eq!(banners.len(), 1, "{:?}", ch.messages);

    // Fixed and requeued: ilert has it, and the channel says so.
    ilert.set_mode(Mode::Accept);
    // The first flush delivers the ALERT and queues the chat update; the second delivers it.
    for args in [&["requeue"][..], &["flush"], &["flush"]] {
        let out = run(&cfg, args);
        assert!(matches!(code(&out), 0 | 69), "{args:?}: {}", stderr(&out));
    }
    assert!(ilert.accepted().iter().any(|e| e["eventType"] == "ALERT"));
    let ch = slack.channel("pandorafms_alert_505").unwrap();
    assert_eq!(ch.topic, "FIRING - host-505 / CPU Load");
    assert!(
        ch.pinned()[0].text.starts_with("FIRING [Critical]"),
        "{}",
        ch.pinned()[0].text
    );
    assert!(
        ch.messages
            .iter()
            .any(|m| m.text == "ilert has this alert now: the on-call is being paged."),
        "{:?}",
        ch.messages
    );
}

#[test]
fn after_pruning_the_next_incident_of_an_alert_gets_a_new_channel() {
    let (dir, ilert, slack) = (
        TestDir::new("prune-seq"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[plugin]\n",
        "[plugin]\nprune_after = \"0s\"\narchive_after = \"0s\"\n",
    );
    std::fs::write(&cfg, text).unwrap();
    fire(&cfg, "601", "Servers");
    assert_eq!(code(&PandoraAlert::recovery("601").run(&cfg)), 0);
    plugin(&cfg);
    assert!(slack.channel("pandorafms_alert_601").unwrap().is_archived);
    assert!(
        dir.files("incidents").is_empty(),
        "pruned: {:?}",
        dir.files("incidents")
    );
    fire(&cfg, "601", "Servers");
    let old = slack.channel("pandorafms_alert_601").unwrap();
    assert!(old.is_archived, "the old channel stays archived");
    assert!(
        slack.channel("pandorafms_alert_601-2").is_some(),
        "{:?}",
        slack.channels().iter().map(|c| &c.name).collect::<Vec<_>>()
    );
}

#[test]
fn two_watchers_and_a_plugin_act_on_a_slack_ack_once_within_seconds_and_within_the_tiers() {
    let (dir, ilert, slack) = (
        TestDir::new("watch-slack"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "invite = [\"U0ANA\"]");
    fire(&cfg, "506", "Servers");
    let started = std::time::Instant::now();
    let spawn = || support::spawn_watch(&cfg, 1);
    let watchers = [spawn(), spawn()];
    std::thread::sleep(Duration::from_millis(1500));
    let ch = slack.channel("pandorafms_alert_506").unwrap();
    let typed = std::time::Instant::now();
    let ts = slack.add_message(&ch.id, "U0ANA", "!ack");
    let accepts = || {
        ilert
            .accepted()
            .iter()
            .filter(|e| e["eventType"] == "ACCEPT")
            .count()
    };
    while accepts() == 0 && typed.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let latency = typed.elapsed();
    eprintln!("watch (Slack): !ack to ilert ACCEPT in {latency:?}");
    assert!(latency <= Duration::from_secs(10), "took {latency:?}");
    // A plugin run meanwhile, and time for a second action to show up.
    plugin(&cfg);
    std::thread::sleep(Duration::from_millis(3000));
    for w in &watchers {
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &w.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    for mut w in watchers {
        assert_eq!(w.wait().unwrap().code(), Some(0));
    }
    assert_eq!(accepts(), 1, "{:?}", ilert.accepted());
    let ch = slack.channel("pandorafms_alert_506").unwrap();
    let answers = ch
        .messages
        .iter()
        .filter(|m| m.thread_ts.as_deref() == Some(ts.as_str()))
        .count();
    assert_eq!(answers, 1, "one answer");
    // Within the documented limits: the fake answered no call with 429, and the history
    // reads of both watchers and the plugin together stayed under Tier 3's 50 a minute.
    assert_eq!(slack.rate_limited(), Vec::<String>::new());
    let reads = slack
        .calls()
        .iter()
        .filter(|c| c.starts_with("conversations.history"))
        .count();
    // n reads span n - 1 intervals.
    let per_minute = (reads.max(1) - 1) as f64 * 60.0 / started.elapsed().as_secs_f64();
    eprintln!(
        "watch (Slack): {reads} history reads in {:?} ({per_minute:.0} a minute)",
        started.elapsed()
    );
    assert!(reads >= 3, "the watchers polled: {reads}");
    assert!(
        per_minute <= 50.0,
        "{reads} reads in {:?}",
        started.elapsed()
    );
}

#[test]
fn a_slack_user_group_member_may_ack_and_anyone_else_is_refused_in_thread() {
    let (dir, ilert, slack) = (
        TestDir::new("usergroup"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    slack.add_user_group("S0ONCALL1", &["U0GRP", "U0OTHER"]);
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        "invite = [\"U0ANA\"]\nchatops_allow_groups = [\"S0ONCALL1\"]",
    );
    fire(&cfg, "507", "Servers");
    let ch = slack.channel("pandorafms_alert_507").unwrap();
    slack.add_message(&ch.id, "U0GRP", "!ack on call today");
    let eve = slack.add_message(&ch.id, "U0EVE", "!resolve");
    plugin(&cfg);
    let events = ilert.accepted();
    let accepts: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventType"] == "ACCEPT")
        .collect();
    assert_eq!(accepts.len(), 1, "{events:?}");
    assert_eq!(accepts[0]["comments"][0]["creator"], "U0GRP");
    assert!(
        !events.iter().any(|e| e["eventType"] == "RESOLVE"),
        "{events:?}"
    );
    let ch = slack.channel("pandorafms_alert_507").unwrap();
    let refusal: Vec<_> = ch
        .messages
        .iter()
        .filter(|m| m.thread_ts.as_deref() == Some(eve.as_str()))
        .collect();
    assert_eq!(refusal.len(), 1, "{refusal:?}");
    assert!(
        refusal[0]
            .text
            .starts_with("Sorry U0EVE, only this incident's responders"),
        "{}",
        refusal[0].text
    );
    let log = std::fs::read_to_string(dir.state().join("events/507.jsonl")).unwrap();
    assert!(
        log.contains("\"kind\":\"command-refused\"") && log.contains("\"by\":\"U0EVE\""),
        "{log}"
    );
    // The group was asked once; the second check came from the store.
    let asked = slack
        .calls()
        .iter()
        .filter(|c| *c == "usergroups.users.list")
        .count();
    assert_eq!(asked, 1);
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn a_user_group_that_does_not_exist_refuses_and_says_why_in_the_log() {
    let (dir, ilert, slack) = (
        TestDir::new("usergroup-gone"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        "invite = [\"U0ANA\"]\nchatops_allow_groups = [\"S0GONE\"]",
    );
    fire(&cfg, "508", "Servers");
    let ch = slack.channel("pandorafms_alert_508").unwrap();
    slack.add_message(&ch.id, "U0GRP", "!ack");
    let out = run(&cfg, &["plugin"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!ilert.accepted().iter().any(|e| e["eventType"] == "ACCEPT"));
    let log = dir.log();
    assert!(log.contains("no_such_subteam"), "{log}");
}

#[test]
fn open_key_in_the_storm_channel_opens_that_incidents_channel_and_the_rest_follow_the_storm() {
    let (dir, ilert, slack) = (
        TestDir::new("storm-open"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        "storm_per_minute = 2\nstorm_quiet = \"5s\"\ninvite = [\"U0ANA\"]",
    );
    for id in ["601", "602", "603", "604", "605"] {
        fire(&cfg, id, "Servers");
    }
    assert!(slack.channel("pandorafms_alert_603").is_none());
    let storm = slack.channel("pandorafms_storm_default").unwrap();
    let summary = &storm.pinned()[0].text;
    assert!(summary.contains("host-603 / CPU Load [603]"), "{summary}");
    assert!(summary.contains("!open KEY"), "{summary}");
    // A responder asks for 603's channel; an outsider for 604's.
    let asked = slack.add_message(&storm.id, "U0ANA", "!open 603");
    let outsider = slack.add_message(&storm.id, "U0EVE", "!open 604");
    plugin(&cfg);
    let own = slack
        .channel("pandorafms_alert_603")
        .expect("603 has its own channel");
    assert_eq!(own.pinned().len(), 1, "its alert message, pinned");
    assert!(own.members.iter().any(|m| m == "U0ANA"));
    assert!(slack.channel("pandorafms_alert_604").is_none());
    let storm = slack.channel("pandorafms_storm_default").unwrap();
    let answer = |ts: &str| -> Vec<String> {
        storm
            .messages
            .iter()
            .filter(|m| m.thread_ts.as_deref() == Some(ts))
            .map(|m| m.text.clone())
            .collect()
    };
    let a = answer(&asked);
    assert_eq!(a.len(), 1, "{a:?}");
    assert!(
        a[0].starts_with("Opened the channel of incident 603 for U0ANA"),
        "{a:?}"
    );
    let r = answer(&outsider);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("Sorry U0EVE"), "{r:?}");
    // 605 recovers during the storm: it needs no channel.
    let out = PandoraAlert::recovery("605")
        .set("--group", "Servers")
        .set("--agent", "host-605")
        .run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // Quiet for storm_quiet: the storm ends, and 604, still open, gets its own channel.
    dir.age_state(6);
    plugin(&cfg);
    let storm = slack.channel("pandorafms_storm_default").unwrap();
    assert!(storm.topic.starts_with("QUIET"), "{}", storm.topic);
    assert!(slack.channel("pandorafms_alert_604").is_some());
    assert!(slack.channel("pandorafms_alert_605").is_none());
    let log = std::fs::read_to_string(dir.state().join("events/604.jsonl")).unwrap();
    assert!(
        log.contains("its own channel after the storm summary"),
        "{log}"
    );
    // Once: another run opens nothing more.
    let channels = slack.channels().len();
    plugin(&cfg);
    assert_eq!(slack.channels().len(), channels);
    assert_eq!(slack.rate_limited(), Vec::<String>::new());
}
