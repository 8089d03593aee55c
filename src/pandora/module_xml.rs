//! Pandora agent-plugin output: `<module>` blocks written with quick-xml (reference §3.2).
//!
//! The agent pastes a plugin's stdout verbatim into its data file, and one bad byte makes the
//! server reject the whole file (`*_BADXML`: every module of that agent interval is lost). So
//! everything here is built with quick-xml's writer, never by string pasting, and every text
//! is made safe first: control characters removed, line breaks folded into spaces, `]]>` split
//! across two CDATA sections, length bounded. The module type follows from the value, so a
//! numeric module can only ever carry a number.

use std::fmt;

use quick_xml::events::{BytesCData, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// Longest module name we print, in characters.
const NAME_MAX_CHARS: usize = 200;
/// Longest text value or description we print, in characters.
const TEXT_MAX_CHARS: usize = 1000;

/// A module's value; it decides the Pandora module type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// `generic_data`: a count, an age, a duration.
    Number(i64),
    /// `generic_proc`: 1 is up / normal, 0 is down / critical.
    Proc(bool),
    /// `generic_data_string`: one line of text (an empty text prints as `-`, since the server
    /// drops empty string data).
    Text(String),
}

impl Value {
    /// The Pandora module type for this value.
    pub fn module_type(&self) -> &'static str {
        match self {
            Value::Number(_) => "generic_data",
            Value::Proc(_) => "generic_proc",
            Value::Text(_) => "generic_data_string",
        }
    }
}

/// A module state set by the plugin; it overrides the module's thresholds on the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Green.
    Normal,
    /// Yellow.
    Warning,
    /// Red.
    Critical,
}

impl Status {
    /// The tag text the server understands.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Normal => "NORMAL",
            Status::Warning => "WARNING",
            Status::Critical => "CRITICAL",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One module as the plugin reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    /// Full module name, prefix included.
    pub name: String,
    /// The value (and so the type).
    pub value: Value,
    /// What the module measures, and what to do about a bad value.
    pub description: String,
    /// Unit shown next to the value.
    pub unit: Option<String>,
    /// Values at or above this are WARNING (numeric modules).
    pub min_warning: Option<i64>,
    /// Values at or above this are CRITICAL (numeric modules).
    pub min_critical: Option<i64>,
    /// A state we know ourselves; overrides the thresholds.
    pub status: Option<Status>,
}

impl Module {
    /// A module with a value and a description and nothing else.
    pub fn new(name: impl Into<String>, value: Value, description: impl Into<String>) -> Module {
        Module {
            name: name.into(),
            value,
            description: description.into(),
            unit: None,
            min_warning: None,
            min_critical: None,
            status: None,
        }
    }

    /// Sets the unit.
    pub fn unit(mut self, unit: &str) -> Module {
        self.unit = Some(unit.to_string());
        self
    }

    /// Sets the warning and critical thresholds (`min_*`: at or above is bad).
    pub fn thresholds(mut self, warning: Option<i64>, critical: Option<i64>) -> Module {
        self.min_warning = warning;
        self.min_critical = critical;
        self
    }

    /// Sets the state.
    pub fn status(mut self, status: Status) -> Module {
        self.status = Some(status);
        self
    }
}

/// Makes text safe for a Pandora data file: only characters XML 1.0 allows, no C0/C1 control
/// characters (tabs and line breaks become spaces, the rest is dropped), no non-characters,
/// trimmed, and at most `max` characters (an ellipsis marks a cut).
pub fn clean_text(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    let mut last_space = false;
    for c in text.chars() {
        let c = match c {
            '\t' | '\n' | '\r' => ' ',
            c if c.is_control() => continue,
            '\u{FFFE}' | '\u{FFFF}' => continue,
            c => c,
        };
        if c == ' ' && last_space {
            continue;
        }
        last_space = c == ' ';
        out.push(c);
    }
    let trimmed = out.trim();
    if trimmed.chars().count() <= max {
        return trimmed.to_string();
    }
    let mut cut: String = trimmed.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Renders modules as the agent expects plugin output: `<module>` blocks only, one element per
/// line, no XML declaration.
pub fn render(modules: &[Module]) -> String {
    if modules.is_empty() {
        return String::new();
    }
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 0);
    for m in modules {
        // Writing into a Vec cannot fail; a failed write would only shorten the output.
        let _ = write_module(&mut w, m);
    }
    let _ = w.write_event(Event::Text(BytesText::new("\n")));
    // Every piece written is a &str, so the bytes are UTF-8.
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

fn write_module(w: &mut Writer<Vec<u8>>, m: &Module) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new("module")))?;
    let name = match clean_text(&m.name, NAME_MAX_CHARS) {
        n if n.is_empty() => "unnamed".to_string(),
        n => n,
    };
    cdata_element(w, "name", &name)?;
    cdata_element(w, "type", m.value.module_type())?;
    let data = match &m.value {
        Value::Number(n) => n.to_string(),
        Value::Proc(up) => u8::from(*up).to_string(),
        Value::Text(t) => match clean_text(t, TEXT_MAX_CHARS) {
            t if t.is_empty() => "-".to_string(),
            t => t,
        },
    };
    cdata_element(w, "data", &data)?;
    cdata_element(
        w,
        "description",
        &clean_text(&m.description, TEXT_MAX_CHARS),
    )?;
    if let Some(unit) = &m.unit {
        cdata_element(w, "unit", &clean_text(unit, NAME_MAX_CHARS))?;
    }
    if matches!(m.value, Value::Number(_)) {
        if let Some(n) = m.min_warning {
            text_element(w, "min_warning", &n.to_string())?;
        }
        if let Some(n) = m.min_critical {
            text_element(w, "min_critical", &n.to_string())?;
        }
    }
    if let Some(s) = m.status {
        text_element(w, "status", s.as_str())?;
    }
    w.write_event(Event::End(BytesEnd::new("module")))
}

