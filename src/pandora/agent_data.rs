//! Pandora agent data files (`<agent_data>` with `<module>` children, reference §3.3), read the
//! way the server would judge them, and each module's state worked out the way the server's
//! `get_module_status` does.
//!
//! Two users: `pandora-ilert xml` turns module states into firings and recoveries, and the
//! plugin explains files the server renamed `*_BADXML` (which agent, first error with line and
//! column). So the reader is strict where the server's expat parser is (invalid UTF-8, control
//! characters, a stray `]]>`, a file that ends early) although quick-xml alone is lenient
//! there, and it keeps going after a broken module so the good ones still count.
//!
//! Everything here is pure: bytes in, plain data out.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Errors outside modules kept per file (the first one is what matters).
const MAX_FILE_ERRORS: usize = 20;
/// Elements nested deeper than this stop the reading at that point (a real file nests five
/// levels: `agent_data/module/datalist/data/value`); bounds the work and the memory of a
/// file of unclosed tags (issue #11 item 10).
pub const MAX_DEPTH: usize = 64;
/// A value (the text of one module field) longer than this is not kept; the module is
/// reported instead, so memory stays proportional to one module.
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;
/// An agent data file larger than this is not read at all.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// Only the outer levels decide what is collected, so only their names are kept.
const TRACKED_DEPTH: usize = 5;

/// A problem in the file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XmlError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// Byte offset, for ordering.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {} column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// The `<agent_data>` attributes we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentHeader {
    /// `agent_name` (required by the server; in 7.x often a hash).
    pub name: Option<String>,
    /// `agent_alias` (7.x): what people call the agent.
    pub alias: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `timestamp`, agent local time (`YYYY/MM/DD HH:MM:SS`) or `AUTO`.
    pub timestamp: Option<String>,
}

impl AgentHeader {
    /// The agent as Pandora shows it (`_agent_`: alias, else name).
    pub fn display_name(&self) -> Option<&str> {
        [&self.alias, &self.name]
            .into_iter()
            .flatten()
            .map(|s| s.trim())
            .find(|s| !s.is_empty())
    }
}

/// One `<module>` as read, before judging it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawModule {
    /// 1-based position among the file's modules.
    pub index: usize,
    /// Line of its `<module>` tag.
    pub line: usize,
    /// Column of its `<module>` tag.
    pub column: usize,
    /// Text of each direct child element (`name`, `type`, `data`, ...); the last one wins.
    pub fields: BTreeMap<String, String>,
    /// The last `<datalist><data><value>`, if the module sends a list.
    pub datalist_last: Option<String>,
    /// The first XML error inside the module, if any.
    pub error: Option<XmlError>,
}

impl RawModule {
    /// A child element's text.
    pub fn field(&self, tag: &str) -> Option<&str> {
        self.fields.get(tag).map(String::as_str)
    }

    /// The module name, trimmed; `None` if missing or empty.
    pub fn name(&self) -> Option<&str> {
        self.field("name").map(str::trim).filter(|n| !n.is_empty())
    }

    /// The module's data: `<data>`, else the last datalist value.
    pub fn data(&self) -> Option<&str> {
        self.field("data").or(self.datalist_last.as_deref())
    }

    /// How people should refer to it in messages.
    pub fn label(&self) -> String {
        match self.name() {
            Some(n) => format!("{n:?}"),
            None => format!("#{} (line {}, no readable name)", self.index, self.line),
        }
    }
}

/// A whole data file as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentData {
    /// The agent it came from.
    pub header: AgentHeader,
    /// Its modules, in file order, broken ones included.
    pub modules: Vec<RawModule>,
    /// Errors outside any module (prolog, `<agent_data>` tag, between modules, end of file).
    pub errors: Vec<XmlError>,
    /// The `<agent_data>` tag itself is broken: the agent's identity cannot be trusted (the
    /// header may hold what could be guessed, for messages only).
    pub header_broken: bool,
}

impl AgentData {
    /// The first problem in file order, wherever it is.
    pub fn first_error(&self) -> Option<&XmlError> {
        self.errors
            .iter()
            .chain(self.modules.iter().filter_map(|m| m.error.as_ref()))
            .min_by_key(|e| e.offset)
    }
}

/// Reads a data file. Never fails: problems are recorded where they occur.
pub fn parse(input: &[u8]) -> AgentData {
    let mut data = AgentData::default();
    let bytes = match transcode(input) {
        Ok(b) => b,
        Err(message) => {
            data.errors.push(XmlError {
                line: 1,
                column: 1,
                offset: 0,
                message,
            });
            return data;
        }
    };
    Parser::new(&bytes, &mut data).run();
    if data.header.name.is_none() {
        // For messages only: a broken tag may still show whose file it is.
        data.header_broken = true;
        data.header.name = sniff_attribute(&bytes, "agent_name");
        data.header.alias = sniff_attribute(&bytes, "agent_alias");
    }
    data
}

