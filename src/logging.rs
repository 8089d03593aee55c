//! Logging setup: the configured file at the configured level, plus warnings and errors on
//! stderr (which Pandora sends to its error log). HTTP-library logs are filtered out: at debug
//! level they could show URLs that carry keys.

use std::fs::OpenOptions;

use simplelog::{CombinedLogger, ConfigBuilder, LevelFilter, SharedLogger, WriteLogger};

use crate::config::Config;

/// Installs the logger once per process.
pub fn init(config: &Config, verbose: bool) {
    let mut builder = ConfigBuilder::new();
    builder
        .add_filter_ignore_str("ureq")
        .add_filter_ignore_str("rustls")
        .set_thread_level(LevelFilter::Off)
        .set_target_level(LevelFilter::Off)
        .set_location_level(LevelFilter::Off);
    builder.set_time_format_rfc3339();
    let cfg = builder.build();
    let stderr_level = if verbose {
        config.log_level.max(LevelFilter::Info)
    } else {
        LevelFilter::Warn
    };
    let mut loggers: Vec<Box<dyn SharedLogger>> = vec![WriteLogger::new(
        stderr_level,
        cfg.clone(),
        std::io::stderr(),
    )];
    let mut file_problem = None;
    if let Some(path) = &config.log_file {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        match OpenOptions::new().create(true).append(true).open(path) {
            Ok(f) => loggers.push(WriteLogger::new(config.log_level, cfg, f)),
            Err(e) => {
                file_problem = Some(format!(
                    "cannot open log file {}: {e}; logging to stderr",
                    path.display()
                ))
            }
        }
    }
    let _ = CombinedLogger::init(loggers);
    if let Some(p) = file_problem {
        log::warn!("{p}");
    }
    for w in &config.warnings {
        log::warn!("config: {w}");
    }
}
