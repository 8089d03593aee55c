//! The command line, kept apart from the logic: clap types never leave this module and
//! `commands`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_CODES_HELP;
use crate::pandora::AlertInput;

/// pandora-ilert: Pandora FMS alerts to ilert, with incident channels in chat.
#[derive(Parser, Debug)]
#[command(
    name = "pandora-ilert",
    version,
    about = "Pandora FMS alert command and agent plugin: alerts to ilert, incidents to chat",
    long_about = "Forwards Pandora FMS alerts to ilert (ALERT / RESOLVE with a stable alertKey) and keeps a \
                  chat channel per incident. Events are written to a durable outbox before any network call, \
                  so nothing is lost when ilert or chat is unreachable.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    /// Config file [default: /etc/pandora-ilert/pandora-ilert.toml]
    #[arg(long, global = true, env = "PANDORA_ILERT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also log info messages to stderr.
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// Which arguments were not UTF-8 and were decoded as Windows-1252 (logged once).
    #[arg(skip)]
    pub argv_note: Option<String>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Handle one Pandora alert firing or recovery (run by the Pandora server).
    #[command(after_help = ALERT_HELP)]
    Alert(Box<AlertArgs>),
    /// Deliver everything still queued, oldest first.
    #[command(
        after_help = "Provider Retry-After holds (up to 1 hour) are honoured; our own retry backoff is not \
                            (a person running flush wants it now). Exit 0 when the outbox is empty, 69 \
                            when something is still queued.\n\nExample, after fixing the network:\n\n  \
                            pandora-ilert flush && pandora-ilert status"
    )]
    Flush,
    /// Show open incidents, queued and dead-lettered events, and recent errors.
    #[command(after_help = STATUS_HELP)]
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Move dead letters back into the outbox (after fixing a key, say).
    #[command(after_help = REQUEUE_HELP)]
    Requeue,
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Archive chat channels of incidents resolved before the cut-off (never an open one).
    #[command(
        after_help = "Examples:\n  pandora-ilert archive --older-than 7d --dry-run\n  pandora-ilert archive --older-than 48h\n\n\
                            A closing line is posted before each channel is archived. Drill channels are archived \
                            first and as soon as the drill is resolved."
    )]
    Archive {
        /// Resolved longer ago than this (e.g. 7d, 48h, 30m).
        #[arg(long, default_value = "7d")]
        older_than: String,
        /// List what would be archived; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Post-mortem timeline of one incident: local event log and channel history merged.
    #[command(
        after_help = "INCIDENT is the Pandora alert id, the incident key or the channel name.\n\n\
                            Examples:\n  pandora-ilert timeline 6182268 > postmortem.md\n  \
                            pandora-ilert timeline pandorafms_alert_6182268 --json"
    )]
    Timeline {
        /// Pandora alert id, incident key or channel name.
        incident: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Follow the incident and intake channels and act on chat commands within seconds: one
    /// loop, one bounded pass every few seconds, until SIGTERM. Optional: the plugin does the
    /// same on every run.
    Watch {
        /// Seconds between passes (raised to stay within Slack's history rate limit).
        #[arg(long, default_value_t = 2)]
        interval: u64,
    },
    /// Drill: fire a labelled test alert through a route end to end, resolve it, print a checklist.
    #[command(
        after_help = "Examples:\n  pandora-ilert test\n  pandora-ilert test --route databases --json\n\n\
                            The drill really pages through the route's ilert alert source (labelled [DRILL], \
                            resolved within seconds) and opens a drill- channel. Exit 0 when every hop worked, \
                            69 when something is still queued, 78 when a provider refused it."
    )]
    Test {
        /// Route to test [default: the default route].
        #[arg(long)]
        route: Option<String>,
        /// ilert priority of the drill alert: `low` does not wake anyone up, `high` rehearses
        /// the real page.
        #[arg(long, default_value = "low", value_parser = ["low", "high"], ignore_case = true)]
        priority: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Agent plugin (module_plugin): deliver the queue, housekeeping, heartbeat, and print
    /// pandora-ilert's health as Pandora modules.
    #[command(after_help = PLUGIN_HELP)]
    Plugin,
    /// Forward Pandora agent data files: CRITICAL modules fire, NORMAL ones recover.
    #[command(after_help = XML_HELP)]
    Xml {
        /// Agent data files as the agent writes them (`-` reads standard input).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Check the installation: config, state directory, API reachability (nothing is created
    /// or sent) and the Pandora alert command definition.
    #[command(after_help = DOCTOR_HELP)]
    Doctor {
        /// The alert command definition, as typed in the console (Alerts > Commands) or as
        /// stored in `talert_commands.command` (HTML entities are decoded); `-` reads it from
        /// standard input.
        #[arg(long, value_name = "COMMAND", allow_hyphen_values = true)]
        command: Option<String>,
    },
    /// Print the manual page (roff), generated from this command-line definition.
    #[command(hide = true)]
    Man,
}

/// `config` subcommands.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the config and print the resolved routes (keys redacted).
    #[command(after_help = CONFIG_CHECK_HELP)]
    Check,
}

