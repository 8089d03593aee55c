//! `pandora-ilert doctor`: checks an installation the way an administrator would, and prints
//! one line per check (`ok`, `WARN`, `FAIL`, `skip`) with the fix under each problem.
//!
//! It reads the config, the state directory's permissions, the reachability of every
//! configured API (read-only requests: nothing is created or posted), and the Pandora alert
//! command definition given with `--command`. Exit 0 when nothing failed, 78 when the
//! configuration (or the command definition, or the state directory) is wrong, 69 when only
//! reachability failed.

mod command_lint;
mod ilert_source;
mod probe;

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Read;
use std::path::Path;

use super::config_check::{placeholder_warnings, placeholders_left, PLACEHOLDER_FIX};
use crate::config::{ChatPlatform, Config};
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::stdout::outln;

use command_lint::{lint, Level};

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but should be changed.
    Warn,
    /// Broken.
    Fail,
    /// Not checked.
    Skip,
}

/// What a failure means for the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Something on this machine or in Pandora must be changed (exit 78).
    Config,
    /// A remote API cannot be reached (exit 69).
    Reach,
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// Outcome.
    pub status: Status,
    /// Exit-code class of a failure.
    pub class: Class,
    /// What was checked and found.
    pub what: String,
    /// What to do, for warnings and failures.
    pub fix: Option<String>,
}

impl Check {
    fn ok(what: String) -> Check {
        Check {
            status: Status::Ok,
            class: Class::Config,
            what,
            fix: None,
        }
    }
    fn warn(what: String, fix: &str) -> Check {
        Check {
            status: Status::Warn,
            class: Class::Config,
            what,
            fix: Some(fix.to_string()),
        }
    }
    fn fail(class: Class, what: String, fix: &str) -> Check {
        Check {
            status: Status::Fail,
            class,
            what,
            fix: Some(fix.to_string()),
        }
    }
    fn skip(what: String) -> Check {
        Check {
            status: Status::Skip,
            class: Class::Config,
            what,
            fix: None,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        write!(f, "{tag}  {}", self.what)?;
        if let Some(fix) = &self.fix {
            write!(f, "\n      fix: {fix}")?;
        }
        Ok(())
    }
}

/// Prints each check as it is made (a probe may take up to `request_timeout`) and keeps it.
#[derive(Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, c: Check) {
        outln!("{c}");
        self.checks.push(c);
    }
}

/// The exit code for a list of checks: 78 if anything but reachability failed, 69 if only
/// reachability failed, else 0.
pub fn exit_for(checks: &[Check]) -> Exit {
    let failed = |class| {
        checks
            .iter()
            .any(|c| c.status == Status::Fail && c.class == class)
    };
    if failed(Class::Config) {
        Exit::Config
    } else if failed(Class::Reach) {
        Exit::Queued
    } else {
        Exit::Ok
    }
}

