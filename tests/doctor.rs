//! `pandora-ilert doctor` end to end: the real binary against local servers that follow the
//! providers' contracts, temporary state directories, and the Pandora-side files shipped in
//! `pandora/` (the command definition and the SQL that registers it).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;
use support::http::{Reply, Server};
use support::pandora_db::MariaDb;
use support::{code, stdout, ConfigBuilder, TestDir, BIN};

const SHIPPED_COMMAND: &str = include_str!("../pandora/command.txt");
const CLASSIC_COMMAND: &str = include_str!("../pandora/command-classic-unsafe.txt");
const SHIPPED_SQL: &str = include_str!("../pandora/pandora-ilert.sql");

/// A server that answers every request with 404, like an API root.
fn api_root() -> Server {
    Server::start(|_| Reply::new(404, "{}"))
}

fn healthy_config(dir: &TestDir, ilert: &Server, extra: &str) -> PathBuf {
    private_state(dir);
    ConfigBuilder::at(&ilert.url())
        .key("il1secret-ilert-key")
        .tail(extra)
        .write(dir)
}

/// `healthy_config` whose `[pandora_db]` is the harness's MariaDB, for checks of the shipped
/// command (`--from-db` makes doctor read the database).
fn healthy_config_with_db(dir: &TestDir, ilert: &Server) -> PathBuf {
    healthy_config(dir, ilert, &MariaDb::from_env().config_section())
}

fn private_state(dir: &TestDir) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir.state()).unwrap();
    std::fs::set_permissions(dir.state(), std::fs::Permissions::from_mode(0o750)).unwrap();
}

fn doctor(config: &Path, command: Option<&str>) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.arg("--config").arg(config).arg("doctor");
    if let Some(cmd) = command {
        c.arg("--command").arg(cmd);
    }
    c.stdin(Stdio::null()).output().unwrap()
}

fn lines_with<'a>(out: &'a str, tag: &str) -> Vec<&'a str> {
    out.lines().filter(|l| l.starts_with(tag)).collect()
}

/// The shipped command with its program path pointing at the binary under test and the
/// config under test, so that doctor has nothing to warn about.
fn shipped_command_for(config: &Path) -> String {
    command_for(SHIPPED_COMMAND, config)
}

/// The classic definition (text macros in action fields), pointed at the binary under test.
fn classic_command_for(config: &Path) -> String {
    command_for(CLASSIC_COMMAND, config)
}

fn command_for(command: &str, config: &Path) -> String {
    command.trim().replacen(
        "/usr/bin/pandora-ilert alert",
        &format!("{BIN} --config {} alert", config.display()),
        1,
    )
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn healthy_installation_is_all_ok_and_exits_0() {
    let (dir, ilert) = (TestDir::new("doctor-ok"), api_root());
    let cfg = healthy_config_with_db(&dir, &ilert);
    let out = doctor(&cfg, Some(&shipped_command_for(&cfg)));
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(lines_with(&text, "FAIL").is_empty(), "{text}");
    assert!(lines_with(&text, "WARN").is_empty(), "{text}");
    assert!(text.contains("ilert API"), "{text}");
    assert!(text.contains("answers (HTTP 404)"), "{text}");
    assert!(text.contains("7 macro(s)"), "{text}");
    assert!(
        text.contains("ok    Pandora database: user pandora_ilert_ro on socket"),
        "{text}"
    );
    // A GET on the API base, nothing else: doctor creates no alert.
    let reqs = ilert.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("GET", "/")
    );
    assert!(!text.contains("il1secret-ilert-key"));
}

#[test]
fn unknown_template_placeholder_is_a_warning() {
    let (dir, ilert) = (TestDir::new("doctor-placeholder"), api_root());
    private_state(&dir);
    let cfg = ConfigBuilder::at(&ilert.url())
        .key("il1secret-ilert-key")
        .set("summary_template", "\"{agnet} {module}\"")
        .write(&dir);
    let out = doctor(&cfg, None);
    let text = stdout(&out);
    let warns = lines_with(&text, "WARN");
    assert_eq!(warns.len(), 1, "{text}");
    assert!(
        warns[0].contains("summary_template uses {agnet}, which is not a placeholder"),
        "{text}"
    );
}

