//! Slack incident channels end to end: the real binary run as Pandora runs it, a fake ilert
//! and a fake Slack Web API on 127.0.0.1 that follows the documented contract and keeps state.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::ilert::{FakeIlert, KEY};
use support::slack::{FakeSlack, ALL_SCOPES, BOT_USER, TOKEN};
use support::{code, run, stderr, PandoraAlert, TestDir};

fn config(dir: &TestDir, ilert: &FakeIlert, slack: &FakeSlack, route: &str) -> PathBuf {
    dir.config(&format!(
        "alert_deadline = \"6s\"\nrequest_timeout = \"2s\"\n[ilert]\napi_url = \"{}\"\n\
         [slack]\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\nchat = \"slack\"\n{route}\n",
        ilert.url(),
        slack.url()
    ))
}

#[test]
fn fire_refire_recover_keeps_one_channel_and_one_pinned_message_updated_in_place() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-life"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let stake = slack.add_channel("incidents", "Incident updates", "UADMIN001", false, false);
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        &format!("invite = [\"U0AAA0001\", \"U0AAA0002\"]\nstakeholder_channel = \"{stake}\""),
    );
    dir.assert_ok(&PandoraAlert::firing("6182268").run(&cfg));
    {
        let ch = slack.channel("pandorafms_alert_6182268").expect("channel");
        assert!(!ch.is_private);
        assert_eq!(ch.topic, "FIRING - web-01 / CPU Load");
        assert_eq!(ch.pins.len(), 1);
        let m = ch.pinned()[0];
        assert!(
            m.text.contains("FIRING [Critical] web-01 / CPU Load"),
            "{}",
            m.text
        );
        assert_eq!(m.blocks[0]["type"], "header");
        // Links are plain mrkdwn links, not buttons (an app without an interactivity URL
        // shows a warning on every button click; the fake flags any actions block).
        let last = m.blocks.as_array().unwrap().last().unwrap().clone();
        assert_eq!(
            last["text"]["text"],
            "<http://pandora.example/pandora_console/index.php?sec=estado&amp;sec2=operation/agentes/ver_agente&amp;id_agente=12|Pandora FMS agent>"
        );
        assert!(ch.members.contains(&"U0AAA0001".to_string()));
        assert!(ch.members.contains(&"U0AAA0002".to_string()));
    }
    for data in ["97", "99.1"] {
        dir.assert_ok(
            &PandoraAlert::firing("6182268")
                .set("--data", data)
                .run(&cfg),
        );
    }
    dir.assert_ok(&PandoraAlert::recovery("6182268").run(&cfg));

    let channels: Vec<_> = slack
        .channels()
        .into_iter()
        .filter(|c| c.name.starts_with("pandorafms_alert"))
        .collect();
    assert_eq!(channels.len(), 1, "{channels:?}");
    let ch = &channels[0];
    assert_eq!(ch.topic, "RESOLVED - web-01 / CPU Load");
    assert!(ch.purpose.contains("6182268"), "{}", ch.purpose);
    assert_eq!(ch.pins.len(), 1, "one pinned message");
    let pinned = ch.pinned()[0];
    assert_eq!(
        pinned.ts, ch.messages[0].ts,
        "the first message stays the pinned one"
    );
    assert_eq!(
        pinned.edits, 3,
        "two re-fires and the recovery edit it in place"
    );
    assert!(
        pinned
            .text
            .starts_with("RESOLVED [Critical] web-01 / CPU Load"),
        "{}",
        pinned.text
    );
    assert!(pinned.text.contains("Times fired: 3"), "{}", pinned.text);
    assert!(pinned.text.contains("Value: 12.0%"), "{}", pinned.text);
    assert_eq!(
        ch.messages.len(),
        2,
        "alert + recovery, no flood: {:?}",
        ch.messages
    );
    assert!(ch.messages[1]
        .text
        .starts_with("RESOLVED web-01 / CPU Load"));

    let stake = slack.channel("incidents").unwrap();
    let lines: Vec<&str> = stake.messages.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(lines.len(), 2, "one line per state change: {lines:?}");
    assert!(
        lines[0].starts_with("Incident opened: [Critical] web-01 / CPU Load"),
        "{lines:?}"
    );
    assert!(
        lines[0].contains(&ch.id),
        "links the incident channel: {lines:?}"
    );
    assert!(lines[1].starts_with("Incident resolved"), "{lines:?}");

    let types: Vec<String> = ilert.events().into_iter().map(|e| e.0).collect();
    assert_eq!(types, ["ALERT", "RESOLVE"]);
    let log = dir.chat_lines("6182268");
    for want in [
        "opened public channel #pandorafms_alert_6182268",
        "invited U0AAA0001, U0AAA0002",
        "posted alert message: FIRING [Critical] web-01 / CPU Load",
        "pinned the alert message",
        "topic set to \"FIRING - web-01 / CPU Load\"",
        "updated alert message: FIRING [Critical] web-01 / CPU Load (fired 3 times)",
        "topic set to \"RESOLVED - web-01 / CPU Load\"",
        "posted recovery message: RESOLVED web-01 / CPU Load",
    ] {
        assert!(
            log.iter().any(|l| l.starts_with(want)),
            "missing {want:?} in {log:#?}"
        );
    }
    assert!(dir.record("6182268")["resolved_at"].is_string());
    assert!(!dir.log().contains(TOKEN), "token leaked into the log");
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn private_route_creates_a_private_channel_and_the_stakeholder_line_has_no_details() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-private"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let stake = slack.add_channel("sec-updates", "", "UADMIN001", false, false);
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        &format!("private = true\ninvite = \"U0SEC0001\"\nstakeholder_channel = \"{stake}\""),
    );
    dir.assert_ok(&PandoraAlert::firing("900").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("900").run(&cfg));
    let ch = slack.channel("pandorafms_alert_900").unwrap();
    assert!(ch.is_private);
    assert_eq!(ch.members, [BOT_USER, "U0SEC0001"]);
    let lines: Vec<String> = slack
        .channel("sec-updates")
        .unwrap()
        .messages
        .iter()
        .map(|m| format!("{} {}", m.text, m.blocks))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for l in &lines {
        assert!(l.starts_with("Private incident"), "{l}");
        assert!(
            !l.contains("web-01") && !l.contains("CPU") && !l.contains("Critical"),
            "{l}"
        );
    }
    assert!(dir
        .chat_lines("900")
        .iter()
        .any(|l| l == "opened private channel #pandorafms_alert_900"));
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn two_concurrent_first_firings_of_one_alert_create_one_channel() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-race"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    let children: Vec<_> = (0..2)
        .map(|_| PandoraAlert::firing("1200").spawn(&cfg))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        dir.assert_ok(&out);
    }
    assert_eq!(slack.channels().len(), 1, "{:?}", slack.channels());
    let ch = &slack.channels()[0];
    assert_eq!(ch.messages.len(), 1, "one alert message");
    assert_eq!(ch.pins.len(), 1);
    assert!(
        ch.messages[0].text.contains("Times fired: 2"),
        "{}",
        ch.messages[0].text
    );
    assert_eq!(ilert.events().len(), 1);
    let creates = slack
        .calls()
        .iter()
        .filter(|m| *m == "conversations.create")
        .count();
    assert_eq!(creates, 1, "the incident lock serialises the two runs");
}