/// Runs `doctor`. `command` is the Pandora command definition, `-` for standard input.
pub fn run(config_path: &Path, command: Option<&str>) -> Result<Exit, AppError> {
    let command = match command {
        Some("-") => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map_err(|e| {
                AppError::Usage(format!("--command -: cannot read standard input: {e}"))
            })?;
            Some(s)
        }
        other => other.map(str::to_string),
    };
    let mut report = Report::default();
    let config = match Config::load(config_path) {
        Ok(c) => {
            report.push(Check::ok(format!(
                "config {}: valid, {} route(s)",
                config_path.display(),
                c.routes.len()
            )));
            for w in &c.warnings {
                report.push(Check::warn(
                    format!("config: {w}"),
                    "see the config reference in README.md",
                ));
            }
            for w in placeholder_warnings(&c) {
                report.push(Check::warn(
                    format!("config: {w}"),
                    "rename it to one of the known placeholders",
                ));
            }
            Some(c)
        }
        Err(e) => {
            report.push(Check::fail(
                Class::Config,
                e.to_string(),
                "correct the file at the line shown, then run `pandora-ilert config check`; an annotated example is /usr/share/doc/pandora-ilert/pandora-ilert.toml.example",
            ));
            None
        }
    };
    if let Some(config) = &config {
        for c in placeholder_checks(config) {
            report.push(c);
        }
        for c in state_dir_checks(&config.state_dir) {
            report.push(c);
        }
        if let Some(log) = &config.log_file {
            report.push(log_file_check(log));
        }
        let http = Http::new(config.scrubber());
        let timeout = config.request_timeout;
        report.push(probe::ilert(&http, &config.ilert_url, timeout));
        for c in ilert_source::checks(config, &http, timeout) {
            report.push(c);
        }
        if let Some(s) = &config.slack {
            report.push(probe::slack(&http, s, timeout));
        }
        if let Some(m) = &config.matrix {
            report.push(probe::matrix(&http, m, timeout));
            let rooms = matrix_rooms_to_read(config);
            for c in probe::matrix_encrypted_rooms(&http, m, &rooms, timeout) {
                report.push(c);
            }
        }
        if let Some(t) = &config.teams {
            if let Some(c) = probe::teams_graph(&http, t, timeout) {
                let token_ok = c.status == Status::Ok;
                report.push(c);
                if token_ok {
                    // Channels we deleted in the last 30 days still count; Graph no longer
                    // lists them.
                    let store = crate::store::Store::open_read_only(&config.state_dir);
                    let deleted = crate::archive::teams_records(
                        crate::archive::records(&store),
                        None,
                        crate::time::Timestamp::now(),
                    )
                    .deleted_recently;
                    if let Some(c) = probe::teams_capacity(&http, t, timeout, deleted) {
                        report.push(c);
                    }
                }
            }
            let last_install = crate::store::Store::open_read_only(&config.state_dir)
                .read_meta(crate::chat::teams::BOT_INSTALL_META);
            for c in probe::teams_bot(&http, t, timeout, last_install.as_deref()) {
                report.push(c);
            }
            if let Some(w) = &t.webhook_url {
                report.push(probe::teams_webhook(w, timeout));
            }
        }
    }
    match &command {
        Some(cmd) => {
            for c in command_checks(cmd, config_path) {
                report.push(c);
            }
            if let Some(config) = config.as_ref().filter(|_| cmd.contains("--from-db")) {
                report.push(pandora_db_check(config));
            }
        }
        None => report.push(Check::skip(
            "Pandora command definition: not checked (pass it with --command '...' or --command - )"
                .into(),
        )),
    }
    let checks = report.checks;
    let count = |s| checks.iter().filter(|c| c.status == s).count();
    let exit = exit_for(&checks);
    outln!(
        "\n{} ok, {} warnings, {} failures: {}",
        count(Status::Ok),
        count(Status::Warn),
        count(Status::Fail),
        match exit {
            Exit::Ok => "ready",
            Exit::Queued => "events will queue until the unreachable APIs are reachable (exit 69)",
            _ => "fix the failures above (exit 78)",
        }
    );
    Ok(exit)
}

/// The Pandora database that `alert --from-db` reads: settings, connection, and the tables,
/// columns and privileges of its queries.
fn pandora_db_check(config: &Config) -> Check {
    use crate::pandora_db::PandoraDbError as E;
    match crate::pandora_db::check(&config.pandora_db) {
        Ok(at) => Check::ok(format!(
            "Pandora database: {at}: the tables alert --from-db reads answer"
        )),
        Err(e) => {
            let class = match e {
                E::Connect(_) | E::Timeout(_) => Class::Reach,
                E::Settings(_) | E::Query(_) | E::NotFound(_) => Class::Config,
            };
            Check::fail(
                class,
                format!("Pandora database: {e}"),
                "run doctor as the Pandora server's user (it reads /etc/pandora/pandora_server.conf), or set \
                 [pandora_db] (a read-only user needs SELECT on the tables listed in README.md, Security); \
                 meanwhile alerts page without agent and module names",
            )
        }
    }
}

/// Open incident rooms checked for encryption at most (the newest first).
const MATRIX_ROOMS_MAX: usize = 20;

/// The Matrix rooms the bot reads: each Matrix route's stakeholder and intake rooms, and the
/// rooms of open incidents (a homeserver that encrypts new rooms by default shows there).
fn matrix_rooms_to_read(config: &Config) -> Vec<(String, String)> {
    let mut rooms = Vec::new();
    for r in &config.routes {
        let Some(chat) = r
            .chat
            .as_ref()
            .filter(|c| c.backend == ChatPlatform::Matrix)
        else {
            continue;
        };
        if let Some(s) = &chat.stakeholder_channel {
            rooms.push((format!("stakeholder room of route '{}'", r.name), s.clone()));
        }
        if let Some(i) = &chat.intake_channel {
            rooms.push((format!("intake room of route '{}'", r.name), i.clone()));
        }
    }
    let store = crate::store::Store::open_read_only(&config.state_dir);
    let mut open: Vec<_> = store
        .open_incidents()
        .into_iter()
        .filter_map(|i| {
            let chat = i.chat.as_ref()?;
            let id = chat.channel_id.clone()?;
            (chat.backend == Some(ChatPlatform::Matrix))
                .then(|| (i.last_seen, (format!("room of incident {}", i.key), id)))
        })
        .collect();
    open.sort_by_key(|o| std::cmp::Reverse(o.0));
    rooms.extend(open.into_iter().take(MATRIX_ROOMS_MAX).map(|(_, r)| r));
    rooms
}

/// Marks the example config's placeholders (`REPLACE-WITH-...`) that are still in place.
pub fn placeholder_checks(config: &Config) -> Vec<Check> {
    placeholders_left(config)
        .into_iter()
        .map(|what| Check::fail(Class::Config, what, PLACEHOLDER_FIX))
        .collect()
}

