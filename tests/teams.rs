//! Microsoft Teams incident channels end to end: the real binary run as Pandora runs it, a
//! fake ilert, and a fake identity platform + Graph + Workflows webhook on 127.0.0.1.

mod support;

use std::path::PathBuf;

use serde_json::Value;
use support::botframework::{BOT_APP_ID, BOT_SECRET, TEAMS_APP_ID};
use support::graph::{FakeGraph, CLIENT_ID, CLIENT_SECRET, TEAM, TENANT};
use support::ilert::{FakeIlert, API_TOKEN, KEY};
use support::{code, run, stderr, stdout, ConfigBuilder, PandoraAlert, TestDir};

/// Graph mode; `webhook` adds the Workflows webhook; `teams_extra` goes into `[teams]`.
fn graph_config(
    dir: &TestDir,
    ilert: &FakeIlert,
    graph: &FakeGraph,
    webhook: bool,
    teams_extra: &str,
    route: &str,
) -> PathBuf {
    let webhook = if webhook {
        format!("webhook_url = \"{}\"\n", graph.webhook_url())
    } else {
        String::new()
    };
    ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"6s\"")
        .chat("teams")
        .route(route)
        .tail(&format!(
            "[teams]\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             team_id = \"{TEAM}\"\nlogin_url = \"{}\"\ngraph_url = \"{}\"\n{webhook}{teams_extra}",
            graph.login_url(),
            graph.graph_url(),
        ))
        .write(dir)
}

fn card_text(card: &Value) -> String {
    card.to_string()
}

#[test]
fn graph_mode_creates_a_channel_and_posts_cards_through_the_webhook() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-graph"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = graph_config(&dir, &ilert, &graph, true, "", "invite = \"u-ignored\"");
    dir.assert_ok(&PandoraAlert::firing("6182268").run(&cfg));
    dir.assert_ok(
        &PandoraAlert::firing("6182268")
            .set("--data", "99")
            .run(&cfg),
    );
    dir.assert_ok(&PandoraAlert::recovery("6182268").run(&cfg));

    let channels = graph.channels();
    assert_eq!(channels.len(), 1, "{channels:?}");
    let ch = &channels[0];
    assert_eq!(ch.display_name, "pandorafms_alert_6182268");
    assert_eq!(ch.membership_type, "standard");
    assert_eq!(
        ch.description, "RESOLVED - web-01 / CPU Load (managed by pandora-ilert)",
        "the description is the topic"
    );
    assert_eq!(
        graph.token_requests(),
        1,
        "token cached in the store across runs"
    );
    assert_eq!(graph.message_posts(), 1, "Graph's refusal is remembered");

    let cards = graph.cards();
    assert_eq!(
        cards.len(),
        2,
        "one card when opened, one when resolved: {cards:#?}"
    );
    let first = card_text(&cards[0]);
    assert!(
        first.contains("FIRING [Critical] web-01 / CPU Load"),
        "{first}"
    );
    assert!(first.contains("95.5%"), "{first}");
    assert!(
        first.contains("Incident channel: [pandorafms_alert_6182268]("),
        "the card links the incident channel: {first}"
    );
    assert!(card_text(&cards[1]).contains("RESOLVED web-01 / CPU Load"));

    let log = dir.log();
    assert!(
        log.contains("Microsoft Graph does not let an application post channel messages"),
        "{log}"
    );
    assert!(
        !log.contains(CLIENT_SECRET) && !log.contains("eyJ0eXAi"),
        "secret or token leaked"
    );
    let token_file = std::fs::read_dir(dir.state().join("meta"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("teams-token-"))
        .expect("token cached under meta/");
    assert!(std::fs::read_to_string(token_file.path())
        .unwrap()
        .contains("expires_at"));

    let lines = dir.chat_lines("6182268");
    for want in [
        "opened public channel #pandorafms_alert_6182268",
        "posted alert message: FIRING [Critical] web-01 / CPU Load",
        "topic set to \"FIRING - web-01 / CPU Load\"",
        "topic set to \"RESOLVED - web-01 / CPU Load\"",
        "posted recovery message: RESOLVED web-01 / CPU Load",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "missing {want:?} in {lines:#?}"
        );
    }
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("pinned") || l.starts_with("updated")),
        "Teams has no pin and webhook cards cannot be edited: {lines:#?}"
    );
    assert_eq!(ilert.events().len(), 2);
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn an_expired_token_is_fetched_again_once() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-expiry"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = graph_config(&dir, &ilert, &graph, true, "", "");
    dir.assert_ok(&PandoraAlert::firing("2100").run(&cfg));
    assert_eq!(graph.token_requests(), 1);
    graph.expire_tokens();
    dir.assert_ok(&PandoraAlert::recovery("2100").run(&cfg));
    assert_eq!(
        graph.token_requests(),
        2,
        "one refetch after InvalidAuthenticationToken"
    );
    assert_eq!(
        graph.channels()[0].description,
        "RESOLVED - web-01 / CPU Load (managed by pandora-ilert)"
    );
    assert!(dir.log().contains("fetching a new one"), "{}", dir.log());
}