#[test]
fn another_server_without_the_store_reuses_the_channel_on_name_taken() {
    let (ilert, slack) = (FakeIlert::start(), FakeSlack::start());
    let (a, b) = (
        TestDir::new("slack-server-a"),
        TestDir::new("slack-server-b"),
    );
    let (cfg_a, cfg_b) = (
        config(&a, &ilert, &slack, ""),
        config(&b, &ilert, &slack, ""),
    );
    // Padding so conversations.list has to page to find the channel.
    for n in 0..5 {
        slack.add_channel(&format!("general-{n}"), "", "UADMIN001", false, false);
    }
    a.assert_ok(&PandoraAlert::firing("1300").run(&cfg_a));
    b.assert_ok(&PandoraAlert::firing("1300").run(&cfg_b));
    let ours: Vec<_> = slack
        .channels()
        .into_iter()
        .filter(|c| c.name.starts_with("pandorafms_alert_1300"))
        .collect();
    assert_eq!(ours.len(), 1, "{ours:?}");
    assert_eq!(
        a.record("1300")["chat"]["channel_id"],
        b.record("1300")["chat"]["channel_id"]
    );
    assert!(b.log().contains("reusing it"), "{}", b.log());
    // One ilert alert: both servers sent the same alertKey, and ilert deduplicates by it.
    let keys: Vec<String> = ilert.events().into_iter().map(|e| e.1).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[0], keys[1]);
    assert_eq!(ilert.alerts().len(), 1, "{:?}", ilert.alerts());
    assert!(b.queued().is_empty(), "{:?}", b.queued());
    assert!(
        slack
            .calls()
            .iter()
            .filter(|m| *m == "conversations.list")
            .count()
            >= 2
    );
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn two_servers_keep_one_alert_message_pinned_once_and_edited_in_place() {
    let (ilert, slack) = (FakeIlert::start(), FakeSlack::start());
    let (a, b) = (TestDir::new("slack-two-a"), TestDir::new("slack-two-b"));
    let (cfg_a, cfg_b) = (
        config(&a, &ilert, &slack, ""),
        config(&b, &ilert, &slack, ""),
    );
    // The normal path, one server: no lookup (no history read, no auth.test).
    a.assert_ok(&PandoraAlert::firing("1310").run(&cfg_a));
    assert_eq!(
        slack.calls(),
        [
            "conversations.create",
            "conversations.setPurpose",
            "chat.postMessage",
            "pins.add",
            "conversations.setTopic"
        ]
    );
    let name = "pandorafms_alert_1310";
    let first = slack.channel(name).unwrap().messages[0].ts.clone();

    // The second server adopts the channel and, in it, the first server's alert message.
    let before = slack.calls().len();
    b.assert_ok(&PandoraAlert::firing("1310").run(&cfg_b));
    let calls_b = slack.calls()[before..].to_vec();
    assert!(
        calls_b.contains(&"conversations.history".to_string()),
        "{calls_b:?}"
    );
    assert!(
        !calls_b
            .iter()
            .any(|c| c == "chat.postMessage" || c == "pins.add"),
        "{calls_b:?}"
    );
    assert_eq!(b.record("1310")["chat"]["message_id"], first.as_str());
    assert_eq!(b.record("1310")["chat"]["pinned"], true);
    assert!(
        b.chat_lines("1310")
            .iter()
            .any(|l| l.contains("adopted the alert message another server posted")),
        "{:?}",
        b.chat_lines("1310")
    );
    // Re-fired on the second server, recovered on the first: the one message follows.
    b.assert_ok(&PandoraAlert::firing("1310").set("--data", "99").run(&cfg_b));
    {
        let ch = slack.channel(name).unwrap();
        assert_eq!(ch.messages.len(), 1, "{:?}", ch.messages);
        assert!(
            ch.messages[0].text.contains("Times fired: 2"),
            "{}",
            ch.messages[0].text
        );
    }
    a.assert_ok(&PandoraAlert::recovery("1310").run(&cfg_a));

    let ch = slack.channel(name).unwrap();
    let alerts: Vec<_> = ch
        .messages
        .iter()
        .filter(|m| m.metadata["event_type"] == "pandora_ilert_alert")
        .collect();
    assert_eq!(alerts.len(), 1, "one alert message: {:?}", ch.messages);
    assert_eq!(alerts[0].ts, first);
    assert_eq!(alerts[0].metadata["event_payload"]["incident"], "1310");
    assert!(alerts[0].edits >= 3, "edited in place: {:?}", alerts[0]);
    assert!(
        alerts[0].text.starts_with("RESOLVED [Critical]"),
        "{}",
        alerts[0].text
    );
    assert_eq!(ch.pins, [first], "pinned once");
    let recoveries = ch
        .messages
        .iter()
        .filter(|m| m.metadata.is_null() && m.text.starts_with("RESOLVED web-01 / CPU Load"))
        .count();
    assert_eq!((ch.messages.len(), recoveries), (2, 1), "{:?}", ch.messages);
    assert_eq!(ch.topic, "RESOLVED - web-01 / CPU Load");
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn a_taken_name_that_is_not_this_incidents_gets_a_suffixed_channel() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-foreign"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    slack.add_channel(
        "pandorafms_alert_500",
        "Team lunch planning",
        "UHUMAN001",
        false,
        false,
    );
    dir.assert_ok(&PandoraAlert::firing("500").run(&cfg));
    let foreign = slack.channel("pandorafms_alert_500").unwrap();
    assert!(
        foreign.messages.is_empty(),
        "never posts into someone else's channel"
    );
    let name = dir.record("500")["chat"]["channel_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with("pandorafms_alert_500-")
            && name.len() == "pandorafms_alert_500-".len() + 6,
        "{name}"
    );
    assert_eq!(slack.channel(&name).unwrap().messages.len(), 1);
    // A second server makes the same choice and reuses it.
    let other = TestDir::new("slack-foreign-b");
    let cfg_b = config(&other, &ilert, &slack, "");
    other.assert_ok(&PandoraAlert::firing("500").run(&cfg_b));
    assert_eq!(slack.channels().len(), 2);
    assert_eq!(other.record("500")["chat"]["channel_name"], name.as_str());
}

