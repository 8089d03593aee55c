//! Fuzz targets for everything Pandora and the disk hand us (issue #11): the argv → `Alert`
//! parser, the agent-data reader, the config parser and the store's file readers. The bar is
//! zero panics, plus the invariants each target states.
//!
//! Why property tests (`proptest`) and not cargo-fuzz: cargo-fuzz needs a nightly toolchain
//! and a separate crate, and its targets do not run in `cargo test`; this project builds on
//! stable, and a target that only runs when someone remembers to is not keeping anything
//! fixed. proptest runs every target in the normal suite for a bounded number of cases (64),
//! shrinks a failure to a minimal input, and keeps it in `proptest-regressions/` so it is
//! replayed on every later run. The long run is the same tests with more cases:
//!
//! ```sh
//! PROPTEST_CASES=100000 cargo test --release --bin pandora-ilert fuzz::
//! ```
//!
//! Inputs mix raw bytes with fragments of the real formats (option names, tags, entities,
//! CDATA, config keys): pure noise is rejected at the first byte and would test little.

use std::path::Path;

use clap::Parser;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::pandora::agent_data;
use crate::pandora::argv::decode_args;
use crate::pandora::Alert;
use crate::store::Store;
use crate::time::Timestamp;

/// 64 cases per target in the normal suite; `PROPTEST_CASES` sets more for a long run.
fn cases() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

#[cfg(unix)]
fn os(bytes: &[u8]) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(bytes.to_vec())
}

/// The options of `alert` that take a value.
const ALERT_OPTIONS: [&str; 19] = [
    "--event",
    "--alert-id",
    "--agent",
    "--module",
    "--data",
    "--unit",
    "--severity",
    "--priority",
    "--summary",
    "--details",
    "--timestamp",
    "--group",
    "--tags",
    "--alert-name",
    "--homeurl",
    "--agent-id",
    "--module-id",
    "--address",
    "--times-fired",
];

/// Bytes Pandora can put in a value: anything, weighted towards its real quirks.
fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..12),
        prop::sample::select(vec![
            b"[RECOVER]".to_vec(),
            b"\xe9".to_vec(),
            b"\xb0".to_vec(),
            "é".as_bytes().to_vec(),
            b"{id}".to_vec(),
            b"{agent}".to_vec(),
            b"_agent_".to_vec(),
            b"N/A".to_vec(),
            b"-".to_vec(),
            b"--".to_vec(),
            b"=".to_vec(),
            b"alert".to_vec(),
            b"resolved".to_vec(),
            b"Critical".to_vec(),
            b"42".to_vec(),
            b"2026/11/24 02:21:59".to_vec(),
            b"2026-02-31 -1:61:60".to_vec(),
            b"99999999999999999999/1/1 0:0:0".to_vec(),
            b"\n".to_vec(),
            b"'\"".to_vec(),
        ]),
    ];
    prop::collection::vec(fragment, 0..6).prop_map(|parts| parts.concat())
}

/// Decodes argv, parses it with clap, and takes an `alert` through the pure core: the
/// Alert, its summary, its route, its plan and the ilert request.
fn alert_from_argv(args: Vec<std::ffi::OsString>, config: &Config) -> Result<(), TestCaseError> {
    let decoded = decode_args(args);
    let Ok(cli) = Cli::try_parse_from(&decoded.args) else {
        return Ok(());
    };
    let Command::Alert(args) = cli.command else {
        return Ok(());
    };
    let Ok(alert) = Alert::from_input(&args.input(), &config.alert_key_prefix) else {
        return Ok(());
    };
    if let Some(iso) = &alert.timestamp_iso {
        prop_assert!(iso.len() == 19 && iso.is_ascii(), "timestamp {iso:?}");
    }
    prop_assert!(!alert.key.is_empty());
    let _ = (alert.subject(), alert.value());
    let _ = crate::ilert::render_template(&config.summary_template, &alert);
    if let Some(route) = crate::routing::select(config, &alert, None) {
        let plan = crate::lifecycle::plan(None, &alert, route, config, Timestamp::now());
        for action in &plan.actions {
            if let crate::lifecycle::Action::Ilert(event) = action {
                if let Some(source) = config.source(&event.source) {
                    let _ = crate::ilert::redacted_request(config, source, event);
                }
            }
        }
    }
    Ok(())
}

fn test_config() -> Config {
    Config::parse(
        Path::new("/fuzz.toml"),
        "state_dir = \"/nonexistent/fuzz\"\n[ilert]\napi_url = \"http://127.0.0.1:9\"\n\
         [[route]]\nname = \"crit\"\nseverities = \"Critical\"\nilert_key = \"il1crit\"\n\
         summary_template = \"{agent}{id}{value}{nope}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"il1default\"\n",
    )
    .expect("the fuzz config parses")
}