#[test]
fn a_private_route_creates_a_private_channel_owned_by_the_configured_user() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-private"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = graph_config(
        &dir,
        &ilert,
        &graph,
        true,
        "owner = \"a1b2c3d4-owner\"",
        "private = true\ninvite = [\"u-sec-1\", \"a1b2c3d4-owner\"]",
    );
    dir.assert_ok(&PandoraAlert::firing("2200").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("2200").run(&cfg));
    let ch = &graph.channels()[0];
    assert_eq!(ch.membership_type, "private");
    assert_eq!(
        ch.members,
        [
            ("a1b2c3d4-owner".to_string(), vec!["owner".to_string()]),
            ("u-sec-1".to_string(), vec![]),
        ]
    );
    // The webhook's channel is shared: a private incident's cards say where to look, no more.
    let cards = graph.cards();
    assert_eq!(cards.len(), 2);
    for c in &cards {
        let t = card_text(c);
        assert!(t.contains("Private incident"), "{t}");
        assert!(
            !t.contains("web-01") && !t.contains("CPU") && !t.contains("95.5"),
            "{t}"
        );
    }
    assert!(dir
        .chat_lines("2200")
        .iter()
        .any(|l| l == "opened private channel #pandorafms_alert_2200"));
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn another_server_reuses_the_channel_when_graph_says_the_name_exists() {
    let (ilert, graph) = (FakeIlert::start(), FakeGraph::start());
    let (a, b) = (TestDir::new("teams-a"), TestDir::new("teams-b"));
    let cfg_a = graph_config(&a, &ilert, &graph, true, "", "");
    let cfg_b = graph_config(&b, &ilert, &graph, true, "", "");
    // A channel with another name first, and a foreign one later: the list is paged.
    for n in 0..3 {
        a.assert_ok(&PandoraAlert::firing(&format!("230{n}")).run(&cfg_a));
    }
    b.assert_ok(&PandoraAlert::firing("2302").run(&cfg_b));
    assert_eq!(graph.channels().len(), 3, "{:?}", graph.channels());
    assert_eq!(
        a.record("2302")["chat"]["channel_id"],
        b.record("2302")["chat"]["channel_id"]
    );
    assert!(b.log().contains("reusing it"), "{}", b.log());
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn graph_without_a_webhook_dead_letters_the_post_and_says_why() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-nowebhook"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = graph_config(&dir, &ilert, &graph, false, "", "");
    let out = PandoraAlert::firing("2400").run(&cfg);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert_eq!(ilert.events().len(), 1, "ilert is not held by Teams");
    assert_eq!(graph.channels().len(), 1, "the channel is still created");
    let dead = dir.files("dead");
    assert_eq!(dead.len(), 1);
    let body = std::fs::read_to_string(dir.state().join("dead").join(&dead[0])).unwrap();
    assert!(
        body.contains("import purposes") && body.contains("webhook_url"),
        "{body}"
    );
}