/// `<tag><![CDATA[text]]></tag>`, with `]]>` split across sections (`]]]]><![CDATA[>`).
fn cdata_element(w: &mut Writer<Vec<u8>>, tag: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(tag)))?;
    for section in BytesCData::escaped(text) {
        w.write_event(Event::CData(section))?;
    }
    w.write_event(Event::End(BytesEnd::new(tag)))
}

/// `<tag>text</tag>` with `& < >` escaped.
fn text_element(w: &mut Writer<Vec<u8>>, tag: &str, text: &str) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(tag)))?;
    w.write_event(Event::Text(BytesText::new(text)))?;
    w.write_event(Event::End(BytesEnd::new(tag)))
}

#[cfg(test)]
mod tests {
    use super::*;

    use quick_xml::events::Event;
    use quick_xml::Reader;

    /// Parses rendered output back (wrapped in a root, as the agent does) into
    /// (tag, text) pairs per module.
    fn parse_back(xml: &str) -> Vec<Vec<(String, String)>> {
        let doc = format!("<agent_data>{xml}</agent_data>");
        let mut r = Reader::from_str(&doc);
        let mut modules = Vec::new();
        let mut current: Vec<(String, String)> = Vec::new();
        let mut tag = String::new();
        let mut text = String::new();
        loop {
            match r.read_event().expect("well-formed") {
                Event::Start(e) => {
                    tag = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                    text.clear();
                }
                Event::CData(c) => text.push_str(std::str::from_utf8(&c).unwrap()),
                Event::Text(t) => text.push_str(&t.unescape().unwrap()),
                Event::End(e) => match e.name().as_ref() {
                    b"module" => modules.push(std::mem::take(&mut current)),
                    b"agent_data" => {}
                    _ => current.push((tag.clone(), text.trim().to_string())),
                },
                Event::Eof => break,
                _ => {}
            }
        }
        modules
    }

    #[test]
    fn renders_the_documented_shape() {
        let m = Module::new("pandora-ilert queued events", Value::Number(3), "pending")
            .unit("events")
            .thresholds(Some(1), Some(50))
            .status(Status::Warning);
        let out = render(&[m]);
        assert_eq!(
            out,
            "<module>\n<name><![CDATA[pandora-ilert queued events]]></name>\n\
             <type><![CDATA[generic_data]]></type>\n<data><![CDATA[3]]></data>\n\
             <description><![CDATA[pending]]></description>\n<unit><![CDATA[events]]></unit>\n\
             <min_warning>1</min_warning>\n<min_critical>50</min_critical>\n\
             <status>WARNING</status>\n</module>\n"
        );
    }

    #[test]
    fn cdata_terminator_is_split_and_reads_back_intact() {
        let m = Module::new(
            "agent ]]> x",
            Value::Text("a]]>b]]>".into()),
            "<b>&amp;</b>",
        );
        let out = render(&[m]);
        assert!(!out.contains("a]]>b"), "{out}");
        let back = parse_back(&out);
        assert_eq!(back[0][0], ("name".into(), "agent ]]> x".into()));
        assert_eq!(back[0][2], ("data".into(), "a]]>b]]>".into()));
        assert_eq!(back[0][3], ("description".into(), "<b>&amp;</b>".into()));
    }

    #[test]
    fn control_characters_are_removed_and_lines_folded() {
        assert_eq!(
            clean_text("a\u{0}b\u{1b}[31mc\n\td\u{85}e\u{7f}", 100),
            "ab[31mc de"
        );
        assert_eq!(clean_text("  x  \r\n ", 100), "x");
        assert_eq!(clean_text("\u{FFFE}ok\u{FFFF}", 100), "ok");
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let t = clean_text(&"é".repeat(5000), 10);
        assert_eq!(t.chars().count(), 10);
        assert!(t.ends_with('…'));
    }

    #[test]
    fn value_decides_the_type_and_numbers_stay_numeric() {
        let out = render(&[
            Module::new("a", Value::Number(-5), ""),
            Module::new("b", Value::Proc(false), "").thresholds(Some(1), Some(2)),
            Module::new("c", Value::Text("\u{0}".into()), ""),
        ]);
        let back = parse_back(&out);
        assert_eq!(back[0][1].1, "generic_data");
        assert_eq!(back[0][2].1, "-5");
        assert_eq!(back[1][1].1, "generic_proc");
        assert_eq!(back[1][2].1, "0");
        assert!(
            !back[1].iter().any(|(t, _)| t.starts_with("min_")),
            "thresholds only on numeric modules"
        );
        assert_eq!(back[2][1].1, "generic_data_string");
        assert_eq!(
            back[2][2].1, "-",
            "empty text is replaced, the server drops it"
        );
    }

    #[test]
    fn nothing_but_module_blocks() {
        assert_eq!(render(&[]), "");
        let out = render(&[Module::new("x", Value::Number(1), "")]);
        assert!(out.starts_with("<module>"));
        assert!(out.trim_end().ends_with("</module>"));
    }
}