const ALERT_HELP: &str = "\
Pandora command definition (/usr/share/pandora-ilert/pandora/command.txt; the SQL beside it
registers it with its action). Only numbers and the server's timestamp reach the shell; the
text is read from the Pandora database ([pandora_db], read-only), so no monitored host can
inject commands through an agent alias, module name or data:

  /usr/bin/pandora-ilert alert --from-db --event \"_field1_\" --alert-id \"_id_alert_\" \\
    --agent-id \"_id_agent_\" --module-id \"_id_module_\" --priority \"_alert_priority_\" \\
    --times-fired \"_alert_times_fired_\" --timestamp \"_timestamp_\"

When the database cannot be read within [pandora_db] timeout (3 s), the alert still pages with
the ids and says the details were unavailable. The classic definition, text macros in action
fields (--agent \"_field2_\" ...; command-classic-unsafe.txt), is exposed to command injection by
any monitored host: use it only where the database cannot be read.

Action field1 = alert, field1 recovery = resolved: --event decides. A leading [RECOVER] on a
text value is stripped; it means recovery only when --event is missing or empty. Arguments
that are not UTF-8 (Latin-1 from Pandora) are decoded as Windows-1252. Try it with the
installed config (/etc/pandora-ilert/pandora-ilert.toml); --dry-run sends and changes nothing:

  pandora-ilert alert --event alert --alert-id 42 --agent web-01 --module 'CPU Load' \\
    --data 95.5 --severity Critical --summary '' --dry-run";

const PLUGIN_HELP: &str = "\
Pandora agent configuration (absolute path; the agent has no plugin timeout, so the run
enforces its own [plugin] deadline, 20 s by default):

  module_plugin /usr/bin/pandora-ilert --config /etc/pandora-ilert/pandora-ilert.toml plugin

Prints only <module> blocks on stdout and always exits 0 (the agent drops all output of a
non-zero exit); problems show as module states and in the log.";

const XML_HELP: &str = "\
Each <module> with <status>CRITICAL</status>, or data in its min_critical/max_critical range,
fires an incident keyed by agent + module; one back to NORMAL recovers an open incident;
WARNING and modules never seen firing change nothing. Bad files or modules are reported on
stderr one line each (file, agent, module, line and column); the good ones still go through.

Exit codes: 0 all delivered; 65 some files or modules were bad (the rest was processed);
69 something stayed queued (a later flush or plugin run delivers it); 78 a delivery was
refused for good (see `status`).";
const STATUS_HELP: &str = "\
Examples:

  pandora-ilert status
  pandora-ilert --config /etc/pandora-ilert/pandora-ilert.toml status --json

The JSON form (open_incidents, queued, dead_letters, quarantined, last_delivery, ...) is
meant for scripts.";

