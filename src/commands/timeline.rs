//! `pandora-ilert timeline INCIDENT`: the post-mortem timeline of one incident, found by
//! Pandora alert id, incident key or channel name.

use crate::archive::{records, RecordLoc};
use crate::chat::{self, ChannelRef, Context};
use crate::config::Config;
use crate::deadline::Deadline;
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::incident::Incident;
use crate::stdout::outln;
use crate::store::Store;
use crate::time::Timestamp;
use crate::timeline;

/// Finds the incident: the latest one of a key or alert id, or the one owning a channel.
fn find(config: &Config, store: &Store, query: &str) -> Option<Incident> {
    let q = query.trim().trim_start_matches('#');
    if let Some(i) = store
        .load_incident(q)
        .or_else(|| store.load_incident(&format!("{}{q}", config.alert_key_prefix)))
    {
        return Some(i);
    }
    records(store)
        .filter(|(_, i)| {
            i.chat.as_ref().is_some_and(|c| {
                c.channel_name.as_deref() == Some(q) || c.channel_id.as_deref() == Some(q)
            })
        })
        .max_by_key(|(loc, i)| (*loc == RecordLoc::Current, i.seq))
        .map(|(_, i)| i)
}

/// Runs `timeline`.
pub fn run(config: &Config, query: &str, json: bool) -> Result<Exit, AppError> {
    let store = Store::open_read_only(&config.state_dir);
    let incident = find(config, &store, query).ok_or_else(|| {
        AppError::Usage(format!(
            "no incident matches {query:?} (give the Pandora alert id, the incident key or the channel name; `status` lists open ones)"
        ))
    })?;
    let events = store.events(&incident.key);
    let mut notes = Vec::new();
    let mut exit = Exit::Ok;
    let http = Http::new(config.scrubber());
    let ctx = Context {
        config,
        store: &store,
        http: &http,
        deadline: Deadline::after(config.flush_deadline),
        now: Timestamp::now(),
    };
    let mut history = None;
    let chat = incident.chat.as_ref().filter(|c| c.channel_id.is_some());
    if let Some((c, platform)) = chat.and_then(|c| Some((c, c.backend?))) {
        let ch = ChannelRef {
            id: c.channel_id.clone().unwrap_or_default(),
            name: c.channel_name.clone().unwrap_or_default(),
            url: c.channel_url.clone(),
        };
        match chat::backend(platform, &ctx) {
            Ok(mut b) if b.capabilities().history => match b.history(&ch) {
                Ok(items) => history = Some((platform, items)),
                Err(e) => {
                    notes.push(format!(
                        "the {platform} history of #{} could not be read: {e}",
                        ch.name
                    ));
                    exit = Exit::Queued;
                }
            },
            Ok(_) => notes.push(format!(
                "{platform} cannot read channel history back; only the local event log is shown"
            )),
            Err(e) => {
                notes.push(e);
                exit = Exit::Queued;
            }
        }
    }
    let t = timeline::build(
        &incident,
        &events,
        history.as_ref().map(|(p, h)| (p.as_str(), h.as_slice())),
        notes,
    );
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&t).map_err(|e| AppError::Internal(e.to_string()))?
        );
    } else {
        print!("{}", timeline::markdown(&t));
    }
    for n in &t.notes {
        eprintln!("timeline: {n}");
    }
    Ok(exit)
}
