//! Lints a Pandora alert command definition (`talert_commands.command`) the way the Pandora
//! server will treat it (reference pandora.md §1.1-1.2, §2): HTML entities decoded, the string
//! split into words with their quotes kept, each macro substituted inside its word, the result
//! run by `/bin/sh -c`. Pure: text in, findings out.

use crate::pandora::entities::decode_entities;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Works, but fragile or not the documented form.
    Warn,
    /// Alerts will be lost, garbled or unsafe.
    Fail,
}

/// One problem in the command definition, with the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Warn or fail.
    pub level: Level,
    /// What is wrong.
    pub problem: String,
    /// What to change.
    pub fix: String,
}

/// The command definition, decoded and split as the Pandora server does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lint {
    /// Problems found, in command order.
    pub findings: Vec<Finding>,
    /// The words (quotes kept) after entity decoding; empty when the quotes do not balance.
    pub words: Vec<String>,
    /// Index of the word that runs pandora-ilert, if any.
    pub program: Option<usize>,
    /// Number of macro occurrences found.
    pub macros: usize,
}

/// Macros whose values are digits only (or empty): safe to pass directly, quoted.
const NUMERIC_MACROS: &[&str] = &[
    "id_alert",
    "id_agent",
    "id_module",
    "id_group",
    "alert_priority",
    "alert_times_fired",
    "alert_threshold",
    "interval",
    "time_down_seconds",
    "target_port",
    "agentstatus",
];

/// Macros whose values the Pandora server makes itself from a fixed vocabulary, which no
/// agent or console user chooses: the server's time and zone, and the severity's name.
const SERVER_MACROS: &[&str] = &["timestamp", "timezone", "alert_text_severity"];

/// Text macros of module alerts (reference §1.3): agent- or console-controlled text. Any of
/// them on the command line suffers from the apostrophe bug and lets that text reach the shell.
const TEXT_MACROS: &[&str] = &[
    "agentname",
    "agentalias",
    "agent",
    "agentcustomid",
    "agentdescription",
    "agentgroup",
    "agentos",
    "address",
    "all_address",
    "data",
    "dataunit",
    "prevdata",
    "homeurl",
    "alert_name",
    "alert_description",
    "alert_critical_instructions",
    "alert_warning_instructions",
    "alert_unknown_instructions",
    "groupcontact",
    "groupcustomid",
    "groupother",
    "module",
    "modulecustomid",
    "moduledescription",
    "modulegroup",
    "modulestatus",
    "moduletags",
    "modulelaststatuschange",
    "statusimage",
    "email_tag",
    "phone_tag",
    "name_tag",
    "secondarygroups",
    "server_ip",
    "server_name",
    "target_ip",
    "policy",
    "plugin_parameters",
    "time_down_human",
    "warning_threshold_min",
    "warning_threshold_max",
    "critical_threshold_min",
    "critical_threshold_max",
];

/// Text macros with a parameter: `_agentcustomfield_N_`, `_addressn_N_`, `_moduledata_NAME_`.
const TEXT_MACRO_FAMILIES: &[&str] = &["agentcustomfield_", "addressn_", "moduledata_"];

/// What kind of macro a match is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MacroKind {
    /// `_fieldN_` with its number.
    Field(u32),
    /// A digits-only macro such as `_id_alert_`.
    Numeric,
    /// A value the server makes from a fixed vocabulary, such as `_timestamp_`.
    Server,
    /// A text macro such as `_agent_`.
    Text,
}

/// A macro found inside a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MacroUse {
    /// The macro as written, e.g. `_field2_`.
    pub text: String,
    /// Its kind.
    pub kind: MacroKind,
}