/// `name='value'` or `name="value"` in the first few KiB, read without an XML parser.
fn sniff_attribute(bytes: &[u8], name: &str) -> Option<String> {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(8192)]);
    let at = head.find(&format!("{name}="))? + name.len() + 1;
    let rest = &head[at..];
    let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let value: String = rest[1..]
        .chars()
        .take_while(|c| *c != quote)
        .take(200)
        .collect();
    Some(value).filter(|v| !v.trim().is_empty())
}

/// Turns the declared encoding into UTF-8 (agents may be set to ISO-8859-1); a UTF-8 BOM is
/// dropped. Only UTF-8 and Latin-1 are known, as in the agent's `encoding` option.
fn transcode(input: &[u8]) -> Result<Cow<'_, [u8]>, String> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let Some(decl) = input
        .strip_prefix(b"<?xml")
        .and_then(|rest| rest.iter().position(|&b| b == b'>').map(|end| &rest[..end]))
    else {
        return Ok(Cow::Borrowed(input));
    };
    let decl = String::from_utf8_lossy(decl).to_ascii_lowercase();
    let Some(at) = decl.find("encoding") else {
        return Ok(Cow::Borrowed(input));
    };
    let value: String = decl[at + "encoding".len()..]
        .trim_start_matches([' ', '='])
        .trim_start_matches(['"', '\''])
        .chars()
        .take_while(|c| !matches!(c, '"' | '\'' | ' ' | '?'))
        .collect();
    match value.as_str() {
        "utf-8" | "utf8" | "" => Ok(Cow::Borrowed(input)),
        "iso-8859-1" | "iso-8859-15" | "latin1" | "latin-1" | "windows-1252" => Ok(Cow::Owned(
            input
                .iter()
                .map(|&b| b as char)
                .collect::<String>()
                .into_bytes(),
        )),
        other => Err(format!(
            "the file declares encoding {other:?}; only UTF-8 and ISO-8859-1 are understood"
        )),
    }
}

/// Turns byte offsets into line and column (columns count characters, not bytes). Offsets
/// mostly grow as the file is read, so it walks forward from the last answer: linear in the
/// file size even for a one-line file with many modules (the 7.x agent writes one line).
struct Positions {
    offset: usize,
    line: usize,
    column: usize,
}

impl Positions {
    fn new() -> Self {
        Positions {
            offset: 0,
            line: 1,
            column: 1,
        }
    }

    fn at(&mut self, bytes: &[u8], offset: usize) -> (usize, usize) {
        let offset = offset.min(bytes.len());
        if offset < self.offset {
            *self = Positions::new();
        }
        for &b in &bytes[self.offset..offset] {
            if b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if (b & 0xC0) != 0x80 {
                self.column += 1;
            }
        }
        self.offset = offset;
        (self.line, self.column)
    }
}

/// The first character XML 1.0 forbids in `text` (control characters other than TAB, LF,
/// CR; U+FFFE and U+FFFF), with its byte index.
fn forbidden_char(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| {
        matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
    })
}

/// Checks raw character data as expat would: UTF-8, allowed characters, and (outside CDATA)
/// no `]]>`. Returns the byte index of the problem and what it is.
fn check_chars(raw: &[u8], in_cdata: bool) -> Result<(), (usize, String)> {
    let text = std::str::from_utf8(raw).map_err(|e| {
        (
            e.valid_up_to(),
            "invalid UTF-8 (the file says UTF-8; the server rejects the whole file)".to_string(),
        )
    })?;
    if let Some((i, c)) = forbidden_char(text) {
        return Err((
            i,
            format!(
                "control character U+{:04X} is not allowed in XML (the server rejects the whole file)",
                u32::from(c)
            ),
        ));
    }
    if !in_cdata {
        if let Some(i) = text.find("]]>") {
            return Err((
                i,
                "\"]]>\" in text: a CDATA section ended early (a value containing \"]]>\" must be \
                 split as \"]]]]><![CDATA[>\")"
                    .to_string(),
            ));
        }
    }
    Ok(())
}

/// What the reader is collecting text for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Collect {
    Nothing,
    Field,
    DatalistValue,
}

struct Parser<'a, 'd> {
    bytes: &'a [u8],
    data: &'d mut AgentData,
    /// How many elements are open.
    depth: usize,
    /// Names of the open elements, outermost first, for the first `TRACKED_DEPTH` levels.
    path: Vec<String>,
    root_seen: bool,
    root_closed: bool,
    /// Reading stopped at the depth bound: that error says it all, the end of the file
    /// is not reported again as a truncation.
    too_deep: bool,
    module: Option<RawModule>,
    text: String,
    collect: Collect,
    positions: Positions,
}

impl<'a, 'd> Parser<'a, 'd> {
    fn new(bytes: &'a [u8], data: &'d mut AgentData) -> Self {
        Parser {
            bytes,
            data,
            depth: 0,
            path: Vec::new(),
            root_seen: false,
            root_closed: false,
            too_deep: false,
            module: None,
            text: String::new(),
            collect: Collect::Nothing,
            positions: Positions::new(),
        }
    }

    fn error_at(&mut self, offset: usize, message: impl Into<String>) -> XmlError {
        let (line, column) = self.positions.at(self.bytes, offset);
        XmlError {
            line,
            column,
            offset,
            message: message.into(),
        }
    }

