//! `pandora-ilert archive --older-than 7d`: archive channels of long-resolved incidents.

use crate::archive;
use crate::config::Config;
use crate::deadline::Deadline;
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::stdout::outln;
use crate::store::Store;
use crate::time::{parse_duration, Timestamp};

/// Runs `archive`.
pub fn run(config: &Config, older_than: &str, dry_run: bool) -> Result<Exit, AppError> {
    let age = parse_duration(older_than).ok_or_else(|| {
        AppError::Usage(format!(
            "--older-than {older_than:?} is not a duration (e.g. 7d, 48h, 30m)"
        ))
    })?;
    let store = if dry_run {
        Store::open_read_only(&config.state_dir)
    } else {
        Store::open(&config.state_dir)?
    };
    let http = Http::new(config.scrubber());
    let report = archive::run(
        config,
        &store,
        &http,
        Deadline::after(config.flush_deadline),
        age,
        dry_run,
    );
    let now = Timestamp::now();
    let verb = if dry_run { "would archive" } else { "archived" };
    for d in &report.archived {
        outln!(
            "{verb} #{} ({}, incident {}, resolved {} ago{})",
            d.channel,
            d.backend,
            d.key,
            crate::time::human_duration(now.since(d.resolved_at)),
            if d.drill { ", drill" } else { "" }
        );
    }
    for (channel, e) in &report.failed {
        eprintln!("could not archive #{channel}: {e}");
    }
    eprintln!(
        "archive: {} {verb}, {} failed, {} busy",
        report.archived.len(),
        report.failed.len(),
        report.busy
    );
    Ok(if report.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Queued
    })
}
