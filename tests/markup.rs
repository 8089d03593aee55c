//! Text and links from monitored hosts, end to end through the real binary: whoever controls
//! a monitored host writes alert text, so no platform may render it as a link, a mention or a
//! ping, and a console URL that is not a web URL never becomes a link.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::graph::FakeGraph;
use support::ilert::FakeIlert;
use support::slack::FakeSlack;
use support::{code, stderr, ConfigBuilder, PandoraAlert, TestDir};

/// What an attacker who controls a monitored host can put in an agent name and a module name.
const HOSTILE_AGENT: &str = "<!channel> web-01 & <@U0AAA0001>";
const HOSTILE_MODULE: &str = "[Reset your password](https://evil.example/login)";

fn ilert_config(dir: &TestDir, ilert_url: &str, route_extra: &str, extra: &str) -> PathBuf {
    ConfigBuilder::at(ilert_url)
        .set("alert_deadline", "\"6s\"")
        .route(route_extra)
        .tail(extra)
        .write(dir)
}

fn hostile_firing(id: &str) -> PandoraAlert {
    PandoraAlert::firing(id)
        .set("--agent", HOSTILE_AGENT)
        .set("--module", HOSTILE_MODULE)
}

#[test]
fn slack_topics_purposes_and_messages_carry_no_mention_from_the_host() {
    let (dir, ilert, slack) = (
        TestDir::new("markup-slack"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let section = format!(
        "[slack]\ntoken = \"{}\"\napi_url = \"{}\"",
        support::slack::TOKEN,
        slack.url()
    );
    let cfg = ilert_config(&dir, &ilert.url(), "chat = \"slack\"", &section);
    dir.assert_ok(&hostile_firing("7900").run(&cfg));
    assert!(slack.violations().is_empty(), "{:?}", slack.violations());
    let sent: Vec<Value> = slack
        .server
        .requests()
        .iter()
        .filter(|r| {
            r.path.ends_with("conversations.setTopic")
                || r.path.ends_with("conversations.setPurpose")
                || r.path.ends_with("chat.postMessage")
        })
        .map(|r| r.json())
        .collect();
    assert!(sent.len() >= 3, "{sent:?}");
    for body in &sent {
        // A `plain_text` header shows its text literally (Block Kit reference: plain_text
        // is not parsed for mentions), so only mrkdwn and topics/purposes are checked.
        let mut body = body.clone();
        if let Some(blocks) = body["blocks"].as_array_mut() {
            blocks.retain(|b| b["type"] != "header");
        }
        let text = body.to_string();
        // Slack reads `<!channel>` and `<@U…>` as mentions and `<url|text>` as links; every
        // `<` from the host arrives as `&lt;` (api.slack.com/reference/surfaces/formatting).
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<@U0AAA0001>"), "{text}");
    }
    let topic = sent
        .iter()
        .find_map(|b| b["topic"].as_str())
        .expect("a topic was set");
    assert!(
        topic.contains("&lt;!channel&gt; web-01 &amp; &lt;@U0AAA0001&gt;"),
        "{topic}"
    );
    // Slack shows the text as the host wrote it.
    let ch = slack.channels().into_iter().next().expect("a channel");
    assert!(ch.topic.contains(HOSTILE_AGENT), "{}", ch.topic);
}

#[test]
fn teams_cards_render_no_link_from_the_host() {
    let (dir, ilert, graph) = (
        TestDir::new("markup-teams"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let section = format!("[teams]\nwebhook_url = \"{}\"", graph.webhook_url());
    let cfg = ilert_config(&dir, &ilert.url(), "chat = \"teams\"", &section);
    dir.assert_ok(&hostile_firing("7901").run(&cfg));
    let cards = graph.cards();
    assert_eq!(cards.len(), 1, "{cards:?}");
    let card = cards[0].to_string();
    // Adaptive Card TextBlocks and facts render Markdown: `[text](url)` would be a link
    // (learn.microsoft.com/adaptive-cards/authoring-cards/text-features).
    assert!(!card.contains("](https://evil"), "{card}");
    assert!(card.contains("Reset your password"), "{card}");
}

#[test]
fn a_homeurl_that_is_no_web_url_is_dropped_from_links_but_the_alert_goes_out() {
    let (dir, ilert) = (TestDir::new("homeurl"), FakeIlert::start());
    let cfg = ilert_config(&dir, &ilert.url(), "", "");
    let long = format!("https://pandora.example/{}", "x".repeat(3500));
    for (id, url) in [
        ("7800", "javascript:alert(document.cookie)"),
        ("7801", long.as_str()),
    ] {
        let out = PandoraAlert::firing(id).set("--homeurl", url).run(&cfg);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(dir.log().contains("ignored for links"), "{}", dir.log());
    }
    let got = ilert.accepted();
    assert_eq!(got.len(), 2);
    for e in &got {
        let links = e["links"].to_string();
        assert!(
            !links.contains("javascript:") && !links.contains("xxxx"),
            "{links}"
        );
    }
}

#[test]
fn a_long_homeurl_never_costs_the_slack_message() {
    let (dir, ilert, slack) = (
        TestDir::new("homeurl-slack"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let section = format!(
        "[slack]\ntoken = \"{}\"\napi_url = \"{}\"",
        support::slack::TOKEN,
        slack.url()
    );
    let cfg = ilert_config(&dir, &ilert.url(), "chat = \"slack\"", &section);
    let long = format!("https://pandora.example/{}", "x".repeat(3500));
    let out = PandoraAlert::firing("7902")
        .set("--homeurl", &long)
        .run(&cfg);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(dir.dead_reasons().is_empty(), "{:?}", dir.dead_reasons());
    let ch = slack.channel("pandorafms_alert_7902").expect("channel");
    assert_eq!(ch.pins.len(), 1, "the alert message was posted and pinned");
}
