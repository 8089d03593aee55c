//! The storm channel of a route: opened once, a pinned summary per storm updated in place,
//! and an end message. Same idempotent step-by-step style as `sync`.

use crate::config::ChatRoute;
use crate::storm::{channel_name, StormState};
use crate::time::Timestamp;

use super::{message, ChannelRef, ChannelSpec, ChatBackend, ChatError};

/// The storm state's chat `extra` entries naming the storm (its start) stakeholders were told
/// about, at its start and at its end.
const STAKEHOLDER_START: &str = "stakeholder_storm_start";
const STAKEHOLDER_END: &str = "stakeholder_storm_end";

/// Brings the storm channel in line with `state`; `save` persists each step.
pub fn sync_storm(
    b: &mut dyn ChatBackend,
    state: &mut StormState,
    route: &ChatRoute,
    _now: Timestamp,
    save: &mut dyn FnMut(&StormState, Option<String>),
) -> Result<(), ChatError> {
    let caps = b.capabilities();
    let ch = match state.chat.channel_id.clone() {
        Some(id) => ChannelRef {
            id,
            name: state.chat.channel_name.clone().unwrap_or_default(),
            url: state.chat.channel_url.clone(),
        },
        None => {
            let spec = ChannelSpec {
                name: b.sanitize_name(&channel_name(&state.route)),
                private: route.private,
                topic: message::storm_topic(state),
                description: format!("pandora-ilert storm channel of route {}", state.route),
            };
            let ch = b.open_channel(&spec)?;
            state.chat.backend = Some(route.backend);
            state.chat.channel_id = Some(ch.id.clone());
            state.chat.channel_name = Some(ch.name.clone());
            state.chat.channel_url = ch.url.clone();
            save(state, Some(format!("opened storm channel #{}", ch.name)));
            ch
        }
    };
    // Responders are invited, so someone finds the storm room.
    if caps.invite {
        let missing: Vec<String> = route
            .invite
            .iter()
            .filter(|u| !state.chat.invited.contains(u))
            .cloned()
            .collect();
        if !missing.is_empty() {
            b.invite(&ch, &missing)?;
            b.empower(&ch, &missing)?;
            state.chat.invited.extend(missing.iter().cloned());
            save(
                state,
                Some(format!("invited {} to #{}", missing.join(", "), ch.name)),
            );
        }
    }
    let current = state.active_since.or(state.ended_storm);
    if current.is_some() && state.summary_for != current {
        let summary = message::storm_summary(state).on(storm_occasion(state, "summary", current));
        let id = b.post(&ch, &summary)?;
        state.chat.message_id = Some(id.clone());
        state.chat.pinned = false;
        state.summary_for = current;
        state.rendered = state.version;
        save(state, Some(format!("posted storm summary in #{}", ch.name)));
    }
    if let Some(id) = state.chat.message_id.clone() {
        if caps.pin && !state.chat.pinned {
            b.pin(&ch, &id)?;
            state.chat.pinned = true;
            save(state, None);
        }
        if state.rendered != state.version {
            if caps.update {
                let what = format!("summary v{}", state.version);
                let summary =
                    message::storm_summary(state).on(storm_occasion(state, &what, current));
                b.update(&ch, &id, &summary)?;
            }
            state.rendered = state.version;
            save(state, None);
        }
    }
    let topic = message::storm_topic(state);
    if caps.topic && state.chat.topic.as_deref() != Some(topic.as_str()) {
        b.set_topic(&ch, &topic)?;
        state.chat.topic = Some(topic);
        save(state, None);
    }
    if !state.is_active()
        && state.ended_storm.is_some()
        && state.end_announced_for != state.ended_storm
    {
        let end = message::storm_end(state).on(storm_occasion(state, "end", state.ended_storm));
        b.post(&ch, &end)?;
        state.end_announced_for = state.ended_storm;
        save(
            state,
            Some(format!("announced the end of the storm in #{}", ch.name)),
        );
    }
    // Stakeholders: one line when a storm starts, one when it ends.
    if let Some(stake) = &route.stakeholder_channel {
        let (marker, storm) = if state.is_active() {
            (STAKEHOLDER_START, state.active_since)
        } else {
            (STAKEHOLDER_END, state.ended_storm)
        };
        if let Some(storm_start) = storm {
            let storm = storm_start.rfc3339();
            if state.chat.extra.get(marker) != Some(&storm) {
                let link = ch.url.clone().unwrap_or_else(|| format!("#{}", ch.name));
                let target = b.existing_channel(stake)?;
                let line = message::storm_stakeholder_line(state, &link).on(storm_occasion(
                    state,
                    marker,
                    Some(storm_start),
                ));
                b.post(&target, &line)?;
                state.chat.extra.insert(marker.into(), storm);
                save(state, Some(format!("storm line in {stake}")));
            }
        }
    }
    Ok(())
}

/// The occasion (`ChatMessage::occasion`) of a storm message: each is posted once per storm
/// of a route, so the route, the step and the storm's start name it.
fn storm_occasion(state: &StormState, what: &str, storm: Option<Timestamp>) -> String {
    let start = storm.map(|t| t.rfc3339_millis()).unwrap_or_default();
    format!("storm/{}/{start} {what}", state.route)
}
