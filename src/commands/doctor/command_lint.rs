//! Lints a Pandora alert command definition (`talert_commands.command`) the way the Pandora
//! server will treat it (reference pandora.md §1.1-1.2, §2): HTML entities decoded, the string
//! split into words with their quotes kept, each macro substituted inside its word, the result
//! run by `/bin/sh -c`. Pure: text in, findings out.

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

/// Text macros of module alerts (reference §1.3). Any of them directly on the command line
/// suffers from the apostrophe bug, so they belong in action fields.
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
    "timestamp",
    "timezone",
    "data",
    "dataunit",
    "prevdata",
    "homeurl",
    "alert_name",
    "alert_description",
    "alert_text_severity",
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

/// Decodes the HTML entities the Pandora console stores (`&quot;`, `&#x20;`, `&#039;`, …),
/// as the server does before running the command. Unknown entities stay as they are.
pub fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let decoded = tail.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &tail[1..end];
            let c = match name {
                "quot" => Some('"'),
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => {
                    let num = name.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)
                }
            }?;
            Some((c, end + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &tail[len..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
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
                MacroKind::Field(_) | MacroKind::Numeric => {}
                MacroKind::Text => findings.push(fail(
                    format!(
                        "{} is a text macro directly on the command line: an apostrophe in its value \
                         (the console stores it as &#039;) breaks the shell quoting and the command never runs",
                        m.text
                    ),
                    &format!(
                        "put {} into an action field and pass \"_fieldN_\" here (field layout: /usr/share/pandora-ilert/pandora/README.md)",
                        m.text
                    ),
                )),
            }
        }
    }

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
                "write: /usr/bin/pandora-ilert alert --event \"_field1_\" --alert-id \"_id_alert_\" ...",
            ));
        } else {
            findings.extend(check_key_options(args));
        }
    }
    Lint {
        findings,
        words,
        program,
        macros,
    }
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
    fn documented_command_has_no_findings() {
        let l = lint(GOOD);
        assert_eq!(l.findings, vec![], "{l:?}");
        assert_eq!(l.macros, 5);
        assert_eq!(l.program, Some(0));
    }

    #[test]
    fn entity_encoded_command_from_the_database_is_decoded() {
        let stored = GOOD.replace(' ', "&#x20;").replace('"', "&quot;");
        let l = lint(&stored);
        assert_eq!(l.findings, vec![], "{l:?}");
        assert_eq!(
            decode_entities("O&#039;Brien &amp; &#39;x&#39; &bogus; &"),
            "O'Brien & 'x' &bogus; &"
        );
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
        let l = lint(&GOOD.replace("--agent \"_field2_\"", "--agent=\"_field2_\""));
        let f: Vec<&Finding> = l.findings.iter().collect();
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].problem.contains("only partly quoted"));
        assert_eq!(
            f[0].fix,
            "write the option and its value as two words: --agent \"_field2_\""
        );
    }

    #[test]
    fn text_macro_on_the_command_line_is_the_apostrophe_bug() {
        let l = lint(&GOOD.replace("\"_field3_\"", "\"_module_\""));
        let f = fails(&l);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].contains("_module_ is a text macro"), "{f:?}");
    }

    #[test]
    fn longest_macro_name_wins_and_matching_ignores_case() {
        let m = find_macros("\"_AgentGroup_ on _agent_\"");
        assert_eq!(
            m.iter().map(|m| m.text.as_str()).collect::<Vec<_>>(),
            ["_AgentGroup_", "_agent_"]
        );
        assert_eq!(find_macros("\"_id_alert_\"")[0].kind, MacroKind::Numeric);
        assert_eq!(find_macros("\"_field12_\"")[0].kind, MacroKind::Field(12));
        assert_eq!(
            find_macros("_agentcustomfield_3_")[0].text,
            "_agentcustomfield_3_"
        );
        assert!(find_macros("/usr/share/pandora_server/util").is_empty());
    }

    #[test]
    fn single_quotes_warn() {
        let l = lint(&GOOD.replace("\"_field2_\"", "'_field2_'"));
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
        let l = lint(&GOOD.replace(
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
        let l = lint(&format!("{GOOD} --timestamp \"_tiemstamp_\""));
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
