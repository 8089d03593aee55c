//! The safe command definition end to end: `pandora/command.txt` with Pandora's macro
//! substitution (reference pandora.md §1.1: a whole-word `"_macro_"` becomes `""'value'""`),
//! run through `/bin/sh -c` as the Pandora server runs it; the text read by the real binary
//! from a real MariaDB (tests/harness/mariadb.sh) holding Pandora 7.0NG's tables, filled the
//! way Pandora stores text; a fake ilert and a fake Slack on 127.0.0.1.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::ilert::{FakeIlert, KEY};
use support::pandora_db::{latin1_bytes, safe_input, AlertRows, MariaDb};
use support::slack::{FakeSlack, TOKEN};
use support::{code, pandora_quote, stderr, TestDir, BIN};

const SAFE_COMMAND: &str = include_str!("../pandora/command.txt");

/// The macro values Pandora substitutes into the safe definition.
struct Firing<'a> {
    event: &'a str,
    alert_id: &'a str,
    agent_id: &'a str,
    module_id: &'a str,
    priority: &'a str,
    times_fired: &'a str,
    timestamp: &'a str,
}

impl Firing<'_> {
    fn of(alert_id: &str) -> Firing<'_> {
        Firing {
            event: "alert",
            alert_id,
            agent_id: "12",
            module_id: "345",
            priority: "4",
            times_fired: "1",
            timestamp: "2026-11-24 02:21:59",
        }
    }

    /// `pandora/command.txt` with the binary under test, its config, and the macros
    /// substituted as the server does.
    fn command_line(&self, config: &Path) -> String {
        let mut cmd = SAFE_COMMAND.trim().replacen(
            "/usr/bin/pandora-ilert alert",
            &format!("{BIN} --config {} alert", config.display()),
            1,
        );
        for (name, value) in [
            ("_field1_", self.event),
            ("_id_alert_", self.alert_id),
            ("_id_agent_", self.agent_id),
            ("_id_module_", self.module_id),
            ("_alert_priority_", self.priority),
            ("_alert_times_fired_", self.times_fired),
            ("_timestamp_", self.timestamp),
        ] {
            let word = format!("\"{name}\"");
            assert!(cmd.contains(&word), "command.txt lost {word}");
            cmd = cmd.replace(&word, &pandora_quote(value));
        }
        cmd
    }

    fn run(&self, config: &Path) -> Output {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(self.command_line(config))
            .stdin(Stdio::null())
            .output()
            .expect("run sh")
    }
}

fn config(dir: &TestDir, ilert: &FakeIlert, extra: &str) -> PathBuf {
    dir.config(&format!(
        "alert_deadline = \"6s\"\nrequest_timeout = \"2s\"\n[ilert]\napi_url = \"{}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\n{extra}\n",
        ilert.url()
    ))
}