const REQUEUE_HELP: &str = "\
A delivery the API refused for good (a wrong integration key, say) is kept in dead/ with the
answer. After fixing the cause:

  pandora-ilert config check && pandora-ilert requeue && pandora-ilert flush";

const CONFIG_CHECK_HELP: &str = "\
Exit 0 and a summary when the file is valid; 78 and the file, line and key otherwise.

Examples:

  pandora-ilert config check
  pandora-ilert --config /tmp/new.toml config check && install -m 0640 /tmp/new.toml /etc/pandora-ilert/";

const DOCTOR_HELP: &str = "\
Prints one line per check (ok / WARN / FAIL / skip) and the fix under every problem:
the config, the state directory (exists, writable by this user, not open to all users),
the log file, each configured API (ilert: GET on the API base; Slack: auth.test; Matrix:
whoami; Teams: a token request, or for a webhook only a TCP connection: nothing is
created or posted), and the Pandora command definition given with --command.

Run it as the user the Pandora server runs as (usually root):

  pandora-ilert doctor
  pandora-ilert doctor --command \"$(cat /usr/share/pandora-ilert/pandora/command.txt)\"
  mysql -N -B -e \"SELECT command FROM talert_commands WHERE name = 'pandora-ilert'\" pandora \\
    | pandora-ilert doctor --command -

Exit 0 when nothing failed; 78 when the config, the state directory or the command
definition must be fixed; 69 when only the reachability of an API or of
the Pandora database failed.";

fn parse_macro(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not NAME=VALUE")),
    }
}

