//! The parts of the backend the command line cannot drive yet (archive and history are
//! called by the lifecycle and timeline work that comes later), run against the real Synapse
//! of `tests/harness/synapse.sh`. Like tests/matrix.rs they fail, with the way to start the
//! server, when its environment is missing.

use super::*;
use crate::config::Secret;

const HOW_TO_START: &str = "run `bash tests/harness/synapse.sh start && source .cache/synapse-run/env` before `cargo test` (or run tests/run.sh)";

fn env(k: &str) -> String {
    std::env::var(k)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            panic!("{k} is not set: this test needs the Synapse homeserver; {HOW_TO_START}")
        })
}

fn config(token_var: &str) -> MatrixConfig {
    MatrixConfig {
        homeserver: env("MATRIX_HOMESERVER"),
        access_token: Secret::new(env(token_var)),
        server_name: env("MATRIX_SERVER_NAME"),
    }
}

fn backend<'a>(config: &'a MatrixConfig, http: &'a Http) -> Matrix<'a> {
    Matrix {
        config,
        http,
        request_timeout: Duration::from_secs(10),
        deadline: Deadline::after(Duration::from_secs(60)),
        server_name: None,
    }
}

fn spec(name: &str) -> ChannelSpec {
    ChannelSpec {
        name: name.to_string(),
        private: false,
        topic: "FIRING - web-01 / CPU Load".into(),
        description: String::new(),
    }
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        Timestamp::now().millis()
    )
}

fn alert(title: &str) -> ChatMessage {
    ChatMessage {
        kind: MessageKind::Alert,
        title: title.into(),
        fields: Vec::new(),
        links: Vec::new(),
        text: title.into(),
    }
}

#[test]
fn archive_makes_the_room_read_only_and_drops_its_alias() {
    let http = Http::new();
    let (bot_cfg, alice_cfg) = (config("MATRIX_BOT_TOKEN"), config("MATRIX_ALICE_TOKEN"));
    let mut bot = backend(&bot_cfg, &http);
    let mut alice = backend(&alice_cfg, &http);
    let ch = bot.open_channel(&spec(&unique("archive"))).unwrap();
    let alias = format!("#{}", ch.name);
    bot.invite(&ch, &[env("MATRIX_ALICE_USER")]).unwrap();
    alice.join(&ch.id).unwrap();
    bot.post(&ch, &alert("FIRING web-01")).unwrap();

    bot.archive(&ch).unwrap();
    bot.archive(&ch).unwrap(); // already archived: nothing left to do, still success

    let path = format!("/directory/room/{}", encode_component(&alias));
    assert!(
        matches!(alice.call("GET", &path, None), Err(Failure::Api(e)) if e.errcode == "M_NOT_FOUND"),
        "the alias still resolves"
    );
    let canonical = alice.state(&ch.id, "m.room.canonical_alias").unwrap();
    assert!(
        canonical
            .as_ref()
            .map(aliases_of)
            .unwrap_or_default()
            .is_empty(),
        "{canonical:?}"
    );
    let rules = alice.state(&ch.id, "m.room.join_rules").unwrap().unwrap();
    assert_eq!(rules["join_rule"], "invite");
    let said = alice.send(
        &ch.id,
        &unique("alice"),
        json!({"msgtype": "m.text", "body": "hi"}),
    );
    assert!(
        matches!(&said, Err(ChatError::Permanent(m)) if m.contains("M_FORBIDDEN")),
        "a responder can still post: {said:?}"
    );
    // The history stays readable.
    let items = alice.history(&ch).unwrap();
    assert_eq!(
        items.first().map(|i| i.text.as_str()),
        Some("FIRING web-01")
    );
}

#[test]
fn history_reads_every_page_oldest_first_with_pins_and_edits() {
    let http = Http::new();
    let bot_cfg = config("MATRIX_BOT_TOKEN");
    let mut bot = backend(&bot_cfg, &http);
    let ch = bot.open_channel(&spec(&unique("history"))).unwrap();
    let first = bot.post(&ch, &alert("FIRING web-01")).unwrap();
    bot.pin(&ch, &first).unwrap();
    bot.pin(&ch, &first).unwrap();
    // More than one page.
    let n = HISTORY_PAGE as usize + 5;
    for i in 0..n {
        let txn = format!("{}-{i}", unique("line"));
        bot.send(
            &ch.id,
            &txn,
            json!({"msgtype": "m.text", "body": format!("line {i}")}),
        )
        .unwrap();
    }
    bot.update(&ch, &first, &alert("RESOLVED web-01")).unwrap();

    let items = bot.history(&ch).unwrap();
    assert_eq!(
        items.len(),
        n + 2,
        "{:?}",
        items.iter().map(|i| &i.text).collect::<Vec<_>>()
    );
    assert_eq!(items[0].id, first);
    assert!(items[0].pinned);
    assert_eq!(items[0].author, env("MATRIX_BOT_USER"));
    assert_eq!(items[1].text, "line 0");
    assert_eq!(items[n].text, format!("line {}", n - 1));
    assert_eq!(items[n + 1].text, "(edit) RESOLVED web-01");
    assert!(items.windows(2).all(|w| w[0].at <= w[1].at), "oldest first");
    assert_eq!(items.iter().filter(|i| i.pinned).count(), 1);
}
