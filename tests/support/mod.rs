//! Shared test support: temporary state directories, running the real binary the way Pandora
//! runs it, and small HTTP servers on 127.0.0.1 that follow the providers' documented contracts.

#![allow(dead_code)]

pub mod botframework;
pub mod graph;
pub mod http;
pub mod ilert;
pub mod matrix;
pub mod modules;
pub mod pandora_db;
pub mod slack;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_pandora-ilert");

static DIR_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh directory per test, removed on drop unless the test failed.
pub struct TestDir {
    pub path: PathBuf,
}

impl TestDir {
    pub fn new(name: &str) -> TestDir {
        TestDir::new_in(&std::env::temp_dir(), name)
    }

    /// A fresh directory on tmpfs (`/dev/shm`) where there is one: for tests that run the
    /// binary hundreds of times and check what a killed process leaves, not what a power cut
    /// leaves, so fsync costs nothing there and proves nothing either way.
    pub fn new_in_memory(name: &str) -> TestDir {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            TestDir::new_in(shm, name)
        } else {
            TestDir::new(name)
        }
    }

    fn new_in(base: &Path, name: &str) -> TestDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::SeqCst);
        let path = base.join(format!(
            "pandora-ilert-test-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TestDir { path }
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.path.join(p)
    }
    pub fn state(&self) -> PathBuf {
        self.path.join("state")
    }
    /// Writes a config file; `{state}` and `{log}` are filled in.
    pub fn config(&self, body: &str) -> PathBuf {
        let p = self.path.join("pandora-ilert.toml");
        let text = format!(
            "state_dir = \"{}\"\nlog_file = \"{}\"\nlog_level = \"debug\"\n{body}",
            self.state().display(),
            self.path.join("pandora-ilert.log").display()
        );
        std::fs::write(&p, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        p
    }
    /// Makes the stored state `secs` seconds older, as if that much time had passed since it
    /// was written: every RFC 3339 timestamp in the incident records, queues and route state
    /// (`incidents/`, `outbox/`, `meta/`; see docs/store.md) moves back. Tests of windows and
    /// quiet periods use it instead of sleeping.
    pub fn age_state(&self, secs: i64) {
        for sub in ["incidents", "outbox", "meta"] {
            for name in self.files(sub) {
                let path = self.state().join(sub).join(&name);
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) else {
                    continue;
                };
                shift_timestamps(&mut v, -secs * 1000);
                std::fs::write(&path, v.to_string()).unwrap();
            }
        }
        self.age_open_markers(secs);
    }

    /// The `open/` index names each marker `<opened ms>.<key>` and may hold a re-fire
    /// (`<fnv1a-64 hex> <json>`, docs/store.md invariant 7): both move with the records, or the
    /// store would take every aged incident's marker for a stale one.
    fn age_open_markers(&self, secs: i64) {
        let open = self.state().join("open");
        for name in self.files("open") {
            let Some((ms, key)) = name.split_once('.') else {
                continue;
            };
            let Ok(ms) = ms.parse::<i64>() else { continue };
            if name.len() < 14 || !name.as_bytes()[..13].iter().all(u8::is_ascii_digit) {
                continue;
            }
            let bytes = std::fs::read(open.join(&name)).unwrap_or_default();
            let line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
            let content = std::str::from_utf8(line)
                .ok()
                .and_then(|l| l.split_once(' '))
                .and_then(|(_, json)| serde_json::from_str::<serde_json::Value>(json).ok())
                .map(|mut v| {
                    shift_timestamps(&mut v, -secs * 1000);
                    let json = v.to_string();
                    format!("{} {json}\n", fnv1a_hex(json.as_bytes()))
                })
                .unwrap_or_default();
            std::fs::remove_file(open.join(&name)).unwrap();
            let aged = format!("{:013}.{key}", (ms - secs * 1000).max(0));
            std::fs::write(open.join(aged), content).unwrap();
        }
    }
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path.join("pandora-ilert.log")).unwrap_or_default()
    }
    /// Asserts a zero exit, showing stderr and the log otherwise.
    pub fn assert_ok(&self, out: &Output) {
        assert_eq!(
            code(out),
            0,
            "stderr: {}\nlog:\n{}",
            stderr(out),
            self.log()
        );
    }

    /// The incident's event log.
    pub fn events(&self, key: &str) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.state().join("events").join(format!("{key}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Texts of the incident's `chat` event-log lines.
    pub fn chat_lines(&self, key: &str) -> Vec<String> {
        self.events(key)
            .iter()
            .filter(|e| e["kind"] == "chat")
            .map(|e| e["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The record file of an incident as stored: `outbox/<key>.json` while deliveries are
    /// queued (the newer copy, see docs/store.md), else `incidents/<key>.json`.
    pub fn record_file(&self, key: &str) -> serde_json::Value {
        for dir in ["outbox", "incidents"] {
            let path = self.state().join(dir).join(format!("{key}.json"));
            if let Ok(text) = std::fs::read_to_string(path) {
                return serde_json::from_str(&text).unwrap();
            }
        }
        panic!("no record for incident {key}");
    }

    /// The incident record.
    pub fn record(&self, key: &str) -> serde_json::Value {
        self.record_file(key)["incident"].clone()
    }

    /// Every queued delivery in the store, across incidents.
    pub fn queued(&self) -> Vec<serde_json::Value> {
        self.files("outbox")
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.state().join("outbox").join(f)).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .flat_map(|v| v["queue"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// The dead letters' reasons.
    pub fn dead_reasons(&self) -> Vec<String> {
        self.files("dead")
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.state().join("dead").join(f)).unwrap();
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                v["reason"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    /// Names of the files in a store subdirectory.
    pub fn files(&self, sub: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.state().join(sub))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.retain(|n| !n.starts_with('.'));
        v.sort();
        v
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A test's config file, from the settings it cares about: the fake ilert's URL and key on a
/// `default` route, `request_timeout = "2s"`, and whatever the test adds. Top-level keys given
/// again replace the earlier value, so a helper's default deadline can be overridden.
///
/// ```ignore
/// let cfg = ConfigBuilder::new(&ilert).set("alert_deadline", "\"4s\"").slack(&slack).write(&dir);
/// ```
pub struct ConfigBuilder {
    top: Vec<(String, String)>,
    top_tables: String,
    ilert_url: String,
    ilert: String,
    slack_url: Option<String>,
    plugin: Option<String>,
    key: String,
    chat: Option<String>,
    route: String,
    tail: String,
}

impl ConfigBuilder {
    pub fn new(ilert: &ilert::FakeIlert) -> ConfigBuilder {
        ConfigBuilder::at(&ilert.url())
    }

    /// The same, for an ilert API at `ilert_url` (another fake server, an unreachable port).
    pub fn at(ilert_url: &str) -> ConfigBuilder {
        ConfigBuilder {
            top: vec![("request_timeout".into(), "\"2s\"".into())],
            top_tables: String::new(),
            ilert_url: ilert_url.to_string(),
            ilert: String::new(),
            slack_url: None,
            plugin: None,
            key: ilert::KEY.to_string(),
            chat: None,
            route: String::new(),
            tail: String::new(),
        }
    }

    /// The route's `ilert_key` (the fake's [`ilert::KEY`] otherwise).
    pub fn key(mut self, key: &str) -> ConfigBuilder {
        self.key = key.to_string();
        self
    }

    /// `chat = "<backend>"` on the route; its section comes with [`tail`](Self::tail).
    pub fn chat(mut self, backend: &str) -> ConfigBuilder {
        self.chat = Some(backend.to_string());
        self
    }

    /// TOML text after the route: more sections (`[teams]`), more routes.
    pub fn tail(mut self, text: &str) -> ConfigBuilder {
        self.tail.push_str(text);
        self.tail.push('\n');
        self
    }

    /// A top-level key with its TOML value (`"4s"` quoted, `4` not), replacing an earlier one.
    pub fn set(mut self, key: &str, value: &str) -> ConfigBuilder {
        match self.top.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.top.push((key.to_string(), value.to_string())),
        }
        self
    }

    /// TOML text for the top of the file: its `key = value` lines before any table header go
    /// through [`set`](Self::set); the rest (tables) is kept as written.
    pub fn top(mut self, text: &str) -> ConfigBuilder {
        let mut in_table = false;
        for line in text.lines() {
            let t = line.trim();
            in_table |= t.starts_with('[');
            match t.split_once('=') {
                Some((k, v)) if !in_table && !t.starts_with('#') => {
                    self = self.set(k.trim(), v.trim());
                }
                _ if t.is_empty() && !in_table => {}
                _ => {
                    self.top_tables.push_str(line);
                    self.top_tables.push('\n');
                }
            }
        }
        self
    }

    /// Lines for the `[ilert]` section, after `api_url`.
    pub fn ilert(mut self, lines: &str) -> ConfigBuilder {
        self.ilert.push_str(lines);
        self.ilert.push('\n');
        self
    }

    /// A `[slack]` section for the fake Slack, and `chat = "slack"` on the route.
    pub fn slack(mut self, slack: &slack::FakeSlack) -> ConfigBuilder {
        self.slack_url = Some(slack.url());
        self.chat("slack")
    }

    /// Lines for the `[plugin]` section.
    pub fn plugin(mut self, lines: &str) -> ConfigBuilder {
        let p = self.plugin.get_or_insert_with(String::new);
        p.push_str(lines);
        p.push('\n');
        self
    }

    /// Lines for the `default` route, after its key (and `chat`).
    pub fn route(mut self, lines: &str) -> ConfigBuilder {
        self.route.push_str(lines);
        self.route.push('\n');
        self
    }

    /// The TOML text, without the `state_dir` and `log_file` that [`TestDir::config`] adds.
    pub fn text(&self) -> String {
        let mut t = String::new();
        for (k, v) in &self.top {
            t.push_str(&format!("{k} = {v}\n"));
        }
        t.push_str(&self.top_tables);
        if let Some(p) = &self.plugin {
            t.push_str(&format!("[plugin]\n{p}"));
        }
        t.push_str(&format!(
            "[ilert]\napi_url = \"{}\"\n{}",
            self.ilert_url, self.ilert
        ));
        if let Some(url) = &self.slack_url {
            t.push_str(&format!(
                "[slack]\ntoken = \"{}\"\napi_url = \"{url}\"\n",
                slack::TOKEN
            ));
        }
        t.push_str(&format!(
            "[[route]]\nname = \"default\"\nilert_key = \"{}\"\n",
            self.key
        ));
        if let Some(backend) = &self.chat {
            t.push_str(&format!("chat = \"{backend}\"\n"));
        }
        t.push_str(&self.route);
        t.push_str(&self.tail);
        t
    }

    /// Writes it into the test's directory (see [`TestDir::config`]).
    pub fn write(&self, dir: &TestDir) -> PathBuf {
        dir.config(&self.text())
    }
}

/// Runs the alert the way the Pandora server does and asserts it went out (exit 0).
pub fn fire(cfg: &Path, alert: &PandoraAlert) -> Output {
    let out = alert.run(cfg);
    assert_eq!(code(&out), 0, "alert: {}", stderr(&out));
    out
}

/// Runs the agent plugin and asserts exit 0 (the plugin always exits 0: the agent drops the
/// output of any other exit).
pub fn plugin(cfg: &Path) -> Output {
    let out = run(cfg, &["plugin"]);
    assert_eq!(code(&out), 0, "plugin: {}", stderr(&out));
    out
}

/// Starts `watch --interval <interval_secs>` in the background, its output discarded.
pub fn spawn_watch(config: &Path, interval_secs: u32) -> std::process::Child {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["watch", "--interval", &interval_secs.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start watch")
}

/// Runs the binary with arguments, no shell.
pub fn run(config: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run pandora-ilert")
}

/// Exit code of an output, with stderr shown on mismatch.
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Pandora's substitution of a macro that fills a whole double-quoted command word such as
/// `"_field1_"` (reference §1.1): the value becomes `"'` + value with `'` as `'\''` + `'"`,
/// inside the word's own quotes, so `/bin/sh` sees `""'value'""`.
pub fn pandora_quote(value: &str) -> String {
    format!("\"\"'{}'\"\"", value.replace('\'', "'\\''"))
}

/// The alert values Pandora substitutes, as (option, value) pairs.
pub struct PandoraAlert {
    pub words: Vec<(String, String)>,
}

impl PandoraAlert {
    /// A firing with typical values; `id` is `_id_alert_`.
    pub fn firing(id: &str) -> PandoraAlert {
        PandoraAlert {
            words: vec![
                ("--event".into(), "alert".into()),
                ("--alert-id".into(), id.into()),
                ("--agent".into(), "web-01".into()),
                ("--module".into(), "CPU Load".into()),
                ("--data".into(), "95.5".into()),
                ("--unit".into(), "%".into()),
                ("--severity".into(), "Critical".into()),
                ("--summary".into(), "".into()),
                ("--timestamp".into(), "2026/11/24 02:21:59".into()),
                ("--group".into(), "Servers".into()),
                (
                    "--homeurl".into(),
                    "http://pandora.example/pandora_console".into(),
                ),
                ("--agent-id".into(), "12".into()),
                ("--module-id".into(), "345".into()),
            ],
        }
    }

    /// The recovery of `firing(id)`, as Pandora produces it: field1 takes its recovery value
    /// and every other non-empty field gets a `[RECOVER]` prefix.
    pub fn recovery(id: &str) -> PandoraAlert {
        let mut a = PandoraAlert::firing(id);
        for (opt, v) in a.words.iter_mut() {
            match opt.as_str() {
                "--event" => *v = "resolved".into(),
                "--alert-id" | "--agent-id" | "--module-id" => {}
                "--data" => *v = "12.0".into(),
                _ if !v.is_empty() => *v = format!("[RECOVER]{v}"),
                _ => {}
            }
        }
        a
    }

    pub fn set(mut self, opt: &str, value: &str) -> PandoraAlert {
        match self.words.iter_mut().find(|(o, _)| o == opt) {
            Some((_, v)) => *v = value.into(),
            None => self.words.push((opt.into(), value.into())),
        }
        self
    }

    /// The command string Pandora hands to `/bin/sh -c`.
    pub fn command_line(&self, config: &Path, extra: &str) -> String {
        let mut s = format!("{BIN} --config {} alert", config.display());
        for (opt, v) in &self.words {
            s.push(' ');
            s.push_str(opt);
            s.push(' ');
            s.push_str(&pandora_quote(v));
        }
        if !extra.is_empty() {
            s.push(' ');
            s.push_str(extra);
        }
        s
    }

    /// Runs it through `/bin/sh -c`, as the Pandora server does.
    pub fn run(&self, config: &Path) -> Output {
        self.run_with(config, "")
    }

    pub fn run_with(&self, config: &Path, extra: &str) -> Output {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(self.command_line(config, extra))
            .stdin(Stdio::null())
            .output()
            .expect("run sh")
    }

    pub fn spawn(&self, config: &Path) -> std::process::Child {
        Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("exec {}", self.command_line(config, "")))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh")
    }
}

/// Runs the real Pandora agent once through `tests/harness/pandora-agent.sh` (which installs
/// Debian's pandorafms-agent on first use) with extra config lines, and returns the data file
/// it wrote. Fails the test, saying why, when the agent cannot be installed or run.
pub fn real_agent_run(workdir: &Path, conf_lines: &[String]) -> PathBuf {
    let harness = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/harness/pandora-agent.sh"
    );
    let out = Command::new("bash")
        .arg(harness)
        .arg("run")
        .arg(workdir)
        .args(conf_lines)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {harness}: {e}"));
    assert!(
        out.status.success(),
        "the real Pandora agent could not be installed or run (this test needs it: \
         `bash tests/harness/pandora-agent.sh install` needs apt-get and perl, or set \
         PANDORA_AGENT_DEB to a pandorafms-agent .deb):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim_end())
}

/// Moves every RFC 3339 UTC timestamp string (`2026-11-24T07:40:05.123Z`, as the store writes
/// them) in `v` by `millis`.
fn shift_timestamps(v: &mut serde_json::Value, millis: i64) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(t) = parse_utc_millis(s) {
                *s = format_utc_millis(t + millis, s.contains('.'));
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| shift_timestamps(x, millis)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| shift_timestamps(x, millis)),
        _ => {}
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.mmm]Z` to milliseconds since the epoch.
fn parse_utc_millis(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && s.ends_with('Z');
    if !shape {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let days = days_from_civil(n(0..4)?, n(5..7)?, n(8..10)?);
    let secs = days * 86_400 + n(11..13)? * 3600 + n(14..16)? * 60 + n(17..19)?;
    let frac = match &s[19..s.len() - 1] {
        "" => 0,
        f => f.strip_prefix('.')?.get(..3)?.parse::<i64>().ok()?,
    };
    Some(secs * 1000 + frac)
}

fn format_utc_millis(t: i64, with_millis: bool) -> String {
    let (days, ms) = (t.div_euclid(86_400_000), t.rem_euclid(86_400_000));
    let (y, m, d) = civil_from_days(days);
    let (h, mi, se) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60);
    let base = format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{se:02}");
    if with_millis {
        format!("{base}.{:03}Z", ms % 1000)
    } else {
        format!("{base}Z")
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// FNV-1a 64 in hex, as the store checksums a re-fire in an `open/` marker.
fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