    /// Records an error in the module being read (its first only), or in the file (the
    /// first few). Positions are computed only for errors that are kept.
    fn fail(&mut self, offset: usize, message: impl Into<String>) {
        let keep = match &self.module {
            Some(m) => m.error.is_none(),
            None => self.data.errors.len() < MAX_FILE_ERRORS,
        };
        if !keep {
            return;
        }
        let e = self.error_at(offset, message);
        match &mut self.module {
            Some(m) => m.error = Some(e),
            None => self.data.errors.push(e),
        }
    }

    fn in_agent_data(&self) -> bool {
        self.path.first().is_some_and(|r| r == "agent_data")
    }

    fn run(&mut self) {
        let mut base = 0usize;
        loop {
            let mut reader = Reader::from_reader(&self.bytes[base..]);
            reader.config_mut().expand_empty_elements = true;
            let resync_from = loop {
                let before = base + reader.buffer_position() as usize;
                match reader.read_event() {
                    Ok(Event::Eof) => {
                        self.finish(base + reader.buffer_position() as usize);
                        return;
                    }
                    Ok(event) => {
                        if !self.event(event, before) {
                            break base + reader.buffer_position() as usize;
                        }
                    }
                    Err(e) => {
                        let at = base + reader.error_position() as usize;
                        self.fail(at, friendly(&e));
                        break (base + reader.buffer_position() as usize).max(at + 1);
                    }
                }
            };
            // quick-xml cannot go on after a syntax error; start again at the next module so
            // the modules after a broken one still count.
            let inside_module = self.path.get(1).is_some_and(|m| m == "module");
            if let Some(m) = self.module.take() {
                self.data.modules.push(m);
            }
            if !self.in_agent_data() {
                return;
            }
            let Some(next) = find_module_start(self.bytes, resync_from) else {
                if !inside_module {
                    self.finish(self.bytes.len());
                }
                return;
            };
            self.path.truncate(1);
            self.depth = 1;
            self.collect = Collect::Nothing;
            self.text = String::new();
            base = next;
        }
    }

