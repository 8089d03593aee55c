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
use std::os::fd::AsFd;
use std::sync::OnceLock;

use log::{Level, LevelFilter, Log, Metadata, Record};

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
        let open = || OpenOptions::new().create(true).append(true).open(path);
        // The directory is made only when it is missing (every alert opens the log).
        let opened = match (open(), path.parent()) {
            (Err(e), Some(dir)) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::create_dir_all(dir);
                open()
            }
            (opened, _) => opened,
        };
        match opened {
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
    // Installed once for the life of the process (a second `init` keeps the first); a
    // stop-signal handler (`SignalLog`) writes to the same destinations.
    let logger = LOGGER.get_or_init(|| logger);
    log::set_max_level(logger.max_level());
    let _ = log::set_logger(logger);
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

/// The process's logger, once `init` has run.
static LOGGER: OnceLock<LineLogger> = OnceLock::new();

/// Writes log lines from a signal handler: no allocation, no lock, one `write` per
/// destination (the same line format as the logger). Prepared before the handler is installed.
pub struct SignalLog {
    file: Option<(&'static File, LevelFilter)>,
    /// A duplicate of fd 2: `std::io::stderr()` takes a lock the interrupted code may hold.
    stderr: Option<(File, LevelFilter)>,
}

/// The longest line a signal handler writes; a longer message is cut (the line still ends).
const SIGNAL_LINE_MAX: usize = 1024;

impl SignalLog {
    /// Takes the logger's destinations (none if logging was not set up).
    pub fn prepare() -> SignalLog {
        let Some(logger) = LOGGER.get() else {
            return SignalLog {
                file: None,
                stderr: None,
            };
        };
        let stderr = std::io::stderr()
            .as_fd()
            .try_clone_to_owned()
            .ok()
            .map(|fd| (File::from(fd), logger.stderr_level));
        SignalLog {
            file: logger.file.as_ref().map(|(f, level)| (f, *level)),
            stderr,
        }
    }

    /// Writes `<now> [LEVEL] <message>` to each destination whose level admits it.
    /// Async-signal-safe: the clock (vDSO), copies into a stack buffer, `write`.
    pub fn write(&self, level: Level, message: &[u8]) {
        let mut line = [0u8; SIGNAL_LINE_MAX];
        let mut len = 0;
        let level_text = level.as_str().as_bytes();
        let stamp = crate::time::Timestamp::now().rfc3339_millis_bytes();
        for part in [&stamp[..], b" [", level_text, b"] ", message] {
            let room = SIGNAL_LINE_MAX - 1 - len;
            let take = part.len().min(room);
            line[len..len + take].copy_from_slice(&part[..take]);
            len += take;
        }
        line[len] = b'\n';
        let line = &line[..=len];
        if let Some((file, max)) = self.file {
            if level <= max {
                let _ = (&*file).write_all(line);
            }
        }
        if let Some((stderr, max)) = &self.stderr {
            if level <= *max {
                let _ = (&*stderr).write_all(line);
            }
        }
    }
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