#[test]
fn text_macro_on_the_command_line_fails_with_the_fix_and_exits_78() {
    let (dir, ilert) = (TestDir::new("doctor-agent"), api_root());
    let cfg = healthy_config(&dir, &ilert, "");
    let cmd = classic_command_for(&cfg).replace("--agent \"_field2_\"", "--agent \"_agent_\"");
    let out = doctor(&cfg, Some(&cmd));
    let text = stdout(&out);
    assert_eq!(code(&out), 78, "{text}");
    let fails = lines_with(&text, "FAIL");
    assert_eq!(fails.len(), 2, "{text}");
    assert!(fails[0].contains("_agent_ is a text macro"), "{text}");
    assert!(
        fails[1].contains("exposed to command injection: _agent_ _field3_"),
        "{text}"
    );
    assert!(
        text.contains("fix: drop _agent_ from the command line"),
        "{text}"
    );
}

#[test]
fn unquoted_and_partly_quoted_macros_are_failures() {
    let (dir, ilert) = (TestDir::new("doctor-quotes"), api_root());
    let cfg = healthy_config(&dir, &ilert, "");
    let cmd = classic_command_for(&cfg)
        .replace("\"_field4_\"", "_field4_")
        .replace("--module \"_field3_\"", "--module=\"_field3_\"");
    let text = stdout(&doctor(&cfg, Some(&cmd)));
    assert!(
        text.contains("FAIL  command: _field4_ is not quoted"),
        "{text}"
    );
    assert!(
        text.contains("FAIL  command: --module=\"_field3_\" is only partly quoted"),
        "{text}"
    );
    assert!(
        text.contains("fix: write the option and its value as two words: --module \"_field3_\""),
        "{text}"
    );
}