    /// Takes one event; `false` when the reading must stop here (nested too deep).
    fn event(&mut self, event: Event<'_>, before: usize) -> bool {
        match event {
            Event::Start(e) => return self.start(&e, before),
            Event::End(_) => self.end(),
            Event::Text(t) => {
                if let Err((i, msg)) = check_chars(&t, false) {
                    self.fail(before + i, msg);
                    return true;
                }
                match t.unescape() {
                    Ok(s) => {
                        if let Some((_, c)) = forbidden_char(&s) {
                            self.fail(
                                before,
                                format!(
                                    "character reference to U+{:04X} is not allowed in XML",
                                    u32::from(c)
                                ),
                            );
                        } else if self.depth == 0 && !s.trim().is_empty() {
                            self.fail(before, "text outside the <agent_data> element");
                        } else {
                            self.collect_text(&s, before);
                        }
                    }
                    Err(e) => self.fail(before, format!("bad entity or '&': {e}")),
                }
            }
            Event::CData(c) => {
                // The content starts after "<![CDATA[".
                let content = before + "<![CDATA[".len();
                match check_chars(&c, true) {
                    Err((i, msg)) => self.fail(content + i, msg),
                    Ok(()) => {
                        if self.depth == 0 {
                            self.fail(before, "CDATA outside the <agent_data> element");
                        } else if let Ok(text) = std::str::from_utf8(&c) {
                            // Valid: check_chars said so; no copy of a value that is not kept.
                            self.collect_text(text, before);
                        }
                    }
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            Event::Empty(_) | Event::Eof => {}
        }
        true
    }

    /// Adds text to the value being collected, unless it would exceed `MAX_VALUE_BYTES`:
    /// then the value is dropped and the module reported.
    fn collect_text(&mut self, text: &str, at: usize) {
        if self.collect == Collect::Nothing {
            return;
        }
        if self.text.len() + text.len() > MAX_VALUE_BYTES {
            let tag = self.path.last().cloned().unwrap_or_default();
            self.fail(
                at,
                format!(
                    "the value of <{tag}> is longer than {} KiB: not read (the module is skipped)",
                    MAX_VALUE_BYTES / 1024
                ),
            );
            self.collect = Collect::Nothing;
            self.text = String::new();
            return;
        }
        self.text.push_str(text);
    }

    /// Opens an element; `false` when it is nested deeper than `MAX_DEPTH`.
    fn start(&mut self, e: &BytesStart<'_>, before: usize) -> bool {
        if self.depth >= MAX_DEPTH {
            self.fail(
                before,
                format!(
                    "elements nested deeper than {MAX_DEPTH} levels: not an agent data file \
                     (the rest of the file is not read)"
                ),
            );
            self.too_deep = true;
            return false;
        }
        let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
        let errors_before = self.data.errors.len();
        let is_root = self.depth == 0;
        if is_root {
            if self.root_seen {
                self.fail(
                    before,
                    format!("a second root element <{name}> after </agent_data>"),
                );
            } else if name != "agent_data" {
                self.fail(
                    before,
                    format!(
                        "the root element is <{name}>, not <agent_data>: not an agent data file"
                    ),
                );
            }
            self.root_seen = true;
        }
        // Attributes are parsed lazily by quick-xml; read them all so a broken one is found.
        let mut attrs = BTreeMap::new();
        for a in e.attributes() {
            match a {
                Ok(a) => {
                    if let Err((_, msg)) = check_chars(&a.value, true) {
                        self.fail(before, format!("attribute value: {msg}"));
                        break;
                    }
                    match a.unescape_value() {
                        Ok(v) => {
                            let key = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                            if v.contains('<') {
                                self.fail(before, format!("'<' in the value of attribute {key}"));
                                break;
                            }
                            attrs.insert(key, v.into_owned());
                        }
                        Err(err) => {
                            self.fail(before, format!("attribute value: {err}"));
                            break;
                        }
                    }
                }
                Err(err) => {
                    self.fail(before, format!("broken attribute in <{name}>: {err}"));
                    break;
                }
            }
        }
        if is_root && self.data.errors.len() > errors_before {
            self.data.header_broken = true;
        }
        self.depth += 1;
        if self.path.len() + 1 == self.depth && self.depth <= TRACKED_DEPTH {
            self.path.push(name);
        }
        if self.depth != self.path.len() {
            self.collect = Collect::Nothing;
            return true;
        }
        // At most TRACKED_DEPTH names: constant work per tag, whatever the nesting.
        let path: Vec<&str> = self.path.iter().map(String::as_str).collect();
        match path.as_slice() {
            ["agent_data"] => {
                let h = &mut self.data.header;
                h.name = attrs.remove("agent_name");
                h.alias = attrs.remove("agent_alias");
                h.group = attrs.remove("group");
                h.timestamp = attrs.remove("timestamp");
            }
            ["agent_data", "module"] => {
                let (line, column) = self.positions.at(self.bytes, before);
                self.module = Some(RawModule {
                    index: self.data.modules.len() + 1,
                    line,
                    column,
                    ..RawModule::default()
                });
            }
            ["agent_data", "module", _] => {
                self.text.clear();
                self.collect = Collect::Field;
            }
            ["agent_data", "module", "datalist", "data", "value"] => {
                self.text.clear();
                self.collect = Collect::DatalistValue;
            }
            _ => self.collect = Collect::Nothing,
        }
        true
    }

    fn end(&mut self) {
        let path: Vec<&str> = if self.depth == self.path.len() {
            self.path.iter().map(String::as_str).collect()
        } else {
            Vec::new()
        };
        match path.as_slice() {
            ["agent_data", "module", tag] => {
                if let Some(m) = &mut self.module {
                    if *tag != "datalist" {
                        m.fields
                            .insert(tag.to_string(), std::mem::take(&mut self.text));
                    }
                }
            }
            ["agent_data", "module", "datalist", "data", "value"] => {
                if let Some(m) = &mut self.module {
                    m.datalist_last = Some(std::mem::take(&mut self.text));
                }
            }
            ["agent_data", "module"] => {
                if let Some(m) = self.module.take() {
                    self.data.modules.push(m);
                }
            }
            ["agent_data"] => self.root_closed = true,
            _ => {}
        }
        if self.depth == self.path.len() {
            self.path.pop();
        }
        self.depth = self.depth.saturating_sub(1);
        self.collect = Collect::Nothing;
    }

    fn finish(&mut self, eof: usize) {
        // After the depth bound the open elements were reported where the bound was hit.
        if self.depth > 0 && !self.too_deep {
            let open = (self.depth == self.path.len())
                .then(|| self.path.last())
                .flatten();
            let what = match (&self.module, open) {
                (Some(m), _) => format!("inside module {}", m.label()),
                (None, Some(open)) => format!("inside <{open}>"),
                (None, None) => "inside nested elements".to_string(),
            };
            self.fail(
                eof,
                format!(
                    "the file ends {what}: it is truncated (an interrupted write or transfer?)"
                ),
            );
        } else if self.depth == 0 && !self.root_seen {
            self.fail(
                eof,
                "no <agent_data> element: empty or not an agent data file",
            );
        }
        if let Some(m) = self.module.take() {
            self.data.modules.push(m);
        }
        let _ = self.root_closed;
    }
}

/// The next `<module>` or `<module ...>` tag at or after `from`.
fn find_module_start(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let at = rest.windows(7).position(|w| w == b"<module")?;
        let after = rest.get(at + 7).copied();
        if matches!(after, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r')) {
            return Some(i + at);
        }
        i += at + 7;
    }
    None
}

/// quick-xml's messages, said the way an administrator reads them.
fn friendly(e: &quick_xml::Error) -> String {
    use quick_xml::errors::{IllFormedError, SyntaxError};
    match e {
        quick_xml::Error::Syntax(SyntaxError::UnclosedCData) => {
            "a CDATA section is not closed (the file is truncated?)".into()
        }
        quick_xml::Error::Syntax(s) => format!("{s} (the file is truncated or not XML?)"),
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!("</{found}> closes <{expected}>")
        }
        quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(t)) => {
            format!("</{t}> has no matching start tag")
        }
        other => other.to_string(),
    }
}

