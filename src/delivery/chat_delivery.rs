//! Chat deliveries: an outbox entry for a chat backend becomes a reconciliation of the
//! incident's channel (`chat::sync`) or of the route's storm channel, and its failure becomes
//! an outbox disposition.

use crate::chat::{self, backend, storm, sync, ChatError, Context};
use crate::config::ChatPlatform;
use crate::incident::Incident;
use crate::lifecycle::ChatUpdate;
use crate::store::{EventKind, EventLogLine, Step};

use super::Disposition;

/// The outbox disposition for a chat failure.
pub fn disposition(e: &ChatError, backend: ChatPlatform) -> Disposition {
    match e {
        ChatError::RateLimited(after) => Disposition::Retry {
            after: *after,
            reason: format!("{backend}: {e}"),
            transport: false,
        },
        ChatError::Transient(_) => Disposition::Retry {
            after: None,
            reason: format!("{backend}: {e}"),
            transport: false,
        },
        ChatError::Transport(_) => Disposition::Retry {
            after: None,
            reason: format!("{backend}: {e}"),
            transport: true,
        },
        ChatError::Permanent(_) | ChatError::MessageGone(_) => Disposition::DeadLetter {
            reason: format!("{backend}: {e}"),
        },
    }
}

/// Brings the channel of incident number `seq` of `key` up to date after `update` (an
/// earlier incident of the same alert keeps its own channel). The caller holds the incident
/// lock.
pub fn deliver(ctx: &Context<'_>, key: &str, seq: u32, update: &ChatUpdate) -> Disposition {
    if update.change.is_storm() {
        return deliver_storm(ctx, key, update);
    }
    let Some(mut incident) = ctx.store.load_incident_seq(key, seq) else {
        return Disposition::DeadLetter {
            reason: format!("chat: incident {key} #{seq} has no record"),
        };
    };
    let Some(route) = ctx
        .config
        .route(&incident.route)
        .and_then(|r| r.chat.clone())
    else {
        return Disposition::DeadLetter {
            reason: format!(
                "chat: route '{}' no longer has a chat backend in the config",
                incident.route
            ),
        };
    };
    let mut backend = match open_backend(ctx, update.backend) {
        Ok(b) => b,
        Err(retry) => return retry,
    };
    let mut save = |inc: &Incident, step: Step, text: String| {
        if let Err(e) = ctx.store.save_incident(inc) {
            log::error!("{e}");
        }
        let line = EventLogLine::ours(inc.seq, EventKind::Chat, text).step(step);
        ctx.store.log_event(&inc.key, &line);
    };
    match sync(
        backend.as_mut(),
        &mut incident,
        &route,
        update.change,
        ctx.now,
        &mut save,
    ) {
        Ok(()) => Disposition::Delivered,
        Err(e) => disposition(&e, update.backend),
    }
}

/// Updates the route's storm channel (under the route's storm lock).
fn deliver_storm(ctx: &Context<'_>, key: &str, update: &ChatUpdate) -> Disposition {
    let incident = ctx.store.load_incident(key);
    let Some(route_name) = update
        .route
        .clone()
        .or_else(|| incident.as_ref().map(|i| i.route.clone()))
    else {
        return Disposition::DeadLetter {
            reason: format!("chat: storm update for {key} names no route"),
        };
    };
    let Some(route) = ctx.config.route(&route_name).and_then(|r| r.chat.clone()) else {
        return Disposition::DeadLetter {
            reason: format!("chat: route '{route_name}' has no chat backend any more"),
        };
    };
    let _lock = match ctx.store.lock_storm(&route_name, ctx.deadline.instant()) {
        Ok(lock) => lock,
        Err(e) => {
            return Disposition::Retry {
                after: None,
                reason: format!("storm state: {e}"),
                transport: false,
            }
        }
    };
    let mut backend = match open_backend(ctx, update.backend) {
        Ok(b) => b,
        Err(retry) => return retry,
    };
    let mut state = ctx.store.load_storm(&route_name);
    let mut save = |s: &crate::storm::StormState, note: Option<String>| {
        if let Err(e) = ctx.store.save_storm(s) {
            log::error!("{e}");
        }
        if let (Some(text), Some(inc)) = (note, incident.as_ref()) {
            ctx.store.log_event(
                &inc.key,
                &EventLogLine::ours(inc.seq, EventKind::Chat, text),
            );
        }
    };
    match storm::sync_storm(backend.as_mut(), &mut state, &route, ctx.now, &mut save) {
        Ok(()) => Disposition::Delivered,
        Err(e) => disposition(&e, update.backend),
    }
}

/// The backend for an entry; one that cannot be set up now is retried later.
fn open_backend<'a>(
    ctx: &'a Context<'a>,
    platform: ChatPlatform,
) -> Result<Box<dyn chat::ChatBackend + 'a>, Disposition> {
    backend(platform, ctx).map_err(|reason| Disposition::Retry {
        after: None,
        reason,
        transport: false,
    })
}
