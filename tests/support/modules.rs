//! Reading Pandora module XML back the way the server would judge it: quick-xml plus the
//! checks expat makes and quick-xml does not (UTF-8, control characters, `]]>` outside CDATA,
//! unclosed elements), and, where python3 is installed, expat itself as a second opinion.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use quick_xml::events::Event;
use quick_xml::Reader;

/// One `<module>`: its child elements' text, in order.
#[derive(Clone, Debug)]
pub struct Parsed {
    pub fields: Vec<(String, String)>,
}

impl Parsed {
    pub fn get(&self, tag: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(t, _)| t == tag)
            .map(|(_, v)| v.as_str())
    }
    pub fn name(&self) -> &str {
        self.get("name").unwrap_or("")
    }
    pub fn kind(&self) -> &str {
        self.get("type").unwrap_or("")
    }
    pub fn data(&self) -> &str {
        self.get("data").unwrap_or("")
    }
    pub fn number(&self) -> f64 {
        self.data()
            .parse()
            .unwrap_or_else(|_| panic!("{} data {:?} is not a number", self.name(), self.data()))
    }
    pub fn status(&self) -> Option<&str> {
        self.get("status")
    }
}

fn forbidden(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}')
}

/// Parses a whole document strictly; `Err` says what a strict XML parser would refuse.
/// Returns the root's attributes and the modules directly under the root.
pub fn parse_document(bytes: &[u8]) -> Result<(BTreeMap<String, String>, Vec<Parsed>), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("invalid UTF-8: {e}"))?;
    if let Some(c) = text.chars().find(|c| forbidden(*c)) {
        return Err(format!("forbidden character U+{:04X}", u32::from(c)));
    }
    let mut r = Reader::from_str(text);
    r.config_mut().expand_empty_elements = true;
    let mut stack: Vec<String> = Vec::new();
    let mut root_attrs = BTreeMap::new();
    let mut modules = Vec::new();
    let mut current: Option<Parsed> = None;
    let mut buf = String::new();
    let mut roots = 0;
    loop {
        let ev = r
            .read_event()
            .map_err(|e| format!("at byte {}: {e}", r.error_position()))?;
        match ev {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if stack.is_empty() {
                    roots += 1;
                    for a in e.attributes() {
                        let a = a.map_err(|e| format!("attribute: {e}"))?;
                        root_attrs.insert(
                            String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                            a.unescape_value().map_err(|e| e.to_string())?.into_owned(),
                        );
                    }
                }
                if stack.len() == 1 && name == "module" {
                    current = Some(Parsed { fields: vec![] });
                }
                buf.clear();
                stack.push(name);
            }
            Event::End(_) => {
                let name = stack.pop().unwrap();
                if stack.len() == 2 {
                    if let Some(m) = current.as_mut() {
                        m.fields.push((name, std::mem::take(&mut buf)));
                    }
                } else if stack.len() == 1 && name == "module" {
                    modules.push(current.take().unwrap());
                }
            }
            Event::Text(t) => {
                let raw = std::str::from_utf8(&t).unwrap();
                if raw.contains("]]>") {
                    return Err(format!("\"]]>\" in text: {raw:?}"));
                }
                let s = t.unescape().map_err(|e| e.to_string())?;
                if stack.is_empty() && !s.trim().is_empty() {
                    return Err(format!("text outside the root: {s:?}"));
                }
                buf.push_str(&s);
            }
            Event::CData(c) => buf.push_str(std::str::from_utf8(&c).unwrap()),
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements at the end: {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("{roots} root elements"));
    }
    Ok((root_attrs, modules))
}

/// Plugin output: `<module>` blocks only. Wraps them the way the agent does, then parses.
pub fn parse_plugin_output(stdout: &[u8]) -> Result<Vec<Parsed>, String> {
    let text = std::str::from_utf8(stdout).map_err(|e| format!("invalid UTF-8: {e}"))?;
    if !text.trim_start().starts_with("<module>") || !text.trim_end().ends_with("</module>") {
        return Err(format!("not only <module> blocks: {text:?}"));
    }
    let doc = format!("<agent_data agent_name='t'>{text}</agent_data>");
    parse_document(doc.as_bytes()).map(|(_, m)| m)
}

/// Checks every module carries a known type and data that fits it.
pub fn check_types(modules: &[Parsed]) {
    for m in modules {
        assert!(!m.name().is_empty(), "unnamed module: {m:?}");
        match m.kind() {
            "generic_data" => {
                m.number();
            }
            "generic_proc" => assert!(
                m.data() == "0" || m.data() == "1",
                "{} proc data {:?}",
                m.name(),
                m.data()
            ),
            "generic_data_string" => assert!(!m.data().is_empty(), "{} empty string", m.name()),
            other => panic!("{} has type {other:?}", m.name()),
        }
        for tag in ["min_warning", "min_critical", "max_warning", "max_critical"] {
            if let Some(v) = m.get(tag) {
                assert!(v.parse::<f64>().is_ok(), "{} {tag} {v:?}", m.name());
            }
        }
        if let Some(s) = m.status() {
            assert!(
                ["NORMAL", "WARNING", "CRITICAL"].contains(&s),
                "{} status {s:?}",
                m.name()
            );
        }
    }
}

/// expat's verdict (the parser behind the server's XML::Parser), when python3 is installed.
/// `None`: python3 is not available here.
pub fn expat_accepts(path: &Path) -> Option<Result<(), String>> {
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sys, xml.dom.minidom as m; m.parse(sys.argv[1])")
        .arg(path)
        .output()
        .ok()?;
    Some(if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    })
}