#[test]
fn webhook_mode_posts_one_card_per_state_change_and_creates_nothing() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-webhook"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = dir.config(&format!(
        "alert_deadline = \"6s\"\nrequest_timeout = \"2s\"\n[ilert]\napi_url = \"{}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\nchat = \"teams\"\n\
         [teams]\nwebhook_url = \"{}\"\n",
        ilert.url(),
        graph.webhook_url()
    ));
    dir.assert_ok(&PandoraAlert::firing("2500").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("2500").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("2500").run(&cfg));
    let cards = graph.cards();
    assert_eq!(
        cards.len(),
        2,
        "opened + resolved, nothing on re-fire: {cards:#?}"
    );
    assert_eq!(
        cards[0]["body"][0]["text"],
        "FIRING [Critical] web-01 / CPU Load"
    );
    assert_eq!(cards[0]["body"][0]["color"], "Attention");
    assert_eq!(cards[1]["body"][0]["color"], "Good");
    assert!(
        cards[0]["actions"][0]["url"]
            .as_str()
            .unwrap()
            .starts_with("http://pandora.example/pandora_console"),
        "{}",
        cards[0]
    );
    assert!(graph.graph_calls().is_empty(), "{:?}", graph.graph_calls());
    assert_eq!(graph.token_requests(), 0);
    assert!(dir
        .chat_lines("2500")
        .iter()
        .any(|l| l.starts_with("using the configured channel")));
    assert!(
        !dir.log().contains("sig-Zm9vYmFy"),
        "webhook signature leaked"
    );
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn teams_names_are_sanitised_to_fifty_characters_and_stay_unique() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-names"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = graph_config(
        &dir,
        &ilert,
        &graph,
        true,
        "",
        "channel_template = \"Prod: #{id} / \\\"CPU\\\" <load> for the web farm in Madrid, Spain\"",
    );
    dir.assert_ok(&PandoraAlert::firing("2601").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("2602").run(&cfg));
    let names: Vec<String> = graph
        .channels()
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    assert_eq!(names.len(), 2);
    assert_ne!(names[0], names[1]);
    for n in &names {
        assert!(n.chars().count() <= 50, "{n}");
        assert!(n.starts_with("Prod 260"), "{n}");
    }
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn teams_names_lose_tildes_commas_and_reserved_words() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-reserved"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = graph_config(
        &dir,
        &ilert,
        &graph,
        true,
        "",
        "channel_template = \"CON ~ NUL, alert.. {id} lpt1\"",
    );
    dir.assert_ok(&PandoraAlert::firing("2701").run(&cfg));
    let names: Vec<String> = graph
        .channels()
        .into_iter()
        .map(|c| c.display_name)
        .collect();
    assert_eq!(names, ["alert. 2701"]);
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn doctor_counts_the_teams_channels_and_warns_at_eighty_percent() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-capacity"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    let cfg = graph_config(&dir, &ilert, &graph, true, "", "");
    graph.set_list_page(300);
    graph.add_channels(700, "Project", "", false);
    graph.add_channels(
        98,
        "pandorafms_alert",
        "RESOLVED - x (managed by pandora-ilert)",
        true,
    );
    dir.assert_ok(&PandoraAlert::firing("2801").run(&cfg));
    let doctor = |cfg: &std::path::Path| {
        let out = run(cfg, &["doctor"]);
        format!("{}{}", stdout(&out), stderr(&out))
    };
    let text = doctor(&cfg);
    assert!(
        text.contains("ok    Teams team holds 799 of 1000 channels (99 incident channels of ours, 98 of them archived"),
        "{text}"
    );
    // One more incident: 800 channels, 80 %.
    dir.assert_ok(&PandoraAlert::firing("2802").run(&cfg));
    let text = doctor(&cfg);
    assert!(
        text.contains("WARN  Teams team holds 800 of 1000 channels"),
        "{text}"
    );
    assert!(text.contains("delete archived incident channels"), "{text}");
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

// ---- The Bot Framework bot ----

/// Graph mode with the bot (its fake token endpoint and Bot Connector share the fake Graph's
/// port and team); `webhook` adds the Workflows webhook; `plugin` goes into `[plugin]`.
fn bot_config(
    dir: &TestDir,
    ilert: &FakeIlert,
    graph: &FakeGraph,
    webhook: bool,
    teams_extra: &str,
    route: &str,
    plugin: &str,
) -> PathBuf {
    bot_builder(ilert, graph, webhook, teams_extra, route, plugin).write(dir)
}