#[test]
fn a_later_incident_whose_name_is_our_archived_channel_gets_a_suffixed_name() {
    let (ilert, slack) = (FakeIlert::start(), FakeSlack::start());
    let (a, b) = (
        TestDir::new("slack-archived-a"),
        TestDir::new("slack-archived-b"),
    );
    let (cfg_a, cfg_b) = (
        config(&a, &ilert, &slack, ""),
        config(&b, &ilert, &slack, ""),
    );
    // Created by our bot for an earlier incident of this alert, closed and archived; the
    // store that knew it is gone. Bot tokens cannot unarchive it (the fake refuses, as Slack).
    let old = slack.add_channel(
        "pandorafms_alert_501",
        "Pandora FMS incident 501 (web-01 / CPU Load)",
        BOT_USER,
        false,
        true,
    );
    a.assert_ok(&PandoraAlert::firing("501").run(&cfg_a));
    let name = a.record("501")["chat"]["channel_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        name.starts_with("pandorafms_alert_501-")
            && name.len() == "pandorafms_alert_501-".len() + 6,
        "{name}"
    );
    assert!(a.queued().is_empty(), "nothing dead-lettered or waiting");
    let ch = slack.channel(&name).unwrap();
    assert!(!ch.is_archived);
    assert_eq!(ch.messages.len(), 1);
    let old = slack.channel_by_id(&old).unwrap();
    assert!(old.is_archived && old.messages.is_empty(), "{old:?}");
    assert!(a.log().contains("archived channel of an earlier incident"));
    // A second Pandora server with its own store picks the same name and reuses it.
    b.assert_ok(&PandoraAlert::firing("501").run(&cfg_b));
    assert_eq!(b.record("501")["chat"]["channel_name"], name.as_str());
    assert_eq!(slack.channels().len(), 2);
    assert!(!slack
        .calls()
        .contains(&"conversations.unarchive".to_string()));
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn slack_down_while_ilert_up_delivers_ilert_at_once_and_chat_in_order_on_flush() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-down"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    slack.server.stop();
    let fire = PandoraAlert::firing("1400").run(&cfg);
    assert_eq!(code(&fire), 69, "chat queued: {}", stderr(&fire));
    assert_eq!(
        ilert.events(),
        [("ALERT".into(), "1400".into())],
        "ilert at once"
    );
    let rec = PandoraAlert::recovery("1400").run(&cfg);
    assert_eq!(code(&rec), 69, "{}", stderr(&rec));
    assert_eq!(
        ilert.events().len(),
        2,
        "RESOLVE delivered although chat is down"
    );
    assert_eq!(ilert.events()[1].0, "RESOLVE");
    assert_eq!(dir.queued().len(), 2, "chat open + recover queued");
    assert!(dir
        .events("1400")
        .iter()
        .any(|e| e["kind"] == "failed" && e["text"].as_str().unwrap().contains("chat:slack")));

    let slack = slack.restart();
    let out = run(&cfg, &["flush"]);
    dir.assert_ok(&out);
    assert!(dir.queued().is_empty());
    assert_eq!(slack.channels().len(), 1);
    let ch = &slack.channels()[0];
    assert_eq!(ch.topic, "RESOLVED - web-01 / CPU Load");
    assert_eq!(ch.messages.len(), 2, "{:?}", ch.messages);
    assert!(
        ch.messages[0].text.starts_with("RESOLVED [Critical]"),
        "pinned alert shows the state"
    );
    assert_eq!(ch.pins, [ch.messages[0].ts.clone()]);
    assert!(
        ch.messages[1].text.starts_with("RESOLVED web-01"),
        "recovery after the alert"
    );
    let calls = slack.calls();
    let pos = |m: &str| calls.iter().position(|c| c == m).unwrap();
    assert!(pos("conversations.create") < pos("chat.postMessage"));
    assert!(pos("chat.postMessage") < pos("pins.add"));
    assert!(pos("pins.add") < pos("conversations.setTopic"));
    assert_eq!(
        ilert.events().len(),
        2,
        "flush sends nothing twice to ilert"
    );
}