proptest! {
    #![proptest_config(cases())]

    /// Any bytes in any `alert` option: clap accepts the line (never exit 64 for
    /// encoding), and the alert is either built or refused with an `InputError`.
    #[cfg(unix)]
    #[test]
    fn argv_values_of_any_bytes_reach_the_alert_parser(
        values in prop::collection::btree_map(0..ALERT_OPTIONS.len(), value_bytes(), 0..10)
    ) {
        let config = test_config();
        let mut args = vec![os(b"pandora-ilert"), os(b"alert")];
        for (option, value) in &values {
            args.push(os(ALERT_OPTIONS[*option].as_bytes()));
            args.push(os(value));
        }
        let decoded = decode_args(args.clone());
        let parsed = Cli::try_parse_from(&decoded.args);
        prop_assert!(parsed.is_ok(), "clap refused {:?}: {}", decoded.args, parsed.err().unwrap());
        alert_from_argv(args, &config)?;
    }

    /// Arbitrary words, options or not: whatever clap says, nothing panics.
    #[cfg(unix)]
    #[test]
    fn argv_of_arbitrary_words_never_panics(
        words in prop::collection::vec(
            prop_oneof![
                value_bytes(),
                prop::sample::select(ALERT_OPTIONS.to_vec()).prop_map(|o| o.as_bytes().to_vec()),
                prop::sample::select(vec!["alert", "--dry-run", "--route", "--macro", "status", "xml", "--config"])
                    .prop_map(|o| o.as_bytes().to_vec()),
            ],
            0..14,
        )
    ) {
        let config = test_config();
        let mut args = vec![os(b"pandora-ilert")];
        args.extend(words.iter().map(|w| os(w)));
        alert_from_argv(args, &config)?;
    }

    /// Any bytes as an agent data file: no panic, every error located, never more modules
    /// than `<module` tags.
    #[test]
    fn agent_data_of_any_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        check_agent_data(&bytes)?;
    }

    /// Fragments of real agent data in any order and nesting.
    #[test]
    fn agent_data_of_shuffled_fragments_never_panics(
        parts in prop::collection::vec(prop::sample::select(XML_FRAGMENTS.to_vec()), 0..60)
    ) {
        check_agent_data(&parts.concat())?;
    }

    /// Any text as the config file: a config or an error with a plausible line, and the
    /// parts `config check` shows never panic.
    #[test]
    fn config_of_any_text_never_panics(text in "\\PC{0,200}") {
        check_config(&text)?;
    }

    /// A valid config with lines of real keys and odd values inserted anywhere.
    #[test]
    fn config_with_odd_values_for_real_keys_never_panics(
        inserts in prop::collection::vec(
            (0usize..12, prop::sample::select(CONFIG_KEYS.to_vec()), prop::sample::select(CONFIG_VALUES.to_vec())),
            0..6,
        )
    ) {
        let mut lines: Vec<String> = BASE_CONFIG.lines().map(str::to_string).collect();
        for (at, key, value) in inserts {
            lines.insert(at.min(lines.len()), format!("{key} = {value}"));
        }
        check_config(&lines.join("\n"))?;
    }

    /// Any bytes in any store file, under any name: the readers (and `status`) skip or
    /// quarantine what they cannot read and never panic.
    #[test]
    fn store_files_of_any_bytes_never_panic(
        files in prop::collection::vec(
            (
                prop::sample::select(vec!["incidents", "history", "inbox", "outbox", "dead", "events", "meta"]),
                odd_name().prop_filter("a file name", |n| !n.is_empty() && !n.contains(['/', '\0'])),
                prop::collection::vec(any::<u8>(), 0..200),
            ),
            1..6,
        ),
        keys in prop::collection::vec("\\PC{0,12}", 0..3),
    ) {
        check_store(&files, &keys)?;
    }

    /// A Slack `ts` is read from the server's answer: any text converts without panicking.
    #[test]
    fn slack_ts_of_any_text_never_panics(ts in prop_oneof!["\\PC{0,30}", "[0-9]{0,22}\\.(é|[0-9]|x|\\.){0,5}"]) {
        let _ = crate::chat::slack::ts_to_timestamp(&ts);
    }

    /// Store file names (incident keys) decode whatever bytes follow a `%`.
    #[test]
    fn store_key_decoding_never_panics(name in odd_name()) {
        let _ = crate::store::decode_key(&name);
        let encoded = crate::store::encode_key(&name);
        // `~` is always escaped, so a bare one marks a long key cut and hashed: no round trip.
        if !encoded.contains('~') {
            prop_assert_eq!(crate::store::decode_key(&encoded), name);
        }
    }
}

/// Names and keys: any text, or text made of what trips percent-decoding (`%` before a
/// multi-byte character, as in the outbox file `1.%aé.json`).
fn odd_name() -> impl Strategy<Value = String> {
    prop_oneof!["\\PC{0,40}", "(%|[0-9a-fA-F]|é|𝄞|\\.|~|1){0,20}"]
}

