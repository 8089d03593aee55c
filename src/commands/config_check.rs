//! `pandora-ilert config check`: validate and show what the config resolves to.

use std::path::Path;

use crate::config::Config;
use crate::error::AppError;
use crate::exit::Exit;

/// Runs `config check`.
pub fn run(path: &Path) -> Result<Exit, AppError> {
    let config = Config::load(path)?;
    println!("config {}: OK", path.display());
    println!("state_dir      {}", config.state_dir.display());
    println!(
        "log            {} (level {})",
        config
            .log_file
            .as_ref()
            .map_or("stderr".into(), |p| p.display().to_string()),
        config.log_level
    );
    println!("ilert api_url  {}", config.ilert_url);
    println!(
        "alert deadline {}s, request timeout {}s",
        config.alert_deadline.as_secs(),
        config.request_timeout.as_secs()
    );
    println!(
        "re-fire        {}",
        config.refire_window.map_or(
            "deduplicated while open (no new ALERT)".into(),
            |w| format!(
                "ALERT again when the last one is older than {}s",
                w.as_secs()
            )
        )
    );
    println!("routes (first match wins):");
    for (i, r) in config.routes.iter().enumerate() {
        println!("  {}. {}: {}", i + 1, r.name, r.matcher.describe());
        println!(
            "     ilert source '{}' key {} via {} endpoint, priority {}",
            r.source.name,
            r.source.key.redacted(),
            r.source.api.as_str(),
            r.priority.map_or(
                "from severity (Critical/Major HIGH, else LOW)".into(),
                |p| format!("{p:?}").to_uppercase()
            )
        );
        if let Some(c) = &r.chat {
            println!(
                "     chat {} channel '{}' {}{}{}",
                c.backend,
                c.channel_template,
                if c.private { "private" } else { "public" },
                if c.invite.is_empty() {
                    String::new()
                } else {
                    format!(", invite {}", c.invite.join(","))
                },
                c.stakeholder_channel
                    .as_deref()
                    .map(|s| format!(", stakeholders {s}"))
                    .unwrap_or_default()
            );
        }
    }
    for w in &config.warnings {
        println!("warning: {w}");
    }
    Ok(Exit::Ok)
}