#[test]
fn odd_channel_templates_are_sanitised_and_names_stay_unique() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-names"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(
        &dir,
        &ilert,
        &slack,
        "channel_template = \"Pandora FMS / Prod #{id} (Ünïcode) & <Co>\"",
    );
    dir.assert_ok(&PandoraAlert::firing("7001").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("7002").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("7001").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("7001").run(&cfg));
    let mut names: Vec<String> = slack.channels().into_iter().map(|c| c.name).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "pandora-fms-prod-7001-n-code-co",
            "pandora-fms-prod-7001-n-code-co-2",
            "pandora-fms-prod-7002-n-code-co",
        ]
    );
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
}

#[test]
fn a_short_retry_after_is_waited_out_and_a_long_one_holds_the_chat_entry() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-429"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    slack.rate_limit_next("chat.postMessage", 1);
    dir.assert_ok(&PandoraAlert::firing("1500").run(&cfg));
    assert_eq!(slack.channels()[0].messages.len(), 1);

    slack.rate_limit_next("conversations.create", 120);
    let out = PandoraAlert::firing("1501").run(&cfg);
    assert_eq!(code(&out), 69, "{}", stderr(&out));
    assert_eq!(
        ilert.events().len(),
        2,
        "ilert is not held by Slack's limit"
    );
    let n = slack.calls().len();
    assert_eq!(code(&run(&cfg, &["flush"])), 69);
    assert_eq!(slack.calls().len(), n, "flush honours Retry-After");
    let status: Value = serde_json::from_slice(&run(&cfg, &["status", "--json"]).stdout).unwrap();
    assert!(
        status
            .to_string()
            .contains("rate limited (retry after 120s)"),
        "{status}"
    );
}

