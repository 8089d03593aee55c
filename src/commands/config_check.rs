//! `pandora-ilert config check`: validate and show what the config resolves to.

use std::path::Path;

use crate::chat::message::CHANNEL_PLACEHOLDERS;
use crate::config::{Config, Secret};
use crate::error::AppError;
use crate::exit::Exit;
use crate::ilert;
use crate::stdout::outln;
use crate::template::unknown_placeholders;

/// Runs `config check`.
pub fn run(path: &Path) -> Result<Exit, AppError> {
    let config = Config::load(path)?;
    let placeholders = placeholders_left(&config);
    if placeholders.is_empty() {
        outln!("config {}: OK", path.display());
    } else {
        outln!(
            "config {}: valid, but not ready: the example's placeholders are still in it",
            path.display()
        );
    }
    outln!("state_dir      {}", config.state_dir.display());
    outln!(
        "log            {} (level {})",
        config
            .log_file
            .as_ref()
            .map_or("stderr".into(), |p| p.display().to_string()),
        config.log_level
    );
    outln!("ilert api_url  {}", config.ilert_url);
    outln!(
        "alert deadline {}s, request timeout {}s",
        config.alert_deadline.as_secs(),
        config.request_timeout.as_secs()
    );
    outln!(
        "re-fire        {}",
        config.refire_window.map_or(
            "deduplicated while open (no new ALERT)".into(),
            |w| format!(
                "ALERT again when the last one is older than {}s",
                w.as_secs()
            )
        )
    );
    outln!("routes (first match wins):");
    for (i, r) in config.routes.iter().enumerate() {
        outln!("  {}. {}: {}", i + 1, r.name, r.matcher.describe());
        outln!(
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
            outln!(
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
    for w in config.warnings.iter().chain(&placeholder_warnings(&config)) {
        outln!("warning: {w}");
    }
    for p in &placeholders {
        outln!("warning: {p}: {PLACEHOLDER_FIX}");
    }
    Ok(Exit::Ok)
}

/// Templates naming a placeholder nothing fills (`{agnet}`): it would reach ilert or the
/// channel name as written.
pub fn placeholder_warnings(config: &Config) -> Vec<String> {
    let mut templates = vec![(
        "summary_template".to_string(),
        config.summary_template.as_str(),
        &ilert::SUMMARY_PLACEHOLDERS[..],
    )];
    for r in &config.routes {
        if let Some(t) = &r.summary_template {
            templates.push((
                format!("route '{}' summary_template", r.name),
                t,
                &ilert::SUMMARY_PLACEHOLDERS[..],
            ));
        }
        if let Some(c) = &r.chat {
            templates.push((
                format!("route '{}' channel_template", r.name),
                &c.channel_template,
                &CHANNEL_PLACEHOLDERS[..],
            ));
        }
    }
    let mut warnings = Vec::new();
    for (what, template, known) in templates {
        for name in unknown_placeholders(template, known) {
            warnings.push(format!(
                "{what} uses {{{name}}}, which is not a placeholder (kept as written){}; known: {{{}}}",
                crate::config::suggestion(name, known),
                known.join("} {")
            ));
        }
    }
    warnings
}

/// What to do about a placeholder left in the config.
pub const PLACEHOLDER_FIX: &str = "replace REPLACE-WITH-... by the real value (ilert shows an alert source's integration key on its page)";

/// The example config's placeholders (`REPLACE-WITH-...`) still in place, each as what holds
/// it ("route 'default' still has the placeholder ilert_key"): nothing could be delivered.
pub fn placeholders_left(config: &Config) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for r in &config.routes {
        if is_placeholder(&r.source.key) {
            let what = if r.source.name == r.name {
                format!("route '{}' still has the placeholder ilert_key", r.name)
            } else {
                format!(
                    "alert source '{}' still has the placeholder integration_key",
                    r.source.name
                )
            };
            if !found.contains(&what) {
                found.push(what);
            }
        }
    }
    let mut secrets: Vec<(&str, Option<&Secret>)> = vec![
        ("[ilert] heartbeat_key", config.heartbeat_key.as_ref()),
        ("[slack] token", config.slack.as_ref().map(|s| &s.token)),
        (
            "[matrix] access_token",
            config.matrix.as_ref().map(|m| &m.access_token),
        ),
    ];
    if let Some(t) = &config.teams {
        secrets.push(("[teams] client_secret", t.client_secret.as_ref()));
        secrets.push(("[teams] webhook_url", t.webhook_url.as_ref()));
    }
    for (name, secret) in secrets {
        if secret.is_some_and(is_placeholder) {
            found.push(format!("{name} is still the example's placeholder"));
        }
    }
    found
}

/// Whether a secret is still the example config's `REPLACE-WITH-...` text.
pub fn is_placeholder(secret: &Secret) -> bool {
    secret.expose().contains("REPLACE-WITH")
}