/// Splits a command into words on whitespace outside quotes, keeping the quotes and
/// backslashes (Perl `quotewords('\s+', 1, …)`, which the server uses). `Err` when a quote is
/// not closed: the server then runs an empty command and logs nothing useful.
pub fn split_words(command: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                word.push(c);
                in_word = true;
                match chars.next() {
                    Some(next) => word.push(next),
                    None => return Err("the command ends with a lone backslash".into()),
                }
            }
            (Some(q), c) if c == q => {
                word.push(c);
                quote = None;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                word.push(c);
                in_word = true;
                quote = Some(c);
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(format!("a {q} quote is never closed"));
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The macros in a word, matched case-insensitively and unanchored, as the server does.
pub fn find_macros(word: &str) -> Vec<MacroUse> {
    let lower = word.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'_' {
            i += 1;
            continue;
        }
        match macro_at(&lower[i + 1..]) {
            Some((len, kind)) => {
                found.push(MacroUse {
                    text: word[i..i + 2 + len].to_string(),
                    kind,
                });
                i += 2 + len;
            }
            None => i += 1,
        }
    }
    found
}

/// The macro starting right after a `_` in `s` (lowercase): its name length and kind.
fn macro_at(s: &str) -> Option<(usize, MacroKind)> {
    if let Some(rest) = s.strip_prefix("field") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() && rest[digits.len()..].starts_with('_') {
            let n = digits.parse().unwrap_or(u32::MAX);
            return Some((5 + digits.len(), MacroKind::Field(n)));
        }
    }
    for family in TEXT_MACRO_FAMILIES {
        if let Some(rest) = s.strip_prefix(family) {
            // The parameter runs to the last `_` before whitespace or a quote.
            let span: &str = rest
                .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .next()
                .unwrap_or("");
            if let Some(end) = span.rfind('_').filter(|&e| e > 0) {
                return Some((family.len() + end, MacroKind::Text));
            }
        }
    }
    // Longest name first: `_agent_` must not shadow `_agentgroup_`.
    let mut best: Option<(usize, MacroKind)> = None;
    for (names, kind) in [
        (NUMERIC_MACROS, MacroKind::Numeric),
        (SERVER_MACROS, MacroKind::Server),
        (TEXT_MACROS, MacroKind::Text),
    ] {
        for name in names {
            if s.starts_with(name)
                && s[name.len()..].starts_with('_')
                && best.as_ref().is_none_or(|(l, _)| name.len() > *l)
            {
                best = Some((name.len(), kind.clone()));
            }
        }
    }
    best
}

/// How a word is quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quoting {
    /// `"…"` with no other double quote inside: Pandora escapes every macro value in it.
    Double,
    /// `'…'` with no other single quote inside.
    Single,
    /// Quotes around part of the word only, e.g. `--msg="_field2_"`.
    Partial,
    /// No quotes at all.
    None,
}

fn quoting(word: &str) -> Quoting {
    let whole = |q: char| {
        word.len() >= 2
            && word.starts_with(q)
            && word.ends_with(q)
            && !word[1..word.len() - 1].contains(q)
    };
    if whole('"') {
        Quoting::Double
    } else if whole('\'') {
        Quoting::Single
    } else if word.contains(['"', '\'']) {
        Quoting::Partial
    } else {
        Quoting::None
    }
}

/// A word with one level of shell quoting removed (for reading option values).
pub fn unquote(word: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some('\''), '\'') => quote = None,
            (Some('\''), c) => out.push(c),
            (Some('"'), '"') => quote = None,
            (Some('"'), '\\') => match chars.next() {
                Some(n @ ('"' | '\\' | '$' | '`')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            (None, '"' | '\'') => quote = Some(c),
            (_, c) => out.push(c),
        }
    }
    out
}

/// True for a word that is a shell operator or redirection (`>`, `2>&1`, `|`, `;`, `&&`).
pub fn is_shell_operator(word: &str) -> bool {
    let w = word.trim_start_matches(|c: char| c.is_ascii_digit());
    w.starts_with(['>', '<', '|', ';', '&'])
}

/// The option value that follows `option` (`--event "_field1_"`), as written.
fn option_value<'a>(words: &'a [String], option: &str) -> Option<&'a str> {
    words
        .iter()
        .position(|w| w == option)
        .and_then(|i| words.get(i + 1))
        .map(String::as_str)
}