/// The state directory: exists, is a directory, is writable by this user (and so are its
/// store subdirectories), is not open to every user.
pub fn state_dir_checks(dir: &Path) -> Vec<Check> {
    let shown = dir.display();
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return vec![Check::fail(
                Class::Config,
                format!("state_dir {shown} does not exist"),
                &format!(
                    "install -d -m 0750 {shown} (owner: the user the Pandora server runs as; the packages create it)"
                ),
            )]
        }
        Err(e) => {
            return vec![Check::fail(
                Class::Config,
                format!("state_dir {shown}: {e}"),
                "make the directory and its parents accessible to the Pandora server's user",
            )]
        }
    };
    if !meta.is_dir() {
        return vec![Check::fail(
            Class::Config,
            format!("state_dir {shown} is not a directory"),
            "point state_dir at a directory, e.g. /var/spool/pandora-ilert",
        )];
    }
    let mut out = Vec::new();
    let who = current_user();
    let mut unwritable: Vec<String> = Vec::new();
    if let Err(e) = probe_write(dir) {
        unwritable.push(format!("{shown} ({e})"));
    }
    for sub in crate::store::DIRS {
        let p = dir.join(sub);
        if p.is_dir() {
            if let Err(e) = probe_write(&p) {
                unwritable.push(format!("{} ({e})", p.display()));
            }
        }
    }
    if unwritable.is_empty() {
        out.push(Check::ok(format!("state_dir {shown} is writable by {who}")));
    } else {
        out.push(Check::fail(
            Class::Config,
            format!("not writable by {who}: {}", unwritable.join(", ")),
            &format!(
                "run doctor as the user the Pandora server and agent run as (usually root); if that user \
                 changed, chown -R that user {shown}"
            ),
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o002 != 0 {
            out.push(Check::fail(
                Class::Config,
                format!("state_dir {shown} is writable by every user (mode {mode:04o})"),
                &format!("chmod 0750 {shown}"),
            ));
        } else if mode & 0o005 != 0 {
            out.push(Check::warn(
                format!("state_dir {shown} is readable by every user (mode {mode:04o}): it holds alert data"),
                &format!("chmod 0750 {shown}"),
            ));
        } else {
            out.push(Check::ok(format!(
                "state_dir {shown} is private (mode {mode:04o})"
            )));
        }
    }
    out
}

/// The log file can be appended to (or created); otherwise logs go to stderr only.
pub fn log_file_check(path: &Path) -> Check {
    let shown = path.display();
    let fix = "create the directory with the Pandora server's user as owner (install -d -m 0750 DIR), or set log_file = \"stderr\"";
    if path.exists() {
        return match OpenOptions::new().append(true).open(path) {
            Ok(_) => Check::ok(format!("log file {shown} is writable")),
            Err(e) => Check::warn(
                format!("log file {shown} cannot be written ({e}): logs go to stderr (Pandora's server error log)"),
                fix,
            ),
        };
    }
    match path.parent() {
        Some(dir) if dir.is_dir() => match probe_write(dir) {
            Ok(()) => Check::ok(format!("log file {shown} will be created on first use")),
            Err(e) => Check::warn(
                format!(
                    "log directory {} is not writable ({e}): logs go to stderr",
                    dir.display()
                ),
                fix,
            ),
        },
        _ => Check::warn(
            format!("log directory of {shown} does not exist: the first run tries to create it"),
            fix,
        ),
    }
}

/// Lint findings plus what needs the machine: does the program exist, does the command's
/// `--config` match the one checked, does the command line parse.
fn command_checks(command: &str, config_path: &Path) -> Vec<Check> {
    let lint = lint(command);
    let mut out: Vec<Check> = lint
        .findings
        .iter()
        .map(|f| match f.level {
            Level::Fail => Check::fail(Class::Config, format!("command: {}", f.problem), &f.fix),
            Level::Warn => Check::warn(format!("command: {}", f.problem), &f.fix),
        })
        .collect();
    let Some(argv) = command_lint::sample_argv(&lint) else {
        return out;
    };
    let bin = Path::new(&argv[0]);
    if bin.is_absolute() && !bin.exists() {
        out.push(Check::warn(
            format!("command: {} does not exist on this machine", bin.display()),
            "install the package on the Pandora server, or correct the path (packages install /usr/bin/pandora-ilert)",
        ));
    }
    match parse_alert_argv(&argv) {
        Ok(cmd_config) => {
            let cmd_config =
                cmd_config.unwrap_or_else(|| crate::config::DEFAULT_CONFIG_PATH.into());
            if Path::new(&cmd_config) != config_path {
                out.push(Check::warn(
                    format!(
                        "command: uses config {cmd_config}, but doctor checked {}",
                        config_path.display()
                    ),
                    &format!("run: pandora-ilert --config {cmd_config} doctor --command ..."),
                ));
            }
        }
        Err(e) => out.push(Check::fail(
            Class::Config,
            format!("command: pandora-ilert would reject it: {e}"),
            "compare the options with `pandora-ilert alert --help` and pandora/command.txt",
        )),
    }
    if !out.iter().any(|c| c.status == Status::Fail) {
        out.push(Check::ok(format!(
            "command: {} macro(s), each a whole double-quoted word; --event \"_field1_\" and --alert-id \"_id_alert_\" present",
            lint.macros
        )));
    }
    out
}

/// Parses a sample argv with the real command-line definition; `Ok(config)` when it is an
/// `alert` command.
fn parse_alert_argv(argv: &[String]) -> Result<Option<String>, String> {
    use clap::Parser;
    let cli = crate::cli::Cli::try_parse_from(argv).map_err(|e| {
        // clap's first line says what is wrong; a "tip:" line names the likely option.
        let text = e.to_string();
        let mut lines = text.lines().map(str::trim);
        let first = lines.next().unwrap_or("").trim_start_matches("error: ");
        match lines.find(|l| l.starts_with("tip:")) {
            Some(tip) => format!("{first} ({tip})"),
            None => first.to_string(),
        }
    })?;
    match cli.command {
        crate::cli::Command::Alert(_) => Ok(cli.config.map(|p| p.display().to_string())),
        other => Err(format!("it runs {other:?}, not alert")),
    }
}

/// Creates and removes a probe file: the only reliable writability test (ACLs, read-only
/// mounts, root squash).
fn probe_write(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".doctor-{}", std::process::id()));
    OpenOptions::new().write(true).create_new(true).open(&p)?;
    fs::remove_file(&p)
}