#[test]
fn unbalanced_quotes_are_reported_as_silent_alert_loss() {
    let (dir, ilert) = (TestDir::new("doctor-unbalanced"), api_root());
    let cfg = healthy_config(&dir, &ilert, "");
    let cmd = shipped_command_for(&cfg).replacen("\"_field1_\"", "\"_field1_", 1);
    let out = doctor(&cfg, Some(&cmd));
    assert_eq!(code(&out), 78);
    assert!(
        stdout(&out).contains("unbalanced quotes"),
        "{}",
        stdout(&out)
    );
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn command_from_the_database_is_read_from_stdin_and_entity_decoded() {
    let (dir, ilert) = (TestDir::new("doctor-stdin"), api_root());
    let cfg = healthy_config_with_db(&dir, &ilert);
    // As `mysql -N -B -e "SELECT command FROM talert_commands ..."` prints a console-made row.
    let stored = shipped_command_for(&cfg)
        .replace(' ', "&#x20;")
        .replace('"', "&quot;");
    let mut child = Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "doctor",
            "--command",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{stored}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn unreachable_ilert_exits_69_with_a_network_fix() {
    let dir = TestDir::new("doctor-down");
    let ilert = api_root();
    let cfg = healthy_config(&dir, &ilert, "");
    ilert.stop();
    let out = doctor(&cfg, None);
    let text = stdout(&out);
    assert_eq!(code(&out), 69, "{text}");
    let fails = lines_with(&text, "FAIL");
    assert_eq!(fails.len(), 1, "{text}");
    assert!(
        fails[0].contains("ilert API") && fails[0].contains("unreachable"),
        "{text}"
    );
    assert!(text.contains("firewall"), "{text}");
    assert!(text.contains("skip  Pandora command definition"), "{text}");
}

#[test]
fn state_dir_problems_are_config_failures() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, ilert) = (TestDir::new("doctor-state"), api_root());
    let cfg = healthy_config(&dir, &ilert, "");
    std::fs::set_permissions(dir.state(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = doctor(&cfg, None);
    assert_eq!(code(&out), 78, "{}", stdout(&out));
    assert!(stdout(&out).contains("writable by every user (mode 0777)"));
    assert!(stdout(&out).contains(&format!("fix: chmod 0750 {}", dir.state().display())));

    std::fs::remove_dir_all(dir.state()).unwrap();
    let out = doctor(&cfg, None);
    assert_eq!(code(&out), 78);
    assert!(stdout(&out).contains("does not exist"), "{}", stdout(&out));
    assert!(stdout(&out).contains("fix: install -d -m 0750"));
}

#[test]
fn broken_config_is_reported_and_the_command_still_checked() {
    let dir = TestDir::new("doctor-badconfig");
    let cfg = dir.config("[[route]]\nname = \"default\"\nilert_ky = \"x\"\n");
    let out = doctor(&cfg, Some(SHIPPED_COMMAND.trim()));
    let text = stdout(&out);
    assert_eq!(code(&out), 78, "{text}");
    assert!(text.contains("unknown key 'ilert_ky'"), "{text}");
    assert!(
        text.contains("fix: correct the file at the line shown"),
        "{text}"
    );
    assert!(text.contains("7 macro(s)"), "command not checked: {text}");
}

#[test]
fn chat_probes_use_read_only_calls_and_never_print_tokens() {
    let (dir, ilert) = (TestDir::new("doctor-chat"), api_root());
    let slack = Server::start(|r| {
        assert_eq!(r.path, "/api/auth.test");
        if r.header("authorization") == Some("Bearer xoxb-secret-token") {
            Reply::json(
                200,
                json!({"ok": true, "team": "Ops", "user": "pandora-bot"}),
            )
        } else {
            Reply::json(200, json!({"ok": false, "error": "invalid_auth"}))
        }
    });
    let matrix = Server::start(|r| {
        if r.header("authorization") == Some("Bearer syt_secret_matrix") {
            Reply::json(200, json!({"user_id": "@bot:localhost"}))
        } else {
            Reply::json(401, json!({"errcode": "M_UNKNOWN_TOKEN"}))
        }
    });
    let login = Server::start(|r| {
        if r.form().get("client_secret").map(String::as_str) == Some("teams-secret") {
            Reply::json(
                200,
                json!({"access_token": "eyJ-token", "expires_in": 3599}),
            )
        } else {
            Reply::json(
                401,
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
            )
        }
    });
    let webhook = api_root();
    let extra = format!(
        "[slack]\ntoken = \"xoxb-secret-token\"\napi_url = \"{}/api\"\n\
         [matrix]\nhomeserver = \"{}\"\naccess_token = \"syt_secret_matrix\"\n\
         [teams]\ntenant_id = \"tenant-1\"\nclient_id = \"app-1\"\nclient_secret = \"teams-secret\"\nteam_id = \"team-1\"\n\
         login_url = \"{}\"\nwebhook_url = \"{}/workflows/hook?sig=webhook-signature\"\n",
        slack.url(),
        matrix.url(),
        login.url(),
        webhook.url()
    );
    let cfg = healthy_config(&dir, &ilert, &extra);
    let out = doctor(&cfg, None);
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(
        text.contains("Slack token accepted (team Ops, bot user pandora-bot)"),
        "{text}"
    );
    assert!(text.contains("Matrix token accepted"), "{text}");
    assert!(
        text.contains("Teams app credentials accepted for tenant tenant-1"),
        "{text}"
    );
    assert!(text.contains("(TCP only; nothing posted)"), "{text}");
    for secret in [
        "xoxb-secret-token",
        "syt_secret_matrix",
        "teams-secret",
        "webhook-signature",
        "eyJ-token",
    ] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }
    assert_eq!(slack.requests().len(), 1);
    let m = matrix.requests();
    assert_eq!((m.len(), m[0].method.as_str()), (1, "GET"));
    assert_eq!(m[0].path, "/_matrix/client/v3/account/whoami");
    let l = login.requests();
    assert_eq!(l[0].path, "/tenant-1/oauth2/v2.0/token");
    assert_eq!(l[0].form()["grant_type"], "client_credentials");
    assert!(webhook.requests().is_empty(), "the webhook got a request");

    // Wrong credentials are configuration failures, named per provider.
    let bad = cfg.with_extension("bad.toml");
    let text_cfg = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("xoxb-secret-token", "xoxb-revoked")
        .replace("syt_secret_matrix", "syt_old")
        .replace("\"teams-secret\"", "\"expired\"");
    std::fs::write(&bad, text_cfg).unwrap();
    let out = doctor(&bad, None);
    let text = stdout(&out);
    assert_eq!(code(&out), 78, "{text}");
    assert!(
        text.contains("Slack refused the token: invalid_auth"),
        "{text}"
    );
    assert!(
        text.contains("refused the access token: M_UNKNOWN_TOKEN"),
        "{text}"
    );
    assert!(text.contains("AADSTS7000215"), "{text}");
}

#[test]
fn shipped_sql_registers_the_shipped_command_and_a_recovering_action() {
    let inserts = sql_inserts(SHIPPED_SQL);
    assert_eq!(inserts.len(), 2, "{inserts:?}");

    // talert_commands, with the columns of the Pandora schema (reference pandora.md §2).
    let (table, cmd) = &inserts[0];
    assert_eq!(table, "talert_commands");
    let known: BTreeSet<&str> = [
        "name",
        "command",
        "id_group",
        "description",
        "internal",
        "fields_descriptions",
        "fields_values",
        "fields_hidden",
        "previous_name",
    ]
    .into();
    for col in cmd.keys() {
        assert!(known.contains(col.as_str()), "unknown column {col}");
    }
    assert_eq!(
        cmd["command"],
        SHIPPED_COMMAND.trim(),
        "SQL and command.txt differ"
    );
    assert_eq!(cmd["internal"], "0");
    for json_col in ["fields_descriptions", "fields_values", "fields_hidden"] {
        let v: serde_json::Value = serde_json::from_str(&cmd[json_col]).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 20, "{json_col}");
    }
    let values: Vec<String> = serde_json::from_str(&cmd["fields_values"]).unwrap();
    assert_eq!(values[0], "alert,Alert;resolved,Resolved");

    // talert_actions: field1 alert / resolved, every field used by the command filled, the
    // incident key in no field.
    let (table, action) = &inserts[1];
    assert_eq!(table, "talert_actions");
    for col in action.keys() {
        let ok = ["name", "id_alert_command", "id_group", "action_threshold"]
            .contains(&col.as_str())
            || col
                .strip_prefix("field")
                .map(|n| n.trim_end_matches("_recovery"))
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| (1..=20).contains(&n));
        assert!(ok, "unknown column {col}");
    }
    assert_eq!(action["field1"], "alert");
    assert_eq!(action["field1_recovery"], "resolved");
    // The safe definition carries no text: every other field stays empty, firing and recovery.
    for n in 2..=20 {
        for col in [format!("field{n}"), format!("field{n}_recovery")] {
            assert_eq!(action.get(&col).map(String::as_str), Some(""), "{col}");
        }
    }
    assert!(
        !cmd["command"].contains("_field2_"),
        "text fields on the line"
    );
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn shipped_command_passes_doctor_and_matches_the_console_guide() {
    let dir = TestDir::new("doctor-shipped");
    let ilert = api_root();
    let cfg = healthy_config_with_db(&dir, &ilert);
    let out = doctor(&cfg, Some(SHIPPED_COMMAND.trim()));
    let text = stdout(&out);
    // The only warnings: /usr/bin/pandora-ilert is not installed here, and the command uses the
    // default config path.
    assert!(lines_with(&text, "FAIL").is_empty(), "{text}");
    assert!(text.contains("ok    command: 7 macro(s)"), "{text}");
    let guide = include_str!("../pandora/README.md");
    assert!(
        guide.contains(SHIPPED_COMMAND.trim()),
        "pandora/README.md shows another command"
    );
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(SHIPPED_COMMAND.trim()),
        "README.md's Security section shows another command"
    );
}

