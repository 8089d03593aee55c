//! The command line as bytes. The Pandora server decodes the console's HTML entities and, when
//! the rest of the line is plain ASCII, passes Latin-1 bytes such as 0xE9 (`é`) in argv
//! (issue #11). Each argument that is valid UTF-8 is kept; any other is decoded as
//! Windows-1252 (a superset of Latin-1's printable range), so no alert is ever refused for its
//! encoding.

use std::ffi::OsString;

/// Arguments decoded to text, and which of them needed the Windows-1252 fallback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedArgs {
    /// Every argument, the program name first: text, except file paths, which stay as the
    /// bytes the file system knows them by.
    pub args: Vec<OsString>,
    /// What each converted argument was (`--agent`, or `argument 3`), in order.
    pub converted: Vec<String>,
}

impl DecodedArgs {
    /// The one log line about converted arguments, when there were any.
    pub fn note(&self) -> Option<String> {
        if self.converted.is_empty() {
            return None;
        }
        Some(format!(
            "{} not valid UTF-8; decoded as Windows-1252 (Latin-1): {}",
            if self.converted.len() == 1 {
                "one argument was"
            } else {
                "some arguments were"
            },
            self.converted.join(", ")
        ))
    }
}

/// Decodes every argument: UTF-8 when it is valid, Windows-1252 otherwise. File paths (the
/// value of `--config`, the files of `xml`) are left as they are.
pub fn decode_args(args: impl IntoIterator<Item = OsString>) -> DecodedArgs {
    let mut out: Vec<OsString> = Vec::new();
    let mut converted = Vec::new();
    let mut subcommand: Option<String> = None;
    for (i, arg) in args.into_iter().enumerate() {
        let prev = out.last().and_then(|p| p.to_str());
        let is_path = prev == Some("--config")
            || os_bytes(&arg).starts_with(b"--config=")
            || subcommand.as_deref() == Some("xml");
        let arg = match arg.into_string() {
            Ok(s) => {
                if i > 0 && subcommand.is_none() && !s.starts_with('-') && prev != Some("--config")
                {
                    subcommand = Some(s.clone());
                }
                OsString::from(s)
            }
            Err(raw) if is_path => raw,
            Err(raw) => {
                let text = decode_windows_1252(&os_bytes(&raw));
                converted.push(describe(prev, &text, i));
                OsString::from(text)
            }
        };
        out.push(arg);
    }
    DecodedArgs {
        args: out,
        converted,
    }
}

/// Names a converted argument by its option (`--agent` for `--agent VALUE` or
/// `--agent=VALUE`), else by position.
fn describe(prev: Option<&str>, text: &str, index: usize) -> String {
    if let Some((opt, _)) = text.split_once('=').filter(|(o, _)| is_long_option(o)) {
        return opt.to_string();
    }
    match prev {
        Some(prev) if is_long_option(prev) => prev.to_string(),
        _ => format!("argument {index}"),
    }
}

fn is_long_option(s: &str) -> bool {
    s.len() > 2
        && s.starts_with("--")
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(unix)]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().to_vec()
}

#[cfg(not(unix))]
fn os_bytes(s: &std::ffi::OsStr) -> Vec<u8> {
    s.to_string_lossy().into_owned().into_bytes()
}

/// Windows-1252 (WHATWG mapping): ASCII and 0xA0-0xFF map to the same code points, 0x80-0x9F
/// to the typographic characters Windows puts there; the five unassigned bytes map to the C1
/// controls of the same value, so every byte decodes and nothing is lost.
pub fn decode_windows_1252(bytes: &[u8]) -> String {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}',
        '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}',
        '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}',
        '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
    ];
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => HIGH[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn os(bytes: &[u8]) -> OsString {
        use std::os::unix::ffi::OsStringExt;
        OsString::from_vec(bytes.to_vec())
    }

    #[test]
    fn latin1_bytes_become_their_characters() {
        assert_eq!(decode_windows_1252(b"Caf\xe9"), "Café");
        assert_eq!(decode_windows_1252(b"21 \xb0C"), "21 °C");
        assert_eq!(decode_windows_1252(b"Espa\xf1a \xfc \xba"), "España ü º");
        assert_eq!(decode_windows_1252(b"\x80 \x93x\x94"), "€ “x”");
    }

    #[cfg(unix)]
    #[test]
    fn only_invalid_arguments_are_converted_and_named() {
        let d = decode_args([
            os(b"pandora-ilert"),
            os(b"--config"),
            os(b"/etc/caf\xe9.toml"),
            os(b"alert"),
            os(b"--agent"),
            os(b"Caf\xe9"),
            os("Café".as_bytes()),
            os(b"--data=\xb0"),
            os(b"\xff"),
        ]);
        let text: Vec<String> = d
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            text,
            [
                "pandora-ilert",
                "--config",
                "/etc/caf\u{FFFD}.toml",
                "alert",
                "--agent",
                "Café",
                "Café",
                "--data=°",
                "ÿ"
            ]
        );
        assert_eq!(
            d.args[2],
            os(b"/etc/caf\xe9.toml"),
            "paths keep their bytes"
        );
        assert_eq!(d.converted, ["--agent", "--data", "argument 8"]);
        let note = d.note().unwrap();
        assert!(note.contains("--agent, --data, argument 8"), "{note}");
        assert_eq!(decode_args([os(b"x")]).note(), None);
        let xml = decode_args([os(b"p"), os(b"xml"), os(b"/tmp/\xe9.data")]);
        assert_eq!(xml.args[2], os(b"/tmp/\xe9.data"));
        assert!(xml.converted.is_empty());
    }
}