/// Lints a command definition as entered in the console or stored in the database.
pub fn lint(command: &str) -> Lint {
    let decoded = decode_entities(command.trim());
    let mut findings = Vec::new();
    let fail = |problem: String, fix: &str| Finding {
        level: Level::Fail,
        problem,
        fix: fix.to_string(),
    };
    let words = match split_words(&decoded) {
        Ok(w) if !w.is_empty() => w,
        Ok(_) => {
            findings.push(fail(
                "the command is empty".into(),
                "paste the command line from pandora/command.txt into Alerts > Commands",
            ));
            return Lint {
                findings,
                words: Vec::new(),
                program: None,
                macros: 0,
            };
        }
        Err(e) => {
            findings.push(fail(
                format!("unbalanced quotes: {e}; Pandora then runs an empty command and every alert is lost silently"),
                "close every quote; each macro word looks exactly like \"_field2_\"",
            ));
            return Lint {
                findings,
                words: Vec::new(),
                program: None,
                macros: 0,
            };
        }
    };

    let program = words.iter().position(|w| {
        let w = unquote(w);
        let base = w.rsplit('/').next().unwrap_or(&w);
        base.starts_with("pandora-ilert")
    });
    let mut macros = 0;
    for word in &words {
        let uses = find_macros(word);
        macros += uses.len();
        if uses.is_empty() {
            let bare = unquote(word);
            if looks_like_macro(&bare) {
                findings.push(Finding {
                    level: Level::Warn,
                    problem: format!(
                        "{word} is not a Pandora macro: it reaches pandora-ilert literally"
                    ),
                    fix: "check the spelling against the macro list (Alerts > Commands > help)"
                        .into(),
                });
            }
            continue;
        }
        let q = quoting(word);
        let names: Vec<&str> = uses.iter().map(|m| m.text.as_str()).collect();
        let names = names.join(" ");
        match q {
            Quoting::Double => {}
            Quoting::Single => findings.push(Finding {
                level: Level::Warn,
                problem: format!("{word} is in single quotes"),
                fix: format!("use double quotes, the documented form: \"{}\"", unquote(word)),
            }),
            Quoting::Partial => findings.push(fail(
                format!(
                    "{word} is only partly quoted: Pandora escapes a macro value only when the whole word is in \
                     double quotes, so the shell expands $(...) and backticks inside it"
                ),
                &quoting_fix(word, &names),
            )),
            Quoting::None => findings.push(fail(
                format!(
                    "{word} is not quoted: the shell splits the value into words, expands $(...) and \
                     backticks in it, and an empty value shifts the following options"
                ),
                &quoting_fix(word, &names),
            )),
        }
        for m in &uses {
            match m.kind {
                MacroKind::Field(n) if !(1..=20).contains(&n) => findings.push(fail(
                    format!("{} does not exist: Pandora has _field1_ to _field20_", m.text),
                    "use a field number from 1 to 20",
                )),
                MacroKind::Field(_) | MacroKind::Numeric | MacroKind::Server => {}
                MacroKind::Text => findings.push(fail(
                    format!(
                        "{} is a text macro directly on the command line: an apostrophe in its value \
                         (the console stores it as &#039;) breaks the shell quoting and the command never runs",
                        m.text
                    ),
                    &format!(
                        "drop {} from the command line: use the safe definition of {SAFE_COMMAND_FILE} \
                         (--from-db reads the text from the Pandora database)",
                        m.text
                    ),
                )),
            }
        }
    }

    findings.extend(injection_finding(&words));

    if program.is_none() {
        findings.push(fail(
            "the command does not run pandora-ilert".into(),
            "start it with the absolute path of the binary: /usr/bin/pandora-ilert alert ...",
        ));
    }
    if let Some(p) = program {
        let bin = unquote(&words[p]);
        if !bin.starts_with('/') {
            findings.push(Finding {
                level: Level::Warn,
                problem: format!("{bin} is not an absolute path: the server runs commands from its temp directory with its own PATH"),
                fix: "write /usr/bin/pandora-ilert (where the packages install it)".into(),
            });
        }
        let args = &words[p + 1..];
        if let Some(config) = option_value(args, "--config") {
            if !unquote(config).starts_with('/') {
                findings.push(fail(
                    format!("--config {config} is relative: the server runs commands from its temp directory"),
                    "give the absolute path, e.g. --config /etc/pandora-ilert/pandora-ilert.toml",
                ));
            }
        }
        if !args.iter().any(|w| w == "alert") {
            findings.push(fail(
                "the command does not run the alert subcommand".into(),
                "write: /usr/bin/pandora-ilert alert --from-db --event \"_field1_\" --alert-id \"_id_alert_\" ...",
            ));
        } else {
            findings.extend(check_key_options(args));
            let carries_text = args.iter().flat_map(|w| find_macros(w)).any(|m| {
                matches!(m.kind, MacroKind::Text) || matches!(m.kind, MacroKind::Field(n) if n >= 2)
            });
            if !carries_text && !args.iter().any(|w| w == "--from-db") {
                findings.push(Finding {
                    level: Level::Warn,
                    problem: "the command passes only ids and no --from-db: ilert gets no agent, module or data".into(),
                    fix: format!("add --from-db, as in {SAFE_COMMAND_FILE}"),
                });
            }
        }
    }
    Lint {
        findings,
        words,
        program,
        macros,
    }
}