#[test]
#[ignore = "needs MariaDB (tests/harness/mariadb.sh): run by tests/run.sh"]
fn classic_command_is_flagged_as_exposed_to_injection_naming_its_fields() {
    let (dir, ilert) = (TestDir::new("doctor-classic"), api_root());
    let cfg = healthy_config_with_db(&dir, &ilert);
    let out = doctor(&cfg, Some(&classic_command_for(&cfg)));
    let text = stdout(&out);
    let warns = lines_with(&text, "WARN");
    assert_eq!(warns.len(), 1, "{text}");
    let w = warns[0];
    assert!(
        w.contains("exposed to command injection: _field2_ _field3_ _field4_ _field5_ _field6_ _field7_ \
                    _field8_ _field9_ _field10_ _field11_ _field12_ _field13_ _field14_ can carry agent-controlled text"),
        "{text}"
    );
    assert!(w.contains("any monitored host can run commands"), "{text}");
    assert!(text.contains("fix: use the safe definition"), "{text}");
    assert!(lines_with(&text, "FAIL").is_empty(), "{text}");
    assert_eq!(code(&out), 0, "a warning, not a failure: {text}");

    let out = doctor(&cfg, Some(&shipped_command_for(&cfg)));
    let text = stdout(&out);
    assert!(!text.contains("injection"), "{text}");
    assert!(lines_with(&text, "WARN").is_empty(), "{text}");
}