/// [`bot_config`] before it is written, for tests that add other sections.
fn bot_builder(
    ilert: &FakeIlert,
    graph: &FakeGraph,
    webhook: bool,
    teams_extra: &str,
    route: &str,
    plugin: &str,
) -> ConfigBuilder {
    let webhook = if webhook {
        format!("webhook_url = \"{}\"\n", graph.webhook_url())
    } else {
        String::new()
    };
    ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"6s\"")
        .set("flush_deadline", "\"10s\"")
        .plugin(&format!("data_in = \"\"\ndeadline = \"15s\"\n{plugin}"))
        .chat("teams")
        .route(route)
        .tail(&format!(
            "[teams]\ntenant_id = \"{TENANT}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             team_id = \"{TEAM}\"\nlogin_url = \"{}\"\ngraph_url = \"{}\"\n{webhook}\
             bot_app_id = \"{BOT_APP_ID}\"\nbot_secret = \"{BOT_SECRET}\"\n\
             bot_service_url = \"{}\"\nbot_token_url = \"{}\"\nbot_teams_app_id = \"{TEAMS_APP_ID}\"\n{teams_extra}",
            graph.login_url(),
            graph.graph_url(),
            graph.bot_service_url(),
            graph.bot_token_url(),
        ))
}

fn doctor_text(cfg: &std::path::Path) -> String {
    let out = run(cfg, &["doctor"]);
    format!("{}{}", stdout(&out), stderr(&out))
}

#[test]
fn the_bot_posts_the_card_in_the_incident_channel_and_edits_it_in_place() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-bot"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    graph.bot_allow(true, false);
    let cfg = bot_config(&dir, &ilert, &graph, true, "", "", "");
    dir.assert_ok(&PandoraAlert::firing("3100").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("3100").set("--data", "99").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("3100").run(&cfg));

    let channel = graph.channels()[0].clone();
    let threads = graph.bot(|b| b.threads.clone());
    assert_eq!(threads.len(), 1, "one thread: {threads:#?}");
    let t = &threads[0];
    assert_eq!(
        t.channel, channel.id,
        "the thread is in the incident channel"
    );
    let (card_id, first) = &t.activities[0];
    // The record keeps the conversation and the activity, as Slack's record keeps `ts`.
    assert_eq!(
        dir.record("3100")["chat"]["message_id"],
        format!("{}|{card_id}", t.conversation)
    );
    let puts = graph.bot(|b| b.puts.clone());
    assert!(
        puts.len() >= 2,
        "re-fire and recovery edit the card: {puts:?}"
    );
    assert!(
        puts.iter()
            .all(|(c, a)| *c == t.conversation && a == card_id),
        "always the same card: {puts:?}"
    );
    let card = first.to_string();
    assert!(
        card.contains("RESOLVED"),
        "the card shows the recovery: {card}"
    );
    assert!(
        !card.contains("Incident channel:"),
        "it is in the channel: {card}"
    );
    // The recovery is a reply in the card's thread.
    assert_eq!(graph.bot(|b| b.replies), 1);
    assert!(t.activities[1]
        .1
        .to_string()
        .contains("RESOLVED web-01 / CPU Load"));
    assert!(graph.cards().is_empty(), "nothing through the webhook");
    assert_eq!(graph.message_posts(), 0, "Graph is not asked to post");
    assert_eq!(
        graph.bot(|b| b.token_requests),
        1,
        "the bot's token is cached in the store across runs"
    );
    assert_eq!(graph.bot(|b| b.install_requests), 1, "installed once");
    assert!(graph.bot(|b| b.installed));

    let lines = dir.chat_lines("3100");
    for want in [
        "posted alert message: FIRING [Critical] web-01 / CPU Load",
        "updated alert message",
        "posted recovery message: RESOLVED web-01 / CPU Load",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(want)),
            "missing {want:?} in {lines:#?}"
        );
    }
    let log = dir.log();
    assert!(
        !log.contains(BOT_SECRET) && !log.contains("eyJib3Qi") && !log.contains(CLIENT_SECRET),
        "a secret or token leaked: {log}"
    );
    let meta = dir.state().join("meta");
    let token_file = std::fs::read_dir(&meta)
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("teams-bot-token-")
        })
        .expect("bot token cached under meta/");
    assert!(std::fs::read_to_string(token_file.path())
        .unwrap()
        .contains("expires_at"));
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
    let text = doctor_text(&cfg);
    assert!(text.contains("Teams bot 7c1e5a2b"), "{text}");
    assert!(text.contains("is installed in the team"), "{text}");
}

