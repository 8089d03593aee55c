//! Pandora's incoming data folder (`data_in`, reference §3.3): the files waiting for the data
//! server, and the ones it gave up on (`*_BADXML`). A stalled data server means no module
//! changes state and no alert can fire, so the plugin watches it; a rejected file lost every
//! module of one agent interval, so the plugin says whose file it was and where it broke.
//!
//! `scan` reads the folder (the only effect here); `is_data_file`, `is_rejected` and
//! `diagnose` are pure.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::deadline::Deadline;
use crate::pandora::agent_data;
use crate::time::Timestamp;

/// Rejected files inspected per run at most, newest first (each one is read and parsed).
const MAX_INSPECTED: usize = 10;
/// Larger rejected files are counted but not read.
const MAX_INSPECT_BYTES: u64 = 16 * 1024 * 1024;
/// Time kept back from the deadline when listing and inspecting.
const RESERVE: Duration = Duration::from_millis(500);

/// Why the server refused a file, as far as we can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// The agent it came from (alias, else name), when readable.
    pub agent: Option<String>,
    /// The first problem, with line and column.
    pub problem: String,
}

/// A file the server renamed `*_BADXML`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejected {
    /// File name (lossy UTF-8).
    pub name: String,
    /// When it was last written.
    pub modified: Option<Timestamp>,
    /// What is wrong with it; `None` when it was not inspected in this run.
    pub diagnosis: Option<Diagnosis>,
}

/// What the folder holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    /// Data files waiting for the server.
    pub pending: usize,
    /// The oldest waiting file's modification time.
    pub oldest_pending: Option<Timestamp>,
    /// Rejected files, newest first.
    pub rejected: Vec<Rejected>,
    /// False when the deadline stopped the listing early (counts are then lower bounds).
    pub complete: bool,
}

/// True for names the server picks up: `^(.*)[._]\d+\.data$`.
pub fn is_data_file(name: &str) -> bool {
    let Some(stem) = name.strip_suffix(".data") else {
        return false;
    };
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && matches!(stem[..stem.len() - digits].chars().last(), Some('.' | '_'))
}

/// True for files the server gave up on.
pub fn is_rejected(name: &str) -> bool {
    name.ends_with("_BADXML")
}

/// Reads a rejected file the way the server would and says whose it is and where it broke.
pub fn diagnose(bytes: &[u8]) -> Diagnosis {
    let data = agent_data::parse(bytes);
    let problem = match data.first_error() {
        Some(e) => e.to_string(),
        None if data.header.name.is_none() => {
            "no agent_name attribute on <agent_data> (the server requires it)".to_string()
        }
        None => "no XML error found: the server may have refused it for another reason \
                 (see its log for \"Unable to process XML data file\")"
            .to_string(),
    };
    Diagnosis {
        agent: data.header.display_name().map(str::to_string),
        problem,
    }
}

fn modified(meta: &fs::Metadata) -> Option<Timestamp> {
    Timestamp::from_system(meta.modified().ok()?)
}

/// Lists `dir` (top level only) and inspects the newest rejected files within the deadline.
pub fn scan(dir: &Path, deadline: Deadline) -> io::Result<Scan> {
    let mut scan = Scan {
        complete: true,
        ..Scan::default()
    };
    let mut rejected = Vec::new();
    for entry in fs::read_dir(dir)? {
        if deadline.remaining() < RESERVE {
            scan.complete = false;
            break;
        }
        let Ok(entry) = entry else { continue };
        let name = entry.file_name().to_string_lossy().into_owned();
        let pending = is_data_file(&name);
        if !pending && !is_rejected(&name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let when = modified(&meta);
        if pending {
            scan.pending += 1;
            if let Some(t) = when {
                scan.oldest_pending = Some(scan.oldest_pending.map_or(t, |o| o.min(t)));
            }
        } else {
            rejected.push((when, meta.len(), entry.path(), name));
        }
    }
    rejected.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.3.cmp(&b.3)));
    for (i, (when, size, path, name)) in rejected.into_iter().enumerate() {
        let diagnosis = if i < MAX_INSPECTED && deadline.remaining() >= RESERVE {
            Some(if size > MAX_INSPECT_BYTES {
                Diagnosis {
                    agent: None,
                    problem: format!("{size} bytes: too large to inspect"),
                }
            } else {
                match fs::read(&path) {
                    Ok(bytes) => diagnose(&bytes),
                    Err(e) => Diagnosis {
                        agent: None,
                        problem: format!("cannot read it: {e}"),
                    },
                }
            })
        } else {
            None
        };
        scan.rejected.push(Rejected {
            name,
            modified: when,
            diagnosis,
        });
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_file_names_follow_the_server_pattern() {
        for ok in [
            "web-01.1795000000.data",
            "0123abcd.1795000000.data",
            "my agent_1795000000.data",
            "x.1.data",
        ] {
            assert!(is_data_file(ok), "{ok}");
        }
        for no in [
            "web-01.data",
            "web-01.1795000000.data_BADXML",
            "web-011795000000.data",
            "1795000000.data",
            ".data",
            "conf",
        ] {
            assert!(!is_data_file(no), "{no}");
        }
        assert!(is_rejected("web-01.1795000000.data_BADXML"));
    }

    #[test]
    fn diagnosis_names_the_agent_and_the_first_error() {
        let d = diagnose(
            b"<?xml version='1.0' encoding='UTF-8'?>\n<agent_data agent_name='db-02'>\n<module><name>x</name><data><![CDATA[a]]>b]]></data></module>\n</agent_data>",
        );
        assert_eq!(d.agent.as_deref(), Some("db-02"));
        assert!(d.problem.starts_with("line 3 column "), "{}", d.problem);
    }

    #[test]
    fn diagnosis_of_a_file_that_parses() {
        let d = diagnose(b"<agent_data agent_name='a'></agent_data>");
        assert!(d.problem.contains("no XML error found"), "{}", d.problem);
        let d = diagnose(b"<agent_data></agent_data>");
        assert!(d.problem.contains("no agent_name"), "{}", d.problem);
    }
}