/// Text no shell may ever see unquoted: quotes, command substitution in both forms, the
/// entity-encoded quote that breaks Pandora's own quoting, accents and an emoji. Each
/// `touch` would create `marker`.
fn hostile(marker: &Path, what: &str) -> String {
    let m = marker.display();
    format!(
        "{what} O'Brien \"x\" $(touch {m}) `touch {m}` &#39;$(touch {m})&#39; ; touch {m} | Café Ñandú 🚀"
    )
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn hostile_text_from_the_database_arrives_intact_in_ilert_and_chat_and_nothing_runs() {
    let db = MariaDb::from_env();
    let mut pdb = db.create_database("utf8mb4");
    let (dir, ilert, slack) = (
        TestDir::new("db-hostile"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let marker = dir.join("marker");
    let mut rows = AlertRows::typical(42);
    rows.alias = hostile(&marker, "agent");
    rows.module = hostile(&marker, "module");
    rows.data = hostile(&marker, "data");
    rows.template_description = "Temp&eacute;rature élevée <b>".into();
    rows.tags = vec!["réseau".into(), "prod".into()];
    pdb.insert(&rows);
    let cfg = config(
        &dir,
        &ilert,
        &format!(
            "chat = \"slack\"\n[slack]\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n{}",
            slack.url(),
            pdb.config_section()
        ),
    );

    let out = Firing::of("42").run(&cfg);
    dir.assert_ok(&out);
    assert!(!marker.exists(), "a shell ran text from the database");

    let got = ilert.accepted();
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(e["eventType"], "ALERT");
    assert_eq!(e["alertKey"], "42");
    assert_eq!(e["customDetails"]["agent"], rows.alias);
    assert_eq!(e["customDetails"]["module"], rows.module);
    assert_eq!(e["customDetails"]["data"], rows.data);
    assert_eq!(e["customDetails"]["group"], "Servers");
    assert_eq!(e["customDetails"]["tags"], "prod,réseau");
    assert_eq!(e["customDetails"]["details_source"], "pandora database");
    assert_eq!(e["priority"], "HIGH", "priority 4 = Critical");
    let summary = e["summary"].as_str().unwrap();
    // The title is the route's template over the database text (cut to ilert's length).
    assert!(
        summary.starts_with(&format!("[Critical] {}", &rows.alias[..60])),
        "{summary}"
    );
    let details = e["details"].as_str().unwrap();
    // A literal `&eacute;` typed by someone is stored as `&amp;eacute;`: decoded once, it stays.
    assert!(
        details.contains("Temp&eacute;rature élevée <b>"),
        "{details}"
    );

    let ch = slack
        .channel("pandorafms_alert_42")
        .expect("incident channel");
    let pinned = ch.pinned()[0].text.clone();
    for piece in [
        "agent O'Brien \"x\" $(touch",
        "`touch",
        "Café Ñandú 🚀",
        "module O'Brien",
    ] {
        assert!(pinned.contains(piece), "{piece:?} not in {pinned}");
    }
    assert!(!marker.exists());
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn latin1_database_text_is_decoded_once_whatever_bytes_it_holds() {
    let db = MariaDb::from_env();
    let mut pdb = db.create_database("latin1");
    let (dir, ilert) = (TestDir::new("db-latin1"), FakeIlert::start());
    let mut rows = AlertRows::typical(43);
    rows.agent_id = 13;
    rows.module_id = 346;
    rows.alias = "Café de l'Opéra".into();
    rows.module = "Température".into();
    rows.data = "Ça chauffe 🚀".into();
    rows.group = "Réseau".into();
    // Alias and group as the console stores them (entities, pure ASCII); the module name as an
    // old server wrote it (Latin-1 bytes); the data as UTF-8 bytes a client sent over a latin1
    // connection: all three occur on one installation.
    pdb.insert(&rows);
    pdb.exec(&format!(
        "UPDATE tagente_modulo SET nombre = {} WHERE id_agente_modulo = 346",
        support::pandora_db::sql_bytes(&latin1_bytes("Température"))
    ));
    pdb.exec(&format!(
        "UPDATE tagente_estado SET datos = {} WHERE id_agente_modulo = 346",
        support::pandora_db::sql_bytes("Ça chauffe 🚀".as_bytes())
    ));
    let cfg = config(&dir, &ilert, &pdb.config_section());
    let mut f = Firing::of("43");
    f.agent_id = "13";
    f.module_id = "346";
    dir.assert_ok(&f.run(&cfg));
    let e = &ilert.accepted()[0];
    assert_eq!(e["customDetails"]["agent"], "Café de l'Opéra");
    assert_eq!(e["customDetails"]["module"], "Température");
    assert_eq!(e["customDetails"]["data"], "Ça chauffe 🚀");
    assert_eq!(e["customDetails"]["group"], "Réseau");
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn recovery_resolves_the_incident_with_the_database_text() {
    let db = MariaDb::from_env();
    let mut pdb = db.create_database("utf8mb4");
    let (dir, ilert) = (TestDir::new("db-recover"), FakeIlert::start());
    let mut rows = AlertRows::typical(44);
    rows.agent_id = 14;
    rows.module_id = 347;
    pdb.insert(&rows);
    let cfg = config(&dir, &ilert, &pdb.config_section());
    let mut f = Firing::of("44");
    f.agent_id = "14";
    f.module_id = "347";
    dir.assert_ok(&f.run(&cfg));
    pdb.exec(
        "UPDATE tagente_estado SET datos = '12.00000', estado = 0 WHERE id_agente_modulo = 347",
    );
    f.event = "resolved";
    dir.assert_ok(&f.run(&cfg));
    assert_eq!(
        ilert.events(),
        [
            ("ALERT".into(), "44".into()),
            ("RESOLVE".into(), "44".into())
        ]
    );
    let fire = &ilert.accepted()[0];
    assert_eq!(fire["summary"], "[Critical] web-01 / CPU Load = 95.5%");
    let resolve = &ilert.accepted()[1];
    assert_eq!(
        resolve["summary"],
        "[RECOVERED] [Critical] web-01 / CPU Load = 12%"
    );
    assert_eq!(resolve["customDetails"]["module_status"], "Normal");
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn settings_come_from_pandora_server_conf() {
    let db = MariaDb::from_env();
    let mut pdb = db.create_database("utf8mb4");
    let (dir, ilert) = (TestDir::new("db-serverconf"), FakeIlert::start());
    let mut rows = AlertRows::typical(45);
    rows.agent_id = 15;
    rows.module_id = 348;
    pdb.insert(&rows);
    let server_conf = dir.join("pandora_server.conf");
    std::fs::write(
        &server_conf,
        format!(
            "# Pandora FMS server\nservername test\ndbname {}\ndbuser {}\ndbpass {}\ndbhost localhost\nverbosity 3\n",
            pdb.name, db.user, db.password
        ),
    )
    .unwrap();
    // Only the socket is pandora-ilert's own setting (the harness's server is not at a
    // standard path); name, user and password are the Pandora server's.
    let cfg = config(
        &dir,
        &ilert,
        &format!(
            "[pandora_db]\nserver_conf = \"{}\"\nsocket = \"{}\"\n",
            server_conf.display(),
            db.socket
        ),
    );
    let mut f = Firing::of("45");
    f.agent_id = "15";
    f.module_id = "348";
    dir.assert_ok(&f.run(&cfg));
    assert_eq!(ilert.accepted()[0]["customDetails"]["agent"], "web-01");
    assert!(!dir.log().contains(&db.password), "password in the log");
}

#[test]
fn database_down_still_pages_with_the_ids_and_says_details_were_unavailable() {
    let (dir, ilert) = (TestDir::new("db-down"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        "[pandora_db]\nsocket = \"/nonexistent/mysqld.sock\"\nuser = \"u\"\npassword = \"secret-db-pw\"\n",
    );
    let mut f = Firing::of("46");
    f.times_fired = "3";
    let out = f.run(&cfg);
    dir.assert_ok(&out);
    let got = ilert.accepted();
    assert_eq!(got.len(), 1, "{got:?}");
    let e = &got[0];
    assert_eq!(
        (e["eventType"].as_str(), e["alertKey"].as_str()),
        (Some("ALERT"), Some("46"))
    );
    assert_eq!(
        e["summary"],
        "[Critical] Pandora alert 46 (agent id 12, module id 345): details unavailable"
    );
    assert_eq!(e["priority"], "HIGH");
    let details = e["details"].as_str().unwrap();
    assert!(details.contains("Details unavailable"), "{details}");
    assert!(details.contains("/nonexistent/mysqld.sock"), "{details}");
    assert!(details.contains("Fired 3 time(s)"), "{details}");
    assert_eq!(e["customDetails"]["timestamp"], "2026-11-24 02:21:59");
    assert!(dir
        .log()
        .contains("details unavailable from the Pandora database"));
    assert!(!dir.log().contains("secret-db-pw") && !stderr(&out).contains("secret-db-pw"));
}

#[test]
fn a_database_that_never_answers_is_given_up_after_the_timeout() {
    // Accepts connections and never says a word: a hung or overloaded server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (dir, ilert) = (TestDir::new("db-slow"), FakeIlert::start());
    let cfg = config(
        &dir,
        &ilert,
        &format!(
            "[pandora_db]\nhost = \"127.0.0.1\"\nport = {port}\nuser = \"u\"\npassword = \"p\"\ntimeout = \"1s\"\n"
        ),
    );
    let started = Instant::now();
    let out = Firing::of("47").run(&cfg);
    let took = started.elapsed();
    dir.assert_ok(&out);
    assert!(
        took < Duration::from_millis(1000 + 2500),
        "the 1 s bound was not kept: {took:?}"
    );
    let e = &ilert.accepted()[0];
    assert_eq!(e["alertKey"], "47");
    assert!(
        e["details"]
            .as_str()
            .unwrap()
            .contains("no answer within 1000 ms"),
        "{}",
        e["details"]
    );
    drop(listener);
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn an_unknown_alert_id_pages_with_the_ids() {
    let db = MariaDb::from_env();
    let pdb = db.create_database("utf8mb4");
    let (dir, ilert) = (TestDir::new("db-unknown"), FakeIlert::start());
    let cfg = config(&dir, &ilert, &pdb.config_section());
    dir.assert_ok(&Firing::of("999").run(&cfg));
    let e = &ilert.accepted()[0];
    assert_eq!(e["alertKey"], "999");
    assert!(
        e["details"]
            .as_str()
            .unwrap()
            .contains("not found: no alert 999"),
        "{}",
        e["details"]
    );
    assert_eq!(code(&Firing::of("999").run(&cfg)), 0);
}

#[test]
fn safe_input_encodes_like_pandora() {
    assert_eq!(
        String::from_utf8(safe_input("Café l'été (x) & <b> \"q\" \\ 🚀")).unwrap(),
        "Caf&eacute;&#x20;l&#039;&eacute;t&eacute;&#x20;&#40;x&#41;&#x20;&amp;&#x20;&lt;b&gt;&#x20;&quot;q&quot;&#x20;&#92;&#x20;🚀"
    );
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn a_later_run_that_reads_the_database_fills_the_chat_message() {
    let db = MariaDb::from_env();
    let mut pdb = db.create_database("utf8mb4");
    let (dir, ilert, slack) = (
        TestDir::new("db-later"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    let mut rows = AlertRows::typical(48);
    rows.agent_id = 18;
    rows.module_id = 351;
    rows.alias = "Café de l'Opéra".into();
    pdb.insert(&rows);
    let chat = format!(
        "chat = \"slack\"\n[slack]\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n",
        slack.url()
    );
    let down = config(
        &dir,
        &ilert,
        &format!("{chat}[pandora_db]\nsocket = \"/nonexistent/mysqld.sock\"\nuser = \"u\"\npassword = \"p\"\n"),
    );
    let mut f = Firing::of("48");
    f.agent_id = "18";
    f.module_id = "351";
    dir.assert_ok(&f.run(&down));
    let first = slack
        .channel("pandorafms_alert_48")
        .expect("channel")
        .pinned()[0]
        .text
        .clone();
    assert!(first.contains("Pandora alert 48"), "{first}");

    // The database is back when Pandora runs the command again (a re-fire).
    let up = config(&dir, &ilert, &format!("{chat}{}", pdb.config_section()));
    f.times_fired = "2";
    dir.assert_ok(&f.run(&up));
    let ch = slack.channel("pandorafms_alert_48").expect("channel");
    let pinned = ch.pinned()[0].text.clone();
    assert!(pinned.contains("Café de l'Opéra / CPU Load"), "{pinned}");
    assert!(!pinned.contains("details unavailable"), "{pinned}");
    assert_eq!(ilert.events().len(), 1, "a re-fire sends no second ALERT");
}