/// The documented limit (docs/chat.md, "Two Pandora servers"): the Bot Connector lists no
/// channel threads and Graph reads channel messages only with a protected permission, so a
/// second server that adopts the channel cannot find the first card and starts its own; each
/// server then keeps its own card up to date, and the log says why.
#[test]
fn a_second_server_with_the_bot_shares_the_channel_but_starts_its_own_card() {
    let (ilert, graph) = (FakeIlert::start(), FakeGraph::start());
    graph.bot_allow(true, false);
    let (a, b) = (TestDir::new("teams-two-a"), TestDir::new("teams-two-b"));
    let cfg_a = bot_config(&a, &ilert, &graph, true, "", "", "");
    let cfg_b = bot_config(&b, &ilert, &graph, true, "", "", "");
    a.assert_ok(&PandoraAlert::firing("3150").run(&cfg_a));
    b.assert_ok(&PandoraAlert::firing("3150").run(&cfg_b));
    a.assert_ok(&PandoraAlert::recovery("3150").run(&cfg_a));

    assert_eq!(graph.channels().len(), 1, "one channel");
    assert_eq!(
        a.record("3150")["chat"]["channel_id"],
        b.record("3150")["chat"]["channel_id"]
    );
    let threads = graph.bot(|b| b.threads.clone());
    assert_eq!(threads.len(), 2, "a card thread per server: {threads:#?}");
    assert!(
        b.log().contains("the bot cannot read its cards back"),
        "{}",
        b.log()
    );
    // The recovery on the first server edits its own card and replies once in its thread.
    assert_eq!(graph.bot(|b| b.replies), 1);
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn an_acknowledgement_in_ilert_is_a_reply_in_the_cards_thread_and_edits_the_card() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-bot-mirror"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    graph.bot_allow(true, false);
    let cfg = bot_builder(&ilert, &graph, true, "", "", "")
        .ilert(&format!(
            "api_token = \"{API_TOKEN}\"\nweb_url = \"https://acme.ilert.example\""
        ))
        .write(&dir);
    dir.assert_ok(&PandoraAlert::firing("3150").run(&cfg));
    ilert.accept_as("3150", "Jane", "Doe");
    support::plugin(&cfg);
    support::plugin(&cfg);
    let threads = graph.bot(|b| b.threads.clone());
    assert_eq!(
        threads.len(),
        1,
        "updates stay in the card's thread: {threads:#?}"
    );
    let t = &threads[0];
    let told: Vec<String> = t.activities[1..]
        .iter()
        .map(|(_, a)| card_text(a))
        .filter(|text| text.contains("Acknowledged in ilert by Jane Doe."))
        .collect();
    assert_eq!(told.len(), 1, "one reply per change: {:#?}", t.activities);
    let (card_id, card) = &t.activities[0];
    assert!(
        card_text(card).contains("acknowledged by Jane Doe"),
        "the card shows ilert's state in place: {card}"
    );
    let puts = graph.bot(|b| b.puts.clone());
    assert!(
        puts.iter()
            .all(|(c, a)| *c == t.conversation && a == card_id),
        "{puts:?}"
    );
    assert!(graph.cards().is_empty(), "nothing through the webhook");
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn the_bot_refused_in_a_private_channel_posts_without_details_through_the_webhook() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-bot-private"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    graph.bot_allow(true, false);
    let cfg = bot_config(
        &dir,
        &ilert,
        &graph,
        true,
        "owner = \"a1b2c3d4-owner\"",
        "private = true",
        "",
    );
    dir.assert_ok(&PandoraAlert::firing("3200").run(&cfg));
    dir.assert_ok(&PandoraAlert::firing("3200").set("--data", "99").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("3200").run(&cfg));
    assert!(graph.bot(|b| b.refusals) >= 1, "the bot was refused");
    // The event log is truthful: a webhook card is never edited, so no line says it was.
    let lines = dir.chat_lines("3200");
    assert!(
        !lines.iter().any(|l| l.starts_with("updated alert message")),
        "nothing was edited: {lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(
            "alert message not edited (its card went through the Teams webhook, which cannot \
             edit it): FIRING"
        ) && l.ends_with("(fired 2 times)")),
        "the re-fire says why the card stays as posted: {lines:#?}"
    );
    assert!(graph.bot(|b| b.puts.is_empty()), "no edit was attempted");
    assert!(graph.bot(|b| b.threads.is_empty()));
    let cards = graph.cards();
    assert_eq!(cards.len(), 2, "opened and resolved, through the webhook");
    for c in &cards {
        let t = card_text(c);
        assert!(t.contains("Private incident"), "{t}");
        assert!(!t.contains("web-01") && !t.contains("95.5"), "{t}");
    }
    assert!(dir.files("dead").is_empty(), "no dead letter");
    assert!(
        dir.log()
            .contains("refused in the private channel 'pandorafms_alert_3200'"),
        "{}",
        dir.log()
    );
    let status = stdout(&run(&cfg, &["status"]));
    assert!(
        status.contains(
            "WARNING the Teams bot was refused in the private channel 'pandorafms_alert_3200'"
        ) && status.contains("through the webhook without details"),
        "{status}"
    );
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn install_refused_dead_letters_with_the_fix_and_doctor_says_what_the_admin_must_do() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-bot-install"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    graph.bot_allow(false, false);
    let cfg = bot_config(&dir, &ilert, &graph, true, "", "", "");
    let out = PandoraAlert::firing("3300").run(&cfg);
    assert_eq!(code(&out), 78, "{}", stderr(&out));
    assert_eq!(ilert.events().len(), 1, "ilert is not held by Teams");
    let dead = dir.files("dead");
    assert_eq!(dead.len(), 1);
    let body = std::fs::read_to_string(dir.state().join("dead").join(&dead[0])).unwrap();
    assert!(
        body.contains("BotNotInConversationRoster")
            && body.contains("TeamsAppInstallation.ReadWriteSelfForTeam.All"),
        "{body}"
    );
    let text = doctor_text(&cfg);
    for want in [
        "Teams bot: cannot read the team's apps (HTTP 403)",
        "the last attempt to install it was refused",
        "TeamsAppInstallation.ReadWriteSelfForTeam.All with admin consent",
        "Manage team, Apps",
    ] {
        assert!(text.contains(want), "missing {want:?}: {text}");
    }
    assert!(
        stdout(&run(&cfg, &["status"])).contains("Graph refused to install the bot's Teams app")
    );
    // The admin grants the permission a day later: the next delivery installs and posts.
    graph.bot_allow(true, false);
    let meta = dir.state().join("meta").join("teams-bot-install");
    let stale = std::fs::read_to_string(&meta)
        .unwrap()
        .replace("\"at\":\"20", "\"at\":\"19");
    std::fs::write(&meta, stale).unwrap();
    assert_eq!(code(&run(&cfg, &["requeue"])), 0);
    assert_eq!(code(&run(&cfg, &["flush"])), 0);
    assert_eq!(
        graph.bot(|b| b.threads.len()),
        1,
        "posted after the install"
    );
    assert!(doctor_text(&cfg).contains("is installed in the team"));
}