/// Where the packages install the safe command definition.
const SAFE_COMMAND_FILE: &str = "/usr/share/pandora-ilert/pandora/command.txt";

/// The risk of text on the command line, in one paragraph (reference pandora.md, "Confirmed by
/// running the real server code"; issue 16).
pub const INJECTION_RISK: &str = "Pandora's quoting does not hold for text: it escapes ' before \
it decodes HTML entities, and decodes field values once more when it substitutes macros into \
them, so an agent alias, module name or string data containing &#39;$(cmd)&#39; arrives as a \
bare ' and /bin/sh runs cmd on the Pandora server, as the server's user, whenever the alert \
fires or recovers. Agent names, module names and data come from the monitored hosts' own agent \
XML: any monitored host can run commands on this server.";

/// One finding that names every macro through which agent-controlled text reaches the shell:
/// text macros (which also fail on their own) and action fields 2-20, which the classic action
/// fills with `_agent_`, `_module_`, `_data_`. Field 1 carries the fixed `alert` / `resolved`.
fn injection_finding(words: &[String]) -> Option<Finding> {
    let mut names: Vec<String> = Vec::new();
    let mut text_macro = false;
    for m in words.iter().flat_map(|w| find_macros(w)) {
        let exposed = match m.kind {
            MacroKind::Field(n) => n >= 2,
            MacroKind::Text => {
                text_macro = true;
                true
            }
            MacroKind::Numeric | MacroKind::Server => false,
        };
        if exposed && !names.contains(&m.text) {
            names.push(m.text);
        }
    }
    if names.is_empty() {
        return None;
    }
    Some(Finding {
        level: if text_macro { Level::Fail } else { Level::Warn },
        problem: format!(
            "exposed to command injection: {} can carry agent-controlled text ({}). {INJECTION_RISK}",
            names.join(" "),
            if text_macro {
                "text macros on the command line"
            } else {
                "the classic action fills these fields with _agent_, _module_, _data_ ..."
            }
        ),
        fix: format!(
            "use the safe definition of {SAFE_COMMAND_FILE}: only ids on the command line, the text read \
             read-only from the Pandora database (alert --from-db, [pandora_db] in the config); keep the \
             classic one only where pandora-ilert cannot read that database"
        ),
    })
}