/// The INSERT statements of the SQL file as (table, column -> value), read with MySQL's
/// literal rules (`''` escapes a quote). The file must not rely on backslash escapes, whose
/// meaning depends on the server's sql_mode.
fn sql_inserts(sql: &str) -> Vec<(String, std::collections::BTreeMap<String, String>)> {
    let body: String = sql
        .lines()
        .map(|l| match l.find("--") {
            Some(i) if !in_string(&l[..i]) => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!body.contains('\\'), "backslash in the SQL");
    let mut out = Vec::new();
    for stmt in body.split(";\n").filter(|s| s.contains("INSERT INTO")) {
        let after = stmt.split_once("INSERT INTO").unwrap().1;
        let table = after.split('`').nth(1).unwrap().to_string();
        let cols_text = after.split_once('(').unwrap().1.split_once(')').unwrap().0;
        let cols: Vec<String> = cols_text
            .split(',')
            .map(|c| c.trim().trim_matches('`').to_string())
            .collect();
        let select = after.split_once("SELECT").unwrap().1;
        let values_text = select.rsplit_once("\nFROM").unwrap().0;
        let values = split_sql_values(values_text);
        assert_eq!(cols.len(), values.len(), "{table}: {cols:?} vs {values:?}");
        out.push((table, cols.into_iter().zip(values).collect()));
    }
    out
}

fn in_string(prefix: &str) -> bool {
    prefix.matches('\'').count() % 2 == 1
}

fn split_sql_values(text: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    let mut in_str = false;
    while let Some(c) = chars.next() {
        match (in_str, c) {
            (true, '\'') if chars.peek() == Some(&'\'') => {
                chars.next();
                cur.push('\'');
            }
            (true, '\'') => in_str = false,
            (true, c) => cur.push(c),
            (false, '\'') => in_str = true,
            (false, ',') => values.push(std::mem::take(&mut cur).trim().to_string()),
            (false, c) => cur.push(c),
        }
    }
    values.push(cur.trim().to_string());
    values
}

#[test]
fn an_unreadable_pandora_database_fails_with_the_reason() {
    let (dir, ilert) = (TestDir::new("doctor-db-down"), api_root());
    let cfg = healthy_config(
        &dir,
        &ilert,
        "[pandora_db]\nsocket = \"/nonexistent/mysqld.sock\"\nuser = \"ro\"\npassword = \"db-secret-pw\"\n",
    );
    let out = doctor(&cfg, Some(&shipped_command_for(&cfg)));
    let text = stdout(&out);
    assert_eq!(code(&out), 69, "unreachable, like an API: {text}");
    let fails = lines_with(&text, "FAIL");
    assert_eq!(fails.len(), 1, "{text}");
    assert!(
        fails[0].contains("Pandora database: cannot connect: socket /nonexistent/mysqld.sock"),
        "{text}"
    );
    assert!(!text.contains("db-secret-pw"), "{text}");

    // Without its own credentials and no readable pandora_server.conf: a settings problem.
    let cfg = healthy_config(
        &dir,
        &ilert,
        "[pandora_db]\nserver_conf = \"/nonexistent/pandora_server.conf\"\n",
    );
    let out = doctor(&cfg, Some(&shipped_command_for(&cfg)));
    let text = stdout(&out);
    assert_eq!(code(&out), 78, "{text}");
    assert!(
        text.contains("FAIL  Pandora database: database settings: cannot read /nonexistent/pandora_server.conf"),
        "{text}"
    );
}