#[test]
fn the_plugin_counts_the_team_and_warns_at_eighty_percent_in_status_and_its_module() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-bot-capacity"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    graph.bot_allow(true, false);
    graph.set_list_page(300);
    graph.add_channels(790, "Project", "", false);
    let cfg = bot_config(&dir, &ilert, &graph, false, "", "", "");
    dir.assert_ok(&PandoraAlert::firing("3400").run(&cfg));
    let plugin = stdout(&run(&cfg, &["plugin"]));
    let status = stdout(&run(&cfg, &["status"]));
    assert!(
        status.contains("Teams team holds 791 of 1000 channels (1 incident channels of ours")
            && !status.contains("WARNING Teams team"),
        "{status}"
    );
    assert!(plugin.contains("Teams team holds 791 of 1000"), "{plugin}");
    for n in 1..10 {
        dir.assert_ok(&PandoraAlert::firing(&format!("34{n:02}")).run(&cfg));
    }
    std::fs::remove_file(dir.state().join("meta").join("last-archive-scan")).unwrap();
    let plugin = stdout(&run(&cfg, &["plugin"]));
    let status = stdout(&run(&cfg, &["status"]));
    assert!(
        status.contains(
            "WARNING Teams team holds 800 of 1000 channels (10 incident channels of ours"
        ),
        "{status}"
    );
    assert!(status.contains("delete_archived_after"), "{status}");
    let module = plugin
        .split("<module>")
        .find(|m| m.contains("Teams team holds 800"))
        .unwrap_or_else(|| panic!("no teams module: {plugin}"));
    assert!(
        module.contains("<name><![CDATA[pandora-ilert teams]]></name>")
            && module.contains("<status>WARNING</status>"),
        "{module}"
    );
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn the_plugin_deletes_archived_incident_channels_after_the_configured_age() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-bot-delete"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    graph.bot_allow(true, false);
    let cfg = bot_config(
        &dir,
        &ilert,
        &graph,
        false,
        "delete_archived_after = \"7d\"",
        "",
        "archive_after = \"0s\"",
    );
    dir.assert_ok(&PandoraAlert::firing("3500").run(&cfg));
    dir.assert_ok(&PandoraAlert::recovery("3500").run(&cfg));
    run(&cfg, &["plugin"]);
    assert!(graph.channels()[0].archived, "archived first");
    assert!(
        graph.deleted().is_empty(),
        "not deleted yet: archived just now"
    );
    // Eight days later (the record says when it was archived).
    let path = dir.state().join("incidents").join("3500.json");
    let mut rec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    rec["incident"]["chat"]["archived_at"] = Value::from("2020-01-01T00:00:00Z");
    std::fs::write(&path, rec.to_string()).unwrap();
    std::fs::remove_file(dir.state().join("meta").join("last-archive-scan")).unwrap();
    run(&cfg, &["plugin"]);
    let id = dir.record("3500")["chat"]["channel_id"].clone();
    assert_eq!(graph.deleted(), [id.as_str().unwrap().to_string()]);
    assert!(graph.channels().is_empty());
    assert!(dir.record("3500")["chat"]["extra"]["teams_deleted_at"].is_string());
    assert!(
        dir.chat_lines("3500")
            .iter()
            .any(|l| l == "deleted archived channel #pandorafms_alert_3500"),
        "{:?}",
        dir.chat_lines("3500")
    );
    // A deleted channel still counts for 30 days.
    let status = stdout(&run(&cfg, &["status"]));
    assert!(
        status.contains("Teams team holds 1 of 1000 channels (0 incident channels of ours, 0 of them archived; 1 deleted by us"),
        "{status}"
    );
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}