// ----- judging a module ------------------------------------------------------------------

/// A module's state, as the server would set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Within thresholds, or `<status>NORMAL</status>`.
    Normal,
    /// In the warning range, or `<status>WARNING</status>`.
    Warning,
    /// In the critical range, or `<status>CRITICAL</status>`.
    Critical,
    /// We cannot tell (a string module judged by a regular expression, log4x, keep-alive).
    NotJudged,
}

/// A module that could be read and judged.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Module name.
    pub name: String,
    /// Module type as given (or `generic_data` when missing).
    pub module_type: String,
    /// The data as given.
    pub data: String,
    /// `<unit>`.
    pub unit: String,
    /// `<description>`.
    pub description: String,
    /// The state.
    pub state: State,
    /// Why: `<status>CRITICAL</status>`, `42 is in the critical range [40, 50)`.
    pub reason: String,
}

/// How the server treats a module type's data.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Numeric,
    Incremental,
    Proc,
    Text,
    Unjudged,
}

fn kind_of(module_type: &str) -> Option<Kind> {
    Some(match module_type {
        "generic_data" | "async_data" => Kind::Numeric,
        "generic_data_inc" | "generic_data_inc_abs" => Kind::Incremental,
        "generic_proc" | "async_proc" => Kind::Proc,
        "generic_data_string" | "async_string" => Kind::Text,
        "keep_alive" | "log4x" => Kind::Unjudged,
        _ => return None,
    })
}

