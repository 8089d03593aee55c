//! Logging setup: the configured file at the configured level, plus warnings and errors on
//! stderr (which Pandora sends to its error log). HTTP-library logs are filtered out: at debug
//! level they could show URLs that carry keys.
//!
//! Many `alert` processes append to one log file at once (an alert storm). Each record is
//! formatted into one buffer and written with a single `write` on a file opened with
//! `O_APPEND`, so the kernel places every line whole at the end of the file: lines of
//! concurrent processes never interleave mid-line.

use std::fs::{File, OpenOptions};
use std::io::Write;

use log::{LevelFilter, Log, Metadata, Record};

use crate::config::Config;
use crate::time::Timestamp;

/// Log targets never written: the HTTP and TLS libraries (their debug output holds URLs).
const IGNORED_TARGETS: [&str; 2] = ["ureq", "rustls"];

/// Target of records written to the log file only, never to stderr: for a message the caller
/// prints on stderr itself (the error that ends a command), so it appears there once.
pub const FILE_ONLY: &str = "pandora_ilert::file_only";

/// Installs the logger once per process.
pub fn init(config: &Config, verbose: bool) {
    let stderr_level = if verbose {
        config.log_level.max(LevelFilter::Info)
    } else {
        LevelFilter::Warn
    };
    let mut file_problem = None;
    let mut file = None;
    if let Some(path) = &config.log_file {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => file = Some(f),
            Err(e) => {
                file_problem = Some(format!(
                    "cannot open log file {}: {e}; logging to stderr",
                    path.display()
                ))
            }
        }
    }
    let logger = LineLogger {
        file: file.map(|f| (f, config.log_level)),
        stderr_level,
    };
    log::set_max_level(logger.max_level());
    // Installed once for the life of the process, so leaking it is the ownership we want.
    let _ = log::set_logger(Box::leak(Box::new(logger)));
    if let Some(p) = file_problem {
        log::warn!("{p}");
    }
    for w in &config.warnings {
        log::warn!("config: {w}");
    }
}

/// Writes each record as one line with one `write` call per destination.
struct LineLogger {
    /// The log file (opened with `O_APPEND`) and its level.
    file: Option<(File, LevelFilter)>,
    /// Records at or above this level also go to stderr.
    stderr_level: LevelFilter,
}

impl LineLogger {
    fn max_level(&self) -> LevelFilter {
        let file_level = self.file.as_ref().map_or(LevelFilter::Off, |(_, l)| *l);
        file_level.max(self.stderr_level)
    }
}

impl Log for LineLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.max_level() && !is_ignored(metadata.target())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = format_line(Timestamp::now(), record);
        if let Some((file, level)) = &self.file {
            if record.level() <= *level {
                // `&File` writes without a lock: the single `write` with O_APPEND is the unit.
                let _ = (&*file).write_all(line.as_bytes());
            }
        }
        if record.level() <= self.stderr_level && record.target() != FILE_ONLY {
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

fn is_ignored(target: &str) -> bool {
    IGNORED_TARGETS.iter().any(|t| target.starts_with(t))
}

/// One log line: `2026-11-24T07:40:05.123Z [WARN] message\n`. Line breaks inside the message
/// are escaped so that every record stays one line (one `grep` hit, one parse).
fn format_line(now: Timestamp, record: &Record) -> String {
    let message = record.args().to_string();
    let mut line = String::with_capacity(message.len() + 40);
    line.push_str(&now.rfc3339_millis());
    line.push_str(" [");
    line.push_str(record.level().as_str());
    line.push_str("] ");
    for c in message.chars() {
        match c {
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            c => line.push(c),
        }
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: log::Level, message: &str) -> String {
        format_line(
            Timestamp::from_millis(1_795_000_000_123),
            &Record::builder()
                .level(level)
                .args(format_args!("{message}"))
                .build(),
        )
    }

    #[test]
    fn a_record_is_one_line_with_time_and_level() {
        let l = line(log::Level::Warn, "ilert unreachable");
        assert!(l.ends_with(" [WARN] ilert unreachable\n"), "{l}");
        assert!(Timestamp::parse_rfc3339(l.split(' ').next().unwrap()).is_some());
        assert_eq!(l.matches('\n').count(), 1);
    }

    #[test]
    fn line_breaks_in_a_message_are_escaped() {
        let l = line(log::Level::Error, "body:\r\n<html>\n</html>");
        assert!(l.ends_with("[ERROR] body:\\r\\n<html>\\n</html>\n"), "{l}");
        assert_eq!(l.matches('\n').count(), 1);
    }

    #[test]
    fn http_library_targets_are_ignored() {
        assert!(is_ignored("ureq::unversioned::resolver"));
        assert!(is_ignored("rustls::client"));
        assert!(!is_ignored("pandora_ilert::delivery"));
    }
}