#[test]
fn a_refused_bot_token_is_fetched_again_once_and_a_deleted_card_is_posted_again() {
    let (dir, ilert, graph) = (
        TestDir::new("teams-bot-expiry"),
        FakeIlert::start(),
        FakeGraph::start(),
    );
    graph.bot_allow(true, false);
    let cfg = bot_config(&dir, &ilert, &graph, false, "", "", "");
    dir.assert_ok(&PandoraAlert::firing("3600").run(&cfg));
    graph.expire_bot_tokens();
    dir.assert_ok(&PandoraAlert::firing("3600").set("--data", "99").run(&cfg));
    assert_eq!(
        graph.bot(|b| b.token_requests),
        2,
        "one refetch after the 401"
    );
    assert_eq!(
        graph.bot(|b| b.puts.len()),
        1,
        "the re-fire edited the card"
    );
    assert!(dir.log().contains("refused the token; fetching a new one"));
    // Someone deletes the card: the next change posts it again, as a new thread.
    graph.delete_bot_cards();
    dir.assert_ok(&PandoraAlert::recovery("3600").run(&cfg));
    let threads = graph.bot(|b| b.threads.clone());
    assert_eq!(threads.len(), 2, "{threads:#?}");
    let again = threads[1].activities[0].1.to_string();
    assert!(again.contains("RESOLVED"), "{again}");
    assert_eq!(
        dir.record("3600")["chat"]["message_id"],
        format!("{}|{}", threads[1].conversation, threads[1].activities[0].0)
    );
    assert!(dir
        .chat_lines("3600")
        .iter()
        .any(|l| l.starts_with("the alert message was gone")));
    assert!(graph.violations().is_empty(), "{:?}", graph.violations());
}