#[test]
fn a_refused_token_dead_letters_the_chat_entry_with_what_to_fix_and_ilert_still_goes() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-auth"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(TOKEN, "xoxb-revoked-0000");
    std::fs::write(&cfg, text).unwrap();
    let out = PandoraAlert::firing("1600").run(&cfg);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert_eq!(ilert.events().len(), 1);
    let reasons = dir.dead_reasons();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].contains("invalid_auth") && reasons[0].contains("[slack] token"),
        "{reasons:?}"
    );
    assert!(!dir.log().contains("xoxb-revoked-0000"), "token leaked");
}

#[test]
fn a_missing_scope_names_the_scope_and_requeue_finishes_the_channel() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-scope"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    let without_pins: Vec<&str> = ALL_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "pins:write")
        .collect();
    slack.set_scopes(&without_pins);
    let out = PandoraAlert::firing("1700").run(&cfg);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    let reasons = dir.dead_reasons();
    assert!(reasons[0].contains("'pins:write'"), "{reasons:?}");
    let ch = slack.channel("pandorafms_alert_1700").unwrap();
    assert_eq!((ch.messages.len(), ch.pins.len()), (1, 0));

    slack.set_scopes(&ALL_SCOPES);
    assert_eq!(code(&run(&cfg, &["requeue"])), 0);
    dir.assert_ok(&run(&cfg, &["flush"]));
    let ch = slack.channel("pandorafms_alert_1700").unwrap();
    assert_eq!(
        (ch.messages.len(), ch.pins.len()),
        (1, 1),
        "no second message"
    );
    assert_eq!(slack.channels().len(), 1);
}

#[test]
fn a_deleted_pinned_message_is_posted_again_on_the_next_refire() {
    let (dir, ilert, slack) = (
        TestDir::new("slack-deleted"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let cfg = config(&dir, &ilert, &slack, "");
    dir.assert_ok(&PandoraAlert::firing("1800").run(&cfg));
    let ch = slack.channels()[0].clone();
    slack.delete_message(&ch.id, &ch.messages[0].ts);
    dir.assert_ok(&PandoraAlert::firing("1800").run(&cfg));
    let ch = slack.channel_by_id(&ch.id).unwrap();
    assert_eq!(ch.messages.len(), 1);
    assert_eq!(ch.pins, [ch.messages[0].ts.clone()]);
    assert!(ch.messages[0].text.contains("Times fired: 2"));
    assert_eq!(
        dir.record("1800")["chat"]["message_id"],
        ch.messages[0].ts.as_str()
    );
    assert!(dir
        .chat_lines("1800")
        .iter()
        .any(|l| l.starts_with("the alert message was gone")));
}