/// Options of `alert`. Every value accepts anything Pandora can produce, including empty
/// strings and text starting with `-`.
#[derive(Args, Debug, Default)]
pub struct AlertArgs {
    /// `alert` for a firing, `resolved` for a recovery (action field1 / field1 recovery).
    #[arg(long, allow_hyphen_values = true)]
    pub event: Option<String>,
    /// Pandora alert id, `_id_alert_`: the stable incident key.
    #[arg(long, allow_hyphen_values = true)]
    pub alert_id: Option<String>,
    /// Agent alias, `_agent_`.
    #[arg(long, allow_hyphen_values = true)]
    pub agent: Option<String>,
    /// Module name, `_module_`.
    #[arg(long, allow_hyphen_values = true)]
    pub module: Option<String>,
    /// Module data, `_data_`.
    #[arg(long, allow_hyphen_values = true)]
    pub data: Option<String>,
    /// Unit of the data, `_dataunit_`.
    #[arg(long, allow_hyphen_values = true)]
    pub unit: Option<String>,
    /// Severity text, `_alert_text_severity_`.
    #[arg(long, allow_hyphen_values = true)]
    pub severity: Option<String>,
    /// Priority number 0-6, `_alert_priority_`.
    #[arg(long, allow_hyphen_values = true)]
    pub priority: Option<String>,
    /// Summary (title) text; empty uses the route's template.
    #[arg(long, allow_hyphen_values = true)]
    pub summary: Option<String>,
    /// Longer description added to the ilert details.
    #[arg(long, allow_hyphen_values = true)]
    pub details: Option<String>,
    /// `_timestamp_` (YYYY/MM/DD HH:MM:SS or YYYY-MM-DD HH:MM:SS, Pandora local time).
    #[arg(long, allow_hyphen_values = true)]
    pub timestamp: Option<String>,
    /// Agent group, `_agentgroup_`.
    #[arg(long, allow_hyphen_values = true)]
    pub group: Option<String>,
    /// Module tags, `_moduletags_` (comma separated).
    #[arg(long, allow_hyphen_values = true)]
    pub tags: Option<String>,
    /// Alert template name, `_alert_name_`.
    #[arg(long, allow_hyphen_values = true)]
    pub alert_name: Option<String>,
    /// Console URL, `_homeurl_`.
    #[arg(long, allow_hyphen_values = true)]
    pub homeurl: Option<String>,
    /// Agent id, `_id_agent_`.
    #[arg(long, allow_hyphen_values = true)]
    pub agent_id: Option<String>,
    /// Module id, `_id_module_`.
    #[arg(long, allow_hyphen_values = true)]
    pub module_id: Option<String>,
    /// Agent address, `_address_`.
    #[arg(long, allow_hyphen_values = true)]
    pub address: Option<String>,
    /// `_alert_times_fired_`.
    #[arg(long, allow_hyphen_values = true)]
    pub times_fired: Option<String>,
    /// Any other macro, NAME=VALUE (repeatable); lands in ilert custom details.
    #[arg(long = "macro", value_name = "NAME=VALUE", value_parser = parse_macro, allow_hyphen_values = true)]
    pub macros: Vec<(String, String)>,
    /// Read agent, module, data, group and template text from the Pandora database
    /// ([pandora_db], read-only) by the ids on the command line: the safe definition, into
    /// which no monitored host can inject shell commands. Values given on the command line win.
    #[arg(long)]
    pub from_db: bool,
    /// Use this route instead of the routing rules.
    #[arg(long)]
    pub route: Option<String>,
    /// Print the exact requests it would send (keys redacted) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

impl AlertArgs {
    /// The raw values for `pandora::Alert::from_input`.
    pub fn input(&self) -> AlertInput {
        AlertInput {
            event: self.event.clone(),
            alert_id: self.alert_id.clone(),
            agent: self.agent.clone(),
            module: self.module.clone(),
            data: self.data.clone(),
            unit: self.unit.clone(),
            severity: self.severity.clone(),
            priority: self.priority.clone(),
            summary: self.summary.clone(),
            details: self.details.clone(),
            timestamp: self.timestamp.clone(),
            group: self.group.clone(),
            tags: self.tags.clone(),
            alert_name: self.alert_name.clone(),
            homeurl: self.homeurl.clone(),
            agent_id: self.agent_id.clone(),
            module_id: self.module_id.clone(),
            address: self.address.clone(),
            times_fired: self.times_fired.clone(),
            extra: self.macros.clone(),
        }
    }
}

/// `alert`'s command line read without clap, when it has the plain shape a Pandora action
/// produces: `[--config FILE] [-v] alert --name VALUE ... [--from-db] [--dry-run]`. `None` for
/// anything else (help, an unknown or repeated option, a missing value), which clap then
/// parses and reports. Building clap's whole command tree costs a third of a re-fire's own
/// work (README, "Performance"); the tests below keep both readings of an argv the same.
pub fn parse_alert_fast(args: &[OsString]) -> Option<Cli> {
    // clap reads the config path from the environment too: leave that case to it.
    if std::env::var_os("PANDORA_ILERT_CONFIG").is_some() {
        return None;
    }
    let mut config: Option<PathBuf> = None;
    let mut verbose = false;
    let mut alert: Option<AlertArgs> = None;
    let mut tokens = args.iter().skip(1);
    // The next word as text (`decode_args` made every word but file paths text).
    while let Some(token) = tokens.next() {
        let token = token.to_str()?;
        if token == "alert" && alert.is_none() {
            alert = Some(AlertArgs::default());
            continue;
        }
        if token == "-v" || token == "--verbose" {
            if verbose {
                return None;
            }
            verbose = true;
            continue;
        }
        let (name, inline) = match token.strip_prefix("--")?.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (token.strip_prefix("--")?, None),
        };
        if name == "config" {
            let path = match inline {
                Some(v) => PathBuf::from(v),
                None => {
                    let next = tokens.next()?;
                    if next.to_str().is_some_and(|v| v.starts_with('-')) {
                        return None;
                    }
                    PathBuf::from(next)
                }
            };
            // clap refuses an empty path; let it say so.
            if path.as_os_str().is_empty() {
                return None;
            }
            if config.replace(path).is_some() {
                return None;
            }
            continue;
        }
        let a = alert.as_mut()?;
        match name {
            "from-db" | "dry-run" => {
                let flag = if name == "from-db" {
                    &mut a.from_db
                } else {
                    &mut a.dry_run
                };
                if inline.is_some() || *flag {
                    return None;
                }
                *flag = true;
            }
            "macro" => {
                let value = option_value(inline, &mut tokens, true)?;
                a.macros.push(parse_macro(&value).ok()?);
            }
            "route" => {
                let value = option_value(inline, &mut tokens, false)?;
                if value.is_empty() || a.route.replace(value).is_some() {
                    return None;
                }
            }
            _ => {
                let slot = alert_value_slot(a, name)?;
                let value = option_value(inline, &mut tokens, true)?;
                if slot.replace(value).is_some() {
                    return None;
                }
            }
        }
    }
    Some(Cli {
        config,
        verbose,
        command: Command::Alert(Box::new(alert?)),
        argv_note: None,
    })
}