const XML_FRAGMENTS: [&[u8]; 34] = [
    b"<?xml version='1.0' encoding='UTF-8'?>",
    b"<?xml version='1.0' encoding='ISO-8859-1'?>",
    b"<agent_data agent_name='a' agent_alias='A' group='G' timestamp='2026/11/24 07:47:09'>",
    b"<agent_data agent_name='",
    b"</agent_data>",
    b"<module>",
    b"</module>",
    b"<name>",
    b"</name>",
    b"<type>generic_data</type>",
    b"<type>generic_proc</type>",
    b"<type>generic_data_string</type>",
    b"<data>",
    b"</data>",
    b"<![CDATA[",
    b"]]>",
    b"<status>CRITICAL</status>",
    b"<min_critical>90</min_critical>",
    b"<max_critical>-1e999</max_critical>",
    b"<critical_inverse>1</critical_inverse>",
    b"<datalist>",
    b"</datalist>",
    b"<value>",
    b"</value>",
    b"&amp;",
    b"&#0;",
    b"&#x1F600;",
    b"&bogus;",
    b"<a/>",
    b"\xe9",
    b"\xff\xfe",
    "é".as_bytes(),
    b"95.5",
    b"<",
];

fn check_agent_data(bytes: &[u8]) -> Result<(), TestCaseError> {
    let data = agent_data::parse(bytes);
    let tags = bytes.windows(7).filter(|w| w == b"<module").count();
    prop_assert!(
        data.modules.len() <= tags,
        "{} modules from {tags} tags",
        data.modules.len()
    );
    for e in data
        .errors
        .iter()
        .chain(data.modules.iter().filter_map(|m| m.error.as_ref()))
    {
        prop_assert!(
            e.line >= 1 && e.column >= 1 && e.offset <= bytes.len().max(1) * 2,
            "{e:?}"
        );
        prop_assert!(!e.message.is_empty());
    }
    let _ = data.first_error();
    let _ = data.header.display_name();
    for m in &data.modules {
        let _ = (m.label(), agent_data::evaluate(m));
    }
    Ok(())
}

const BASE_CONFIG: &str =
    "state_dir = \"/nonexistent/fuzz\"\n[ilert]\napi_url = \"http://127.0.0.1:9\"\n\
    [[route]]\nname = \"db\"\nseverities = [\"Major\"]\nilert_key = \"il1db\"\nchat = \"slack\"\n\
    channel_template = \"inc-{id}\"\n[[route]]\nname = \"default\"\nilert_key = \"il1d\"\n\
    [slack]\nbot_token = \"xoxb-1\"\n";

const CONFIG_KEYS: [&str; 16] = [
    "alert_deadline",
    "request_timeout",
    "refire_window",
    "log_level",
    "severities",
    "summary_template",
    "channel_template",
    "ilert_priority",
    "storm_per_minute",
    "storm_quiet",
    "api_url",
    "homeserver",
    "name",
    "chat",
    "integration_ky",
    "groups",
];

const CONFIG_VALUES: [&str; 16] = [
    "\"5s\"",
    "\"-1s\"",
    "\"99999999999999999999d\"",
    "\"\"",
    "1e400",
    "-3",
    "18446744073709551615",
    "\"Critcal\"",
    "[\"*\", \"9\"]",
    "\"{agnet} {id}\"",
    "\"é{id}\\u0000\"",
    "\"javascript:alert(1)\"",
    "\"http://[::1\"",
    "true",
    "{}",
    "\"matrix\"",
];

fn check_config(text: &str) -> Result<(), TestCaseError> {
    match Config::parse(Path::new("/fuzz.toml"), text) {
        Ok(config) => {
            let _ = crate::commands::config_warnings(&config);
            for r in &config.routes {
                let _ = r.matcher.describe();
            }
        }
        Err(e) => {
            prop_assert!(!e.message.is_empty());
            if let Some(line) = e.line {
                prop_assert!(
                    line >= 1 && line <= text.lines().count() + 1,
                    "line {line}: {e}"
                );
            }
            let _ = e.to_string();
        }
    }
    Ok(())
}

fn check_store(files: &[(&str, String, Vec<u8>)], keys: &[String]) -> Result<(), TestCaseError> {
    let root = std::env::temp_dir().join(format!(
        "pandora-ilert-fuzz-store-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    let store = Store::open(&root).map_err(|e| TestCaseError::fail(e.to_string()))?;
    for (dir, name, bytes) in files {
        if name == "." || name == ".." {
            continue;
        }
        let name = if *dir == "events" {
            format!("{name}.jsonl")
        } else {
            format!("{name}.json")
        };
        let _ = std::fs::write(root.join(dir).join(name), bytes);
    }
    let _ = (
        store.incidents().count(),
        store.history().count(),
        store.dead_letters(),
    );
    let _ = (
        store.open_incidents(),
        store.open_index(),
        store.rebuild_open_index(),
    );
    let _ = (
        store.queue_summary(),
        store.pending_all(),
        store.quarantined(),
    );
    let mut all_keys: Vec<String> = keys.to_vec();
    all_keys.extend(
        store
            .pending_keys_due_in(&store.scan_outbox())
            .into_iter()
            .map(|(k, _)| k),
    );
    all_keys.extend(store.inbox_keys());
    for key in &all_keys {
        let _ = (store.load_incident(key), store.events(key));
        let _ = (store.pending_for(key), store.inbox_for(key));
        let _ = store.load_storm(key);
    }
    let config = test_config();
    let _ = crate::status::collect(&config, &store, Timestamp::now());
    let _ = std::fs::remove_dir_all(&root);
    Ok(())
}