/// How to quote a badly quoted macro word: `--opt=_x_` becomes two words.
fn quoting_fix(word: &str, names: &str) -> String {
    match word.split_once('=') {
        Some((opt, _)) if opt.starts_with('-') && !opt.contains(['"', '\'']) => {
            format!("write the option and its value as two words: {opt} \"{names}\"")
        }
        _ => format!("make the macro a word of its own in double quotes: \"{names}\""),
    }
}

/// `--event "_field1_"` and `--alert-id "_id_alert_"`: the two options recovery depends on.
fn check_key_options(args: &[String]) -> Vec<Finding> {
    let mut out = Vec::new();
    // A right macro with wrong quoting is already reported by the quoting check.
    let quoted_elsewhere = |v: &str, want: &str| unquote(v) == want && v != format!("\"{want}\"");
    match option_value(args, "--event") {
        Some("\"_field1_\"") => {}
        Some(v) if quoted_elsewhere(v, "_field1_") => {}
        None => out.push(Finding {
            level: Level::Fail,
            problem: "no --event \"_field1_\": firings and recoveries cannot be told apart".into(),
            fix: "add --event \"_field1_\" and set the action's field1 = alert, field1 recovery = resolved".into(),
        }),
        Some(other) => out.push(Finding {
            level: Level::Fail,
            problem: format!(
                "--event {other}: only field1 takes its recovery value without a [RECOVER] prefix"
            ),
            fix: "write --event \"_field1_\"; action field1 = alert, field1 recovery = resolved".into(),
        }),
    }
    match option_value(args, "--alert-id") {
        Some("\"_id_alert_\"") => {}
        Some(v) if quoted_elsewhere(v, "_id_alert_") => {}
        None => out.push(Finding {
            level: Level::Fail,
            problem: "no --alert-id \"_id_alert_\": every firing becomes a new ilert alert and recoveries resolve nothing".into(),
            fix: "add --alert-id \"_id_alert_\" (digits only, safe on the command line)".into(),
        }),
        Some(other) if other.to_ascii_lowercase().contains("_field") => out.push(Finding {
            level: Level::Fail,
            problem: format!(
                "--alert-id {other}: the incident key travels in a field, which gets a [RECOVER] prefix at recovery"
            ),
            fix: "pass the key directly: --alert-id \"_id_alert_\"".into(),
        }),
        Some(other) => out.push(Finding {
            level: Level::Fail,
            problem: format!("--alert-id {other} is not the Pandora alert id"),
            fix: "write --alert-id \"_id_alert_\"".into(),
        }),
    }
    out
}

/// `_something_` with only letters, digits and underscores: meant as a macro.
fn looks_like_macro(s: &str) -> bool {
    s.len() > 2
        && s.starts_with('_')
        && s.ends_with('_')
        && s[1..s.len() - 1]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s[1..s.len() - 1].chars().any(|c| c.is_ascii_alphabetic())
}