/// Parses a number the way the server accepts it: `1,5` is 1.5, `1e3` is fine, `N/A`, `up`,
/// `inf` and empty are not numbers.
pub fn parse_number(text: &str) -> Option<f64> {
    let t = text.trim().replace(',', ".");
    let digits = t.strip_prefix(['+', '-']).unwrap_or(&t);
    let (mantissa, exponent) = match digits.find(['e', 'E']) {
        Some(i) => (&digits[..i], Some(&digits[i + 1..])),
        None => (digits, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    if let Some(exp) = exponent {
        let e = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if e.is_empty() || !all_digits(e) {
            return None;
        }
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// `min <= v < max`, or `v >= min` when `max < min` (max 0 means "no upper bound"), the
/// server's rule; `inverse` flips it.
fn in_range(v: f64, min: f64, max: f64, inverse: bool) -> bool {
    let hit = v >= min && (max < min || v < max);
    hit != inverse
}

fn range_text(min: f64, max: f64, inverse: bool) -> String {
    let r = if max < min {
        format!(">= {min}")
    } else {
        format!("[{min}, {max})")
    };
    if inverse {
        format!("outside {r}")
    } else {
        r
    }
}

/// Judges one module; a module that cannot be judged gets an error that says why.
pub fn evaluate(m: &RawModule) -> Result<Reading, XmlError> {
    let at = |message: String| XmlError {
        line: m.line,
        column: m.column,
        offset: 0,
        message,
    };
    if let Some(e) = &m.error {
        return Err(e.clone());
    }
    let name = m
        .name()
        .ok_or_else(|| at("module without a name (the server skips it)".into()))?
        .to_string();
    let module_type = m
        .field("type")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or("generic_data")
        .to_string();
    let kind = kind_of(&module_type).ok_or_else(|| {
        at(format!(
            "unknown module type {module_type:?} (the server does not create it; known: generic_data, \
             generic_proc, generic_data_string, generic_data_inc, generic_data_inc_abs, async_data, \
             async_proc, async_string, log4x, keep_alive)"
        ))
    })?;
    let data = m.data().unwrap_or("").to_string();
    let number = |tag: &str| -> Result<Option<f64>, XmlError> {
        match m.field(tag).map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => parse_number(s)
                .map(Some)
                .ok_or_else(|| at(format!("<{tag}> {s:?} is not a number"))),
        }
    };
    let value = match kind {
        Kind::Numeric | Kind::Incremental | Kind::Proc => {
            if m.data().is_none() {
                return Err(at("no <data> (the server drops the module)".into()));
            }
            Some(parse_number(&data).ok_or_else(|| {
                at(format!(
                    "data {:?} is not a number for a {module_type} module (the server drops it as \
                     \"Received invalid data\")",
                    super::text::truncate_chars(&data, 60)
                ))
            })?)
        }
        Kind::Text => {
            if data.is_empty() {
                return Err(at(
                    "empty data for a string module (the server drops it)".into()
                ));
            }
            None
        }
        Kind::Unjudged => None,
    };
    let (min_c, max_c) = (number("min_critical")?, number("max_critical")?);
    let (min_w, max_w) = (number("min_warning")?, number("max_warning")?);
    let flag = |tag: &str| m.field(tag).is_some_and(|v| v.trim() == "1");

    let status = m
        .field("status")
        .map(|s| s.trim().to_ascii_uppercase())
        .unwrap_or_default();
    let (state, reason) = match status.as_str() {
        "CRITICAL" => (State::Critical, "<status>CRITICAL</status>".to_string()),
        "WARNING" => (State::Warning, "<status>WARNING</status>".to_string()),
        "NORMAL" => (State::Normal, "<status>NORMAL</status>".to_string()),
        _ => match (kind, value) {
            (Kind::Numeric | Kind::Proc, Some(v)) => {
                let (mut cmin, mut cmax) = (min_c.unwrap_or(0.0), max_c.unwrap_or(0.0));
                if kind == Kind::Proc && cmin == cmax {
                    // The server's default for *_proc: 0 is critical, 1 is normal.
                    (cmin, cmax) = (0.0, 1.0);
                }
                let (wmin, wmax) = (min_w.unwrap_or(0.0), max_w.unwrap_or(0.0));
                let (ci, wi) = (flag("critical_inverse"), flag("warning_inverse"));
                if cmin != cmax && in_range(v, cmin, cmax, ci) {
                    (
                        State::Critical,
                        format!("{v} is in the critical range {}", range_text(cmin, cmax, ci)),
                    )
                } else if wmin != wmax && in_range(v, wmin, wmax, wi) {
                    (
                        State::Warning,
                        format!("{v} is in the warning range {}", range_text(wmin, wmax, wi)),
                    )
                } else {
                    (State::Normal, format!("{v} is within its thresholds"))
                }
            }
            (Kind::Incremental, _) => (
                State::NotJudged,
                "incremental module without <status>: its thresholds apply to the rate the server computes".into(),
            ),
            (Kind::Text, _) if m.field("str_critical").is_some() || m.field("str_warning").is_some() => (
                State::NotJudged,
                "string module judged by str_critical / str_warning (server-side regular expressions)".into(),
            ),
            (Kind::Text, _) => (State::Normal, "string module without <status>".into()),
            _ => (
                State::NotJudged,
                format!("{module_type} modules are judged by the server"),
            ),
        },
    };
    Ok(Reading {
        name,
        module_type,
        data,
        unit: m.field("unit").unwrap_or("").trim().to_string(),
        description: m.field("description").unwrap_or("").trim().to_string(),
        state,
        reason,
    })
}

impl std::error::Error for XmlError {}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<?xml version='1.0' encoding='UTF-8'?>\n<agent_data agent_name='web-01' agent_alias='Web 01' group='Servers' timestamp='2026/11/24 07:47:09' interval='300'>\n";

    fn module(name: &str, ty: &str, data: &str, extra: &str) -> String {
        format!(
            "<module>\n<name><![CDATA[{name}]]></name>\n<type>{ty}</type>\n<data><![CDATA[{data}]]></data>\n{extra}</module>\n"
        )
    }

    fn file(modules: &[String]) -> Vec<u8> {
        format!("{HEAD}{}</agent_data>\n", modules.concat()).into_bytes()
    }

    fn judged(extra_modules: &[String]) -> Vec<Result<Reading, XmlError>> {
        parse(&file(extra_modules))
            .modules
            .iter()
            .map(evaluate)
            .collect()
    }

    #[test]
    fn reads_header_and_modules() {
        let d = parse(&file(&[
            module("cpu", "generic_data", "42", "<unit>%</unit>\n"),
            module("up", "generic_proc", "1", ""),
        ]));
        assert!(d.first_error().is_none(), "{:?}", d.first_error());
        assert_eq!(d.header.name.as_deref(), Some("web-01"));
        assert_eq!(d.header.display_name(), Some("Web 01"));
        assert_eq!(d.header.group.as_deref(), Some("Servers"));
        assert_eq!(d.header.timestamp.as_deref(), Some("2026/11/24 07:47:09"));
        assert_eq!(d.modules.len(), 2);
        assert_eq!(d.modules[0].name(), Some("cpu"));
        assert_eq!(d.modules[0].field("unit"), Some("%"));
        assert_eq!(d.modules[1].line, 9);
    }

    #[test]
    fn status_tag_overrides_thresholds() {
        let r = judged(&[
            module(
                "a",
                "generic_data",
                "1",
                "<status>critical</status>\n<min_critical>50</min_critical>\n",
            ),
            module(
                "b",
                "generic_data",
                "99",
                "<status>NORMAL</status>\n<min_critical>50</min_critical>\n",
            ),
            module(
                "c",
                "generic_data_string",
                "x",
                "<status>WARNING</status>\n",
            ),
        ]);
        assert_eq!(r[0].as_ref().unwrap().state, State::Critical);
        assert_eq!(r[1].as_ref().unwrap().state, State::Normal);
        assert_eq!(r[2].as_ref().unwrap().state, State::Warning);
    }

    #[test]
    fn thresholds_follow_the_server_rules() {
        let t = |data: &str, extra: &str| {
            judged(&[module("m", "generic_data", data, extra)])[0]
                .as_ref()
                .unwrap()
                .state
        };
        let range = "<min_critical>40</min_critical>\n<max_critical>50</max_critical>\n<min_warning>30</min_warning>\n<max_warning>39</max_warning>\n";
        assert_eq!(t("42", range), State::Critical);
        assert_eq!(t("50", range), State::Normal, "max is exclusive");
        assert_eq!(t("35", range), State::Warning);
        assert_eq!(t("12", range), State::Normal);
        let open = "<min_critical>90</min_critical>\n";
        assert_eq!(t("95,5", open), State::Critical, "comma decimal");
        assert_eq!(t("89.9", open), State::Normal);
        let inverse = "<min_critical>10</min_critical>\n<max_critical>20</max_critical>\n<critical_inverse>1</critical_inverse>\n";
        assert_eq!(t("5", inverse), State::Critical);
        assert_eq!(t("15", inverse), State::Normal);
        assert_eq!(t("1e3", ""), State::Normal, "no thresholds");
    }

    #[test]
    fn proc_modules_are_critical_at_zero() {
        let r = judged(&[
            module("down", "generic_proc", "0", ""),
            module("up", "generic_proc", "1", ""),
        ]);
        assert_eq!(r[0].as_ref().unwrap().state, State::Critical);
        assert_eq!(r[1].as_ref().unwrap().state, State::Normal);
    }

    #[test]
    fn bad_modules_get_their_own_errors_and_the_rest_still_reads() {
        let r = judged(&[
            module("bad type", "generic_banana", "1", ""),
            module("bad number", "generic_data", "N/A", ""),
            module("empty string", "generic_data_string", "", ""),
            module("good", "generic_data", "3", ""),
            "<module>\n<type>generic_data</type>\n<data>1</data>\n</module>\n".to_string(),
        ]);
        let err = |i: usize| r[i].as_ref().unwrap_err().to_string();
        assert!(
            err(0).contains("unknown module type \"generic_banana\""),
            "{}",
            err(0)
        );
        assert!(err(1).contains("\"N/A\" is not a number"), "{}", err(1));
        assert!(err(1).starts_with("line 8 column 1:"), "{}", err(1));
        assert!(err(2).contains("empty data"), "{}", err(2));
        assert_eq!(r[3].as_ref().unwrap().name, "good");
        assert!(err(4).contains("without a name"), "{}", err(4));
    }

    #[test]
    fn numbers_are_parsed_like_the_server() {
        assert_eq!(parse_number(" 1,5 "), Some(1.5));
        assert_eq!(parse_number("-3"), Some(-3.0));
        assert_eq!(parse_number("1e3"), Some(1000.0));
        assert_eq!(parse_number(".5"), Some(0.5));
        for bad in ["", "N/A", "up", "inf", "NaN", "1.2.3", "1e", "0x10", "--1"] {
            assert_eq!(parse_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn stray_cdata_end_is_found_with_line_and_column_and_later_modules_survive() {
        let broken = "<module>\n<name><![CDATA[raw]]></name>\n<type>generic_data_string</type>\n<data><![CDATA[unexpected ]]> here]]></data>\n</module>\n";
        let d = parse(&file(&[
            module("before", "generic_data", "1", ""),
            broken.to_string(),
            module("after", "generic_data", "2", ""),
        ]));
        let e = d.first_error().expect("an error");
        assert_eq!((e.line, e.column), (11, 35), "{e}");
        assert!(e.message.contains("\"]]>\" in text"), "{e}");
        let names: Vec<_> = d
            .modules
            .iter()
            .map(|m| (m.name(), m.error.is_some()))
            .collect();
        assert_eq!(
            names,
            [
                (Some("before"), false),
                (Some("raw"), true),
                (Some("after"), false)
            ]
        );
    }

    #[test]
    fn truncated_file_names_the_module_it_ends_in() {
        let mut bytes = file(&[module("first", "generic_data", "1", "")]);
        bytes.truncate(HEAD.len());
        bytes.extend_from_slice(module("first", "generic_data", "1", "").as_bytes());
        bytes.extend_from_slice(
            b"<module>\n<name><![CDATA[cut]]></name>\n<type><![CDATA[generic_da",
        );
        let d = parse(&bytes);
        assert_eq!(d.modules.len(), 2);
        assert!(d.modules[0].error.is_none());
        let e = d.modules[1]
            .error
            .as_ref()
            .expect("error in the cut module");
        assert_eq!((e.line, e.column), (10, 7), "{e}");
        assert!(e.message.contains("CDATA"), "{e}");
    }

    #[test]
    fn truncated_between_elements_is_reported() {
        let text = format!(
            "{HEAD}{}<module>\n<name>x</name>\n",
            module("a", "generic_data", "1", "")
        );
        let d = parse(text.as_bytes());
        let e = d.first_error().unwrap();
        assert!(e.message.contains("truncated"), "{e}");
        assert!(e.message.contains("\"x\""), "{e}");
    }

    #[test]
    fn invalid_utf8_and_control_characters_are_located() {
        let mut bytes = HEAD.as_bytes().to_vec();
        bytes.extend_from_slice(b"<module>\n<name>ok</name>\n<data>caf\xC3</data>\n</module>\n");
        bytes.extend_from_slice(
            b"<module>\n<name>ctl</name>\n<data>a\x01b</data>\n</module>\n</agent_data>\n",
        );
        let d = parse(&bytes);
        let e0 = d.modules[0].error.as_ref().unwrap();
        assert_eq!((e0.line, e0.column), (5, 10), "{e0}");
        assert!(e0.message.contains("invalid UTF-8"));
        let e1 = d.modules[1].error.as_ref().unwrap();
        assert_eq!((e1.line, e1.column), (9, 8), "{e1}");
        assert!(e1.message.contains("U+0001"));
    }

    #[test]
    fn broken_header_attribute_is_a_file_error_with_the_agent_so_far() {
        let text = "<?xml version='1.0' encoding='UTF-8'?>\n<agent_data agent_name='shop' agent_alias='O'Brien' group='x'>\n</agent_data>\n";
        let d = parse(text.as_bytes());
        assert!(d.header_broken);
        assert_eq!(
            d.header.name.as_deref(),
            Some("shop"),
            "what could be read, for messages"
        );
        let e = d.first_error().unwrap();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn latin1_files_are_transcoded() {
        let mut bytes =
            b"<?xml version='1.0' encoding='ISO-8859-1'?>\n<agent_data agent_name='caf\xE9'>"
                .to_vec();
        bytes.extend_from_slice(b"<module><name>n</name><data>1</data></module></agent_data>");
        let d = parse(&bytes);
        assert!(d.first_error().is_none(), "{:?}", d.first_error());
        assert_eq!(d.header.name.as_deref(), Some("café"));
    }

    #[test]
    fn one_line_files_with_many_modules_read_in_linear_time() {
        // The 7.x agent writes the whole file on one line.
        let one = "<module><name>m</name><type>generic_data</type><data>1</data></module>";
        let n = 20_000;
        let text = format!("<agent_data agent_name='a'>{}</agent_data>", one.repeat(n));
        let started = std::time::Instant::now();
        let d = parse(text.as_bytes());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(d.modules.len(), n);
        let last = d.modules.last().unwrap();
        assert_eq!((last.line, last.column), (1, 27 + (n - 1) * one.len() + 1));
    }

    #[test]
    fn unclosed_tags_stop_at_the_depth_bound_and_earlier_modules_count() {
        // 400k unclosed tags once took 33 s (the element stack was copied on every tag).
        let good = module("cpu", "generic_data", "5", "");
        let text = format!("{HEAD}{good}{}", "<a>".repeat(400_000));
        let d = parse(text.as_bytes());
        assert_eq!(d.modules.len(), 1);
        assert!(d.modules[0].error.is_none());
        assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
        let e = d.first_error().unwrap();
        assert!(e.message.contains("nested deeper than 64 levels"), "{e}");
        assert_eq!(e.offset, HEAD.len() + good.len() + 3 * (MAX_DEPTH - 1));
        // Inside a module: the module is reported, the next one still reads.
        let deep = format!(
            "<module><name>x</name>{}</module>",
            "<b>".repeat(MAX_DEPTH + 5)
        );
        let d = parse(&file(&[deep, module("after", "generic_data", "1", "")]));
        let names: Vec<_> = d
            .modules
            .iter()
            .map(|m| (m.name(), m.error.is_some()))
            .collect();
        assert_eq!(names, [(Some("x"), true), (Some("after"), false)]);
    }

    #[test]
    fn a_huge_value_is_not_kept_and_the_module_is_reported() {
        let big = "x".repeat(MAX_VALUE_BYTES + 1);
        let d = parse(&file(&[
            module("log", "generic_data_string", &big, ""),
            module("cpu", "generic_data", "5", ""),
        ]));
        let e = d.modules[0].error.as_ref().unwrap();
        assert!(e.message.contains("<data> is longer than 1024 KiB"), "{e}");
        assert!(d.modules[0].fields.values().all(|v| v.len() < 100));
        assert!(d.modules[1].error.is_none());
        // At the bound exactly, the value is kept.
        let fits = "y".repeat(MAX_VALUE_BYTES);
        let d = parse(&file(&[module("log", "generic_data_string", &fits, "")]));
        assert_eq!(d.modules[0].data().map(str::len), Some(MAX_VALUE_BYTES));
    }

    #[test]
    fn datalist_uses_the_last_value() {
        let m = "<module>\n<name>lines</name>\n<type>generic_data_string</type>\n<datalist>\n<data><value><![CDATA[first]]></value></data>\n<data><value><![CDATA[second]]></value></data>\n</datalist>\n</module>\n";
        let r = judged(&[m.to_string()]);
        assert_eq!(r[0].as_ref().unwrap().data, "second");
    }

    #[test]
    fn not_an_agent_data_file() {
        assert!(parse(b"")
            .first_error()
            .unwrap()
            .message
            .contains("no <agent_data>"));
        assert!(parse(b"<html></html>")
            .first_error()
            .unwrap()
            .message
            .contains("not <agent_data>"));
        assert!(parse(b"<?xml version='1.0' encoding='EBCDIC'?><a/>")
            .first_error()
            .unwrap()
            .message
            .contains("EBCDIC".to_ascii_lowercase().as_str()));
    }
}