/// An option's value: after its `=`, else the next word as text (`decode_args` made every
/// word but file paths text). With `allow_hyphen` (clap's `allow_hyphen_values`) that word is
/// the value whatever it is; without, a word starting with `-` is left to clap.
fn option_value<'a>(
    inline: Option<String>,
    tokens: &mut impl Iterator<Item = &'a OsString>,
    allow_hyphen: bool,
) -> Option<String> {
    match inline {
        Some(v) => Some(v),
        None => tokens
            .next()
            .and_then(|t| t.to_str())
            .filter(|v| allow_hyphen || !v.starts_with('-'))
            .map(str::to_string),
    }
}

/// The field of a plain `alert` value option (`allow_hyphen_values`), by its long name.
fn alert_value_slot<'a>(a: &'a mut AlertArgs, long: &str) -> Option<&'a mut Option<String>> {
    Some(match long {
        "event" => &mut a.event,
        "alert-id" => &mut a.alert_id,
        "agent" => &mut a.agent,
        "module" => &mut a.module,
        "data" => &mut a.data,
        "unit" => &mut a.unit,
        "severity" => &mut a.severity,
        "priority" => &mut a.priority,
        "summary" => &mut a.summary,
        "details" => &mut a.details,
        "timestamp" => &mut a.timestamp,
        "group" => &mut a.group,
        "tags" => &mut a.tags,
        "alert-name" => &mut a.alert_name,
        "homeurl" => &mut a.homeurl,
        "agent-id" => &mut a.agent_id,
        "module-id" => &mut a.module_id,
        "address" => &mut a.address,
        "times-fired" => &mut a.times_fired,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::CommandFactory;
    use proptest::prelude::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("pandora-ilert")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Both readings of `args`: the fast one, when it takes the argv, must be clap's.
    fn agree(args: &[OsString]) -> Result<bool, TestCaseError> {
        let Some(fast) = parse_alert_fast(args) else {
            return Ok(false);
        };
        let clap = Cli::try_parse_from(args);
        prop_assert!(clap.is_ok(), "fast path took {args:?}, clap refused it");
        prop_assert_eq!(format!("{fast:?}"), format!("{:?}", clap.unwrap()));
        Ok(true)
    }

    #[test]
    fn every_alert_option_is_known_to_the_fast_path() {
        let cli = Cli::command();
        let alert = cli.find_subcommand("alert").unwrap();
        let mut a = AlertArgs::default();
        for arg in alert.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            let known = alert_value_slot(&mut a, long).is_some()
                || ["macro", "route", "from-db", "dry-run"].contains(&long);
            assert!(known, "--{long} is not read by parse_alert_fast");
            if alert_value_slot(&mut a, long).is_some() {
                assert!(arg.is_allow_hyphen_values_set(), "--{long}");
                assert!(arg.get_action().takes_values(), "--{long}");
            }
        }
        let globals: Vec<&str> = cli.get_arguments().filter_map(|a| a.get_long()).collect();
        assert_eq!(
            globals,
            ["config", "verbose"],
            "globals the fast path reads"
        );
    }

    #[test]
    fn a_pandora_command_line_is_read_without_clap_and_the_same() {
        let line = argv(&[
            "--config",
            "/etc/p.toml",
            "alert",
            "--event",
            "alert",
            "--alert-id",
            "6182268",
            "--agent",
            "web-01",
            "--module",
            "CPU Load",
            "--data",
            "-3",
            "--unit",
            "",
            "--summary",
            "--details",
            "--macro",
            "_field4_=a=b",
            "--group=Servers",
            "--from-db",
        ]);
        assert!(agree(&line).unwrap(), "taken by the fast path");
        for other in [
            argv(&["alert", "--help"]),
            argv(&["alert", "--event", "a", "--event", "b"]),
            argv(&["alert", "--agent"]),
            argv(&["alert", "--route", "-x"]),
            argv(&["alert", "--dry-run=yes"]),
            argv(&["status"]),
            argv(&["--config", "a", "--config", "b", "alert"]),
            argv(&["alert", "positional"]),
            argv(&["alert", "--config", ""]),
            argv(&["alert", "--config="]),
        ] {
            assert!(parse_alert_fast(&other).is_none(), "{other:?} is clap's");
        }
    }

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("--event".to_string()),
            Just("--alert-id".to_string()),
            Just("--summary".to_string()),
            Just("--macro".to_string()),
            Just("--route".to_string()),
            Just("--config".to_string()),
            Just("--from-db".to_string()),
            Just("--dry-run".to_string()),
            Just("-v".to_string()),
            Just("--verbose".to_string()),
            Just("--".to_string()),
            Just("-h".to_string()),
            Just("--unknown".to_string()),
            Just("alert".to_string()),
            Just("status".to_string()),
            Just("".to_string()),
            "[a-z=_-]{0,6}",
            "--(event|data|macro|route|config|group)=[a-z=_-]{0,5}",
        ]
    }

    /// A line as a Pandora action writes it: distinct options in any order, any values.
    fn pandora_line() -> impl Strategy<Value = Vec<String>> {
        let longs = [
            "event",
            "alert-id",
            "agent",
            "module",
            "data",
            "unit",
            "severity",
            "priority",
            "summary",
            "details",
            "timestamp",
            "group",
            "tags",
            "alert-name",
            "homeurl",
            "agent-id",
            "module-id",
            "address",
            "times-fired",
        ];
        let value = prop_oneof![
            Just(String::new()),
            Just("-".to_string()),
            Just("--event".to_string()),
            "[ -~]{0,12}",
            "\\PC{0,8}",
        ];
        (
            proptest::sample::subsequence(longs.to_vec(), 0..longs.len()).prop_shuffle(),
            proptest::collection::vec((value, any::<bool>()), longs.len()),
            any::<bool>(),
        )
            .prop_map(|(names, values, config_first)| {
                let mut words = Vec::new();
                if config_first {
                    words.extend(["--config".to_string(), "/etc/p.toml".to_string()]);
                }
                words.push("alert".to_string());
                for (name, (value, inline)) in names.into_iter().zip(values) {
                    if inline {
                        words.push(format!("--{name}={value}"));
                    } else {
                        words.extend([format!("--{name}"), value]);
                    }
                }
                words
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn pandora_lines_take_the_fast_path_and_read_as_clap_reads_them(words in pandora_line()) {
            let mut args = vec![OsString::from("pandora-ilert")];
            args.extend(words.into_iter().map(OsString::from));
            prop_assert!(agree(&args)?, "not taken: {args:?}");
        }

        #[test]
        fn fast_alert_parse_agrees_with_clap(words in proptest::collection::vec(word(), 0..12)) {
            let mut args = vec![OsString::from("pandora-ilert")];
            args.extend(words.into_iter().map(OsString::from));
            agree(&args)?;
        }

        #[test]
        fn fast_alert_parse_agrees_with_clap_on_alert_lines(words in proptest::collection::vec(word(), 0..12)) {
            let mut args = vec![OsString::from("pandora-ilert"), OsString::from("alert")];
            args.extend(words.into_iter().map(OsString::from));
            agree(&args)?;
        }
    }
}