/// The argv pandora-ilert would receive, with sample values for the macros (`1` for
/// digits-only ones, `x` for the rest); stops at the first shell operator. `None` when the
/// command does not run pandora-ilert.
pub fn sample_argv(lint: &Lint) -> Option<Vec<String>> {
    let p = lint.program?;
    let mut argv = Vec::new();
    for word in &lint.words[p..] {
        if is_shell_operator(word) {
            break;
        }
        let mut w = word.clone();
        for m in find_macros(word) {
            let sample = match m.kind {
                MacroKind::Numeric => "1",
                _ => "x",
            };
            w = w.replacen(&m.text, sample, 1);
        }
        argv.push(unquote(&w));
    }
    Some(argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The safe definition (pandora/command.txt): ids only, text from the database.
    const SAFE: &str = "/usr/bin/pandora-ilert alert --from-db --event \"_field1_\" --alert-id \"_id_alert_\" \
                        --agent-id \"_id_agent_\" --module-id \"_id_module_\" --priority \"_alert_priority_\" \
                        --times-fired \"_alert_times_fired_\" --timestamp \"_timestamp_\"";
    /// The classic definition's form: text macros in action fields.
    const GOOD: &str =
        "/usr/bin/pandora-ilert alert --event \"_field1_\" --alert-id \"_id_alert_\" \
                        --agent \"_field2_\" --module \"_field3_\" --agent-id \"_id_agent_\"";

    fn fails(l: &Lint) -> Vec<&str> {
        l.findings
            .iter()
            .filter(|f| f.level == Level::Fail)
            .map(|f| f.problem.as_str())
            .collect()
    }

    #[test]
    fn safe_command_has_no_findings() {
        let l = lint(SAFE);
        assert_eq!(l.findings, vec![], "{l:?}");
        assert_eq!(l.macros, 7);
        assert_eq!(l.program, Some(0));
    }

    #[test]
    fn classic_command_is_flagged_as_exposed_to_injection_naming_its_fields() {
        let l = lint(GOOD);
        assert_eq!(l.findings.len(), 1, "{l:?}");
        let f = &l.findings[0];
        assert_eq!(f.level, Level::Warn);
        assert!(
            f.problem.starts_with(
                "exposed to command injection: _field2_ _field3_ can carry agent-controlled text"
            ),
            "{}",
            f.problem
        );
        assert!(f.problem.contains("&#39;$(cmd)&#39;"), "{}", f.problem);
        assert!(f.fix.contains("--from-db"), "{}", f.fix);
    }

    #[test]
    fn ids_without_from_db_warn_that_ilert_gets_no_names() {
        let l = lint(&SAFE.replace(" --from-db", ""));
        assert_eq!(l.findings.len(), 1, "{l:?}");
        assert!(l.findings[0].problem.contains("no --from-db"), "{l:?}");
    }

    #[test]
    fn entity_encoded_command_from_the_database_is_decoded() {
        let stored = SAFE.replace(' ', "&#x20;").replace('"', "&quot;");
        let l = lint(&stored);
        assert_eq!(l.findings, vec![], "{l:?}");
    }

    #[test]
    fn words_keep_their_quotes_and_split_outside_them() {
        assert_eq!(
            split_words("a \"b c\" 'd e'  f\\ g \"h\\\"i\"").unwrap(),
            ["a", "\"b c\"", "'d e'", "f\\ g", "\"h\\\"i\""]
        );
    }

    #[test]
    fn unbalanced_quote_is_a_failure() {
        let l = lint("/usr/bin/pandora-ilert alert --event \"_field1_ --alert-id \"_id_alert_\"");
        assert_eq!(l.findings.len(), 1);
        assert!(l.findings[0].problem.contains("unbalanced quotes"), "{l:?}");
        assert!(l.words.is_empty());
    }

    #[test]
    fn unquoted_macro_is_a_failure() {
        let l = lint(&GOOD.replace("\"_field2_\"", "_field2_"));
        let f = fails(&l);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("_field2_ is not quoted"), "{f:?}");
        assert!(l.findings[0].fix.contains("\"_field2_\""));
    }

    #[test]
    fn partly_quoted_option_is_a_failure_with_a_two_word_fix() {
        let l = lint(&SAFE.replace("--agent-id \"_id_agent_\"", "--agent-id=\"_id_agent_\""));
        let f: Vec<&Finding> = l.findings.iter().collect();
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].problem.contains("only partly quoted"));
        assert_eq!(
            f[0].fix,
            "write the option and its value as two words: --agent-id \"_id_agent_\""
        );
    }

    #[test]
    fn text_macro_on_the_command_line_is_the_apostrophe_bug() {
        let l = lint(&GOOD.replace("\"_field3_\"", "\"_module_\""));
        let f = fails(&l);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f[0].contains("_module_ is a text macro"), "{f:?}");
        assert!(
            f[1].starts_with("exposed to command injection: _field2_ _module_ can carry"),
            "{f:?}"
        );
    }

    #[test]
    fn longest_macro_name_wins_and_matching_ignores_case() {
        let m = find_macros("\"_AgentGroup_ on _agent_\"");
        assert_eq!(
            m.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["_AgentGroup_", "_agent_"]
        );
        assert_eq!(find_macros("\"_id_alert_\"")[0].kind, MacroKind::Numeric);
        assert_eq!(find_macros("\"_timestamp_\"")[0].kind, MacroKind::Server);
        assert_eq!(find_macros("\"_field12_\"")[0].kind, MacroKind::Field(12));
        assert_eq!(
            find_macros("_agentcustomfield_3_")[0].text,
            "_agentcustomfield_3_"
        );
        assert!(find_macros("/usr/share/pandora_server/util").is_empty());
    }

    #[test]
    fn single_quotes_warn() {
        let l = lint(&SAFE.replace("\"_id_agent_\"", "'_id_agent_'"));
        assert_eq!(l.findings.len(), 1);
        assert_eq!(l.findings[0].level, Level::Warn);
    }

    #[test]
    fn missing_alert_id_and_event_fail() {
        let l = lint("/usr/bin/pandora-ilert alert --agent \"_field2_\"");
        let f = fails(&l);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().any(|p| p.contains("no --event")));
        assert!(f.iter().any(|p| p.contains("no --alert-id")));
    }

    #[test]
    fn incident_key_in_a_field_fails() {
        let l = lint(&GOOD.replace("\"_id_alert_\"", "\"_field9_\""));
        let f = fails(&l);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("[RECOVER] prefix"), "{f:?}");
    }

    #[test]
    fn event_from_another_field_fails() {
        let l = lint(&GOOD.replace("--event \"_field1_\"", "--event \"_field5_\""));
        assert!(fails(&l)[0].contains("only field1"), "{l:?}");
    }

    #[test]
    fn relative_program_warns_and_relative_config_fails() {
        let l = lint(&SAFE.replace(
            "/usr/bin/pandora-ilert alert",
            "pandora-ilert --config etc/p.toml alert",
        ));
        assert_eq!(l.findings.len(), 2, "{l:?}");
        assert_eq!(l.findings[0].level, Level::Warn);
        assert!(l.findings[1]
            .problem
            .contains("--config etc/p.toml is relative"));
    }

    #[test]
    fn other_program_fails() {
        let l = lint("/usr/bin/pandora_ilert -a \"KEY\" -t \"_field1_\"");
        assert!(fails(&l)
            .iter()
            .any(|p| p.contains("does not run pandora-ilert")));
    }

    #[test]
    fn unknown_macro_warns() {
        let l = lint(&format!("{SAFE} --details \"_tiemstamp_\""));
        assert_eq!(l.findings.len(), 1, "{l:?}");
        assert_eq!(l.findings[0].level, Level::Warn);
        assert!(l.findings[0].problem.contains("_tiemstamp_"));
    }

    #[test]
    fn field_beyond_twenty_fails() {
        let l = lint(&format!("{GOOD} --details \"_field21_\""));
        assert!(fails(&l)[0].contains("_field21_ does not exist"), "{l:?}");
    }

    #[test]
    fn sample_argv_substitutes_macros_and_stops_at_redirections() {
        let l = lint(&format!("/bin/env {GOOD} 2>>/tmp/err.log"));
        assert_eq!(
            sample_argv(&l).unwrap(),
            [
                "/usr/bin/pandora-ilert",
                "alert",
                "--event",
                "x",
                "--alert-id",
                "1",
                "--agent",
                "x",
                "--module",
                "x",
                "--agent-id",
                "1"
            ]
        );
    }

    #[test]
    fn unquote_removes_one_level_of_shell_quoting() {
        assert_eq!(unquote("\"a b\""), "a b");
        assert_eq!(unquote("'it'\\''s'"), "it's");
        assert_eq!(unquote("--x=\"y\""), "--x=y");
        assert_eq!(unquote("\"say \\\"hi\\\"\""), "say \"hi\"");
    }
}