/// `uid N` of this process (no libc needed: /proc/self is owned by it).
fn current_user() -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let Ok(m) = fs::metadata("/proc/self") {
            return match m.uid() {
                0 => "root (uid 0)".into(),
                uid => format!("uid {uid}"),
            };
        }
    }
    "this user".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pi-doctor-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn exit_code_prefers_config_failures_over_reachability() {
        let reach = Check::fail(Class::Reach, "x".into(), "y");
        let conf = Check::fail(Class::Config, "x".into(), "y");
        let warn = Check::warn("x".into(), "y");
        assert_eq!(exit_for(std::slice::from_ref(&warn)), Exit::Ok);
        assert_eq!(exit_for(&[warn, reach.clone()]), Exit::Queued);
        assert_eq!(exit_for(&[reach, conf]), Exit::Config);
    }

    #[test]
    fn missing_state_dir_fails_with_install_fix() {
        let c = state_dir_checks(Path::new("/nonexistent/pandora-ilert-state"));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].status, Status::Fail);
        assert!(c[0]
            .fix
            .as_deref()
            .unwrap()
            .starts_with("install -d -m 0750"));
    }

    #[cfg(unix)]
    #[test]
    fn world_writable_state_dir_fails_and_private_one_passes() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("modes");
        fs::set_permissions(&d, fs::Permissions::from_mode(0o777)).unwrap();
        let c = state_dir_checks(&d);
        assert!(c
            .iter()
            .any(|c| c.status == Status::Fail && c.what.contains("every user")));
        fs::set_permissions(&d, fs::Permissions::from_mode(0o750)).unwrap();
        let c = state_dir_checks(&d);
        assert!(c.iter().all(|c| c.status == Status::Ok), "{c:?}");
        assert!(
            fs::read_dir(&d).unwrap().next().is_none(),
            "probe file left behind"
        );
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_documented_command_parses_with_the_real_cli() {
        let l = lint("/usr/bin/pandora-ilert --config /etc/p.toml alert --event \"_field1_\" --alert-id \"_id_alert_\" --agent \"_field2_\"");
        let argv = command_lint::sample_argv(&l).unwrap();
        assert_eq!(parse_alert_argv(&argv), Ok(Some("/etc/p.toml".into())));
    }

    #[test]
    fn a_misspelt_option_is_reported_from_clap() {
        let l = lint("/usr/bin/pandora-ilert alert --event \"_field1_\" --alert-id \"_id_alert_\" --agnet \"_field2_\"");
        let e = parse_alert_argv(&command_lint::sample_argv(&l).unwrap()).unwrap_err();
        assert!(e.contains("--agnet"), "{e}");
    }

    #[test]
    fn report_lines_show_the_fix_under_the_problem() {
        let c = Check::fail(Class::Config, "broken".into(), "mend it");
        assert_eq!(c.to_string(), "FAIL  broken\n      fix: mend it");
        assert_eq!(Check::ok("fine".into()).to_string(), "ok    fine");
    }
}
