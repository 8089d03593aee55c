//! Delivery: send an incident's queued actions in order, classify each answer, and move the
//! entry on (done, retry later, dead letter). Used by `alert`, `flush` and the plugin run.
//!
//! Ordering: entries of one incident and one lane (ilert, or one chat backend) go strictly in
//! order; after a failure the rest of that lane waits for the next pass. Lanes are independent,
//! so a chat outage never delays paging.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

mod chat_delivery;

use crate::chat;
use crate::config::{AlertSource, Config};
use crate::deadline::{Deadline, MARGIN};
use crate::http::{Http, Response, TransportError};
use crate::ilert;
use crate::lifecycle::{Action, Lane};
use crate::pacing::{rate_limit_backoff, Budget};
use crate::store::pacing::pace_name;
use crate::store::{
    sort_queue, Durability, EventKind, EventLogLine, OutboxEntry, Record, Step, Store,
};
use crate::text::one_line;
use crate::time::{human_duration, Timestamp};

/// Consecutive transport failures on a lane before the pass stops trying that lane.
const BREAKER_THRESHOLD: u32 = 3;
/// Longest in-process wait for a `Retry-After` before we queue instead.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(3);

/// What to do with an entry after an attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Accepted: remove it.
    Delivered,
    /// Try again later; `after` is the provider's own `Retry-After`.
    Retry {
        /// Provider-mandated wait.
        after: Option<Duration>,
        /// Why, for the log and `status`.
        reason: String,
        /// A transport failure (counts toward the lane's breaker).
        transport: bool,
    },
    /// Not attempted: ilert's rate limit for this key is used up (our own pacing). The entry
    /// waits `after` with no failure counted.
    Paced {
        /// Until the next slot of the key's budget.
        after: Duration,
        /// Which budget, for the log and `status`.
        reason: String,
    },
    /// Will never succeed as it is: keep it in `dead/`.
    DeadLetter {
        /// Why, with the provider's answer.
        reason: String,
    },
}

/// The setting a redirect of an ilert call points at.
const ILERT_URL_SETTING: &str = "[ilert] api_url";

/// Classifies an HTTP answer from ilert by its status alone (the body is outside text that
/// only goes into the reason). Only a 2xx is a delivery; a 3xx is a configuration error.
pub fn classify_http(resp: &Response, now: Timestamp) -> Disposition {
    let body = one_line(&resp.body, 300);
    match resp.status {
        200..=299 => Disposition::Delivered,
        300..=399 => Disposition::DeadLetter {
            reason: resp
                .redirect_error(ILERT_URL_SETTING)
                .unwrap_or_else(|| format!("HTTP {} redirect", resp.status)),
        },
        429 | 503 => Disposition::Retry {
            after: resp.retry_after_delay(now),
            reason: format!(
                "HTTP {} (rate limited or unavailable){}",
                resp.status,
                suffix(&body)
            ),
            transport: false,
        },
        408 | 425 | 500..=599 => Disposition::Retry {
            after: None,
            reason: format!("HTTP {}{}", resp.status, suffix(&body)),
            transport: false,
        },
        400..=499 => Disposition::DeadLetter {
            reason: format!(
                "HTTP {}{}{}",
                resp.status,
                suffix(&body),
                match resp.status {
                    400 | 401 | 403 | 404 => " (check the integration key of this alert source)",
                    _ => "",
                }
            ),
        },
        _ => Disposition::Retry {
            after: None,
            reason: format!("unexpected HTTP {}", resp.status),
            transport: false,
        },
    }
}

/// Classifies a transport failure: always worth retrying.
pub fn classify_transport(e: &TransportError) -> Disposition {
    Disposition::Retry {
        after: None,
        reason: e.to_string(),
        transport: true,
    }
}

/// Our own backoff after `attempts` failures: 30 s doubling to 30 min.
pub fn backoff(attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(6);
    Duration::from_secs(30 * (1 << exp)).min(Duration::from_secs(1800))
}

fn suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// What a pass did for one incident.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Entries accepted.
    pub delivered: usize,
    /// Entries still queued.
    pub pending: usize,
    /// Entries moved to `dead/`.
    pub dead: usize,
    /// What was delivered, in order.
    pub done: Vec<Action>,
    /// Last failure reason, for the log line.
    pub last_error: Option<String>,
}

impl Outcome {
    /// Adds another outcome.
    pub fn add(&mut self, o: Outcome) {
        self.delivered += o.delivered;
        self.pending += o.pending;
        self.dead += o.dead;
        self.done.extend(o.done);
        if o.last_error.is_some() {
            self.last_error = o.last_error;
        }
    }
}

/// Delivers queued entries; one per run of the binary.
pub struct Deliverer<'a> {
    config: &'a Config,
    store: &'a Store,
    http: &'a Http,
    deadline: Deadline,
    honour_backoff: bool,
    clock: fn() -> Timestamp,
    breaker: HashMap<Lane, u32>,
    /// Lanes that delivered in this run: an outage is over there, so our own backoff no
    /// longer holds their other entries back.
    recovered: HashSet<Lane>,
    /// Last success per lane, written once when the run ends (a statistic, not an event).
    successes: HashMap<Lane, Timestamp>,
    /// Alert sources whose events budget is spent, until when: their other entries wait
    /// without being read back or rewritten.
    paced: HashMap<String, Timestamp>,
    /// Called when an incident's ALERT was delivered, before its later entries (the chat
    /// card): the incident key and the run's deadline.
    on_paged: Option<PagedHook<'a>>,
}

/// What the caller does once ilert has accepted an incident's ALERT (its lock is held).
type PagedHook<'a> = Box<dyn FnMut(&str, Deadline) + 'a>;

impl Drop for Deliverer<'_> {
    fn drop(&mut self) {
        for (lane, at) in &self.successes {
            self.store.mark_success(lane.name(), *at);
        }
    }
}

impl<'a> Deliverer<'a> {
    /// A deliverer. `honour_backoff` makes it skip entries in our own backoff (the scheduled
    /// plugin run); provider `Retry-After` holds are always honoured.
    pub fn new(
        config: &'a Config,
        store: &'a Store,
        http: &'a Http,
        deadline: Deadline,
        honour_backoff: bool,
    ) -> Self {
        Deliverer {
            config,
            store,
            http,
            deadline,
            honour_backoff,
            clock: Timestamp::now,
            breaker: HashMap::new(),
            recovered: HashSet::new(),
            successes: HashMap::new(),
            paced: HashMap::new(),
            on_paged: None,
        }
    }

    /// Runs `hook` each time an incident's ALERT is delivered, before the incident's later
    /// entries; what it does cannot change the delivery's outcome.
    pub fn on_paged(&mut self, hook: impl FnMut(&str, Deadline) + 'a) {
        self.on_paged = Some(Box::new(hook));
    }

    /// True once some lane delivered in this run (entries held by our own backoff are worth
    /// a try again).
    pub fn any_recovered(&self) -> bool {
        !self.recovered.is_empty()
    }

    /// True when every lane this config can use has failed often enough in this run: the
    /// rest of a pass would only wait for timeouts.
    pub fn all_lanes_broken(&self) -> bool {
        let mut lanes = vec![Lane::Ilert];
        lanes.extend(
            self.config
                .routes
                .iter()
                .filter_map(|r| r.chat.as_ref())
                .map(|c| Lane::Chat(c.backend)),
        );
        lanes.into_iter().all(|l| self.lane_broken(l))
    }

    /// True when a lane has failed often enough in this pass to stop trying it.
    pub fn lane_broken(&self, lane: Lane) -> bool {
        self.breaker.get(&lane).copied().unwrap_or(0) >= BREAKER_THRESHOLD
    }

    /// Delivers the pending entries of one incident, in order. The caller holds its lock.
    pub fn deliver_incident(&mut self, key: &str, limit: usize) -> Outcome {
        let record = self.store.load_record(key);
        self.deliver_loaded(key, limit, record)
    }

    /// `deliver_incident` from `record`, the incident's record as the caller (holding its
    /// lock) just read or committed it.
    pub fn deliver_loaded(&mut self, key: &str, limit: usize, record: Record) -> Outcome {
        let mut outcome = Outcome::default();
        let mut blocked: HashSet<Lane> = HashSet::new();
        // Failed and paced attempts, recorded once at the end (a kill before that only loses
        // an attempt count). A delivery is recorded at once instead: replaying one delivered
        // entry repeats the state ilert already has, replaying several could re-open an alert
        // that a later entry resolved.
        let mut updated: Vec<OutboxEntry> = Vec::new();
        // The record as last read or written in this pass (under the incident's lock); a
        // chat step may write it itself, so it is read again after one.
        let mut record = Some(record);
        let mut entries = record.as_ref().map(|r| r.queue.clone()).unwrap_or_default();
        sort_queue(&mut entries);
        for (n, mut entry) in entries.into_iter().enumerate() {
            let lane = entry.action.lane();
            let now = (self.clock)();
            let held = entry.not_before.is_some_and(|t| t > now)
                || (self.honour_backoff
                    && !self.recovered.contains(&lane)
                    && entry.backoff_until.is_some_and(|t| t > now))
                || matches!(&entry.action, Action::Ilert(e)
                    if self.paced.get(&e.source).is_some_and(|t| *t > now));
            if n >= limit
                || blocked.contains(&lane)
                || self.lane_broken(lane)
                || held
                || self.deadline.remaining() <= MARGIN * 2
            {
                blocked.insert(lane);
                outcome.pending += 1;
                continue;
            }
            let mut inline_waits = 0;
            if matches!(entry.action, Action::Chat(_)) {
                record = None;
            }
            let disposition = loop {
                let d = self.attempt(&entry);
                match &d {
                    Disposition::Retry {
                        after: Some(wait), ..
                    }
                    | Disposition::Paced { after: wait, .. }
                        if inline_waits == 0
                            && *wait <= MAX_INLINE_WAIT
                            && *wait + MARGIN * 4 < self.deadline.remaining() =>
                    {
                        // A short Retry-After fits in our deadline: wait and try once more now.
                        inline_waits += 1;
                        std::thread::sleep(*wait);
                    }
                    _ => break d,
                }
            };
            let now = (self.clock)();
            let label = entry.action.label();
            match disposition {
                Disposition::Delivered => {
                    let paged = pages(&entry);
                    if paged {
                        self.mark_paged(key, None, now, &mut record);
                    }
                    self.remove_from_queue(key, &entry.id, &mut record);
                    if let Some(hook) = self.on_paged.as_mut().filter(|_| paged) {
                        hook(key, self.deadline);
                        // The hook may write the record itself: read it again when needed.
                        record = None;
                    }
                    self.breaker.remove(&lane);
                    self.recovered.insert(lane);
                    self.successes.insert(lane, now);
                    self.log(
                        &entry,
                        now,
                        EventKind::Delivered,
                        format!("{label} delivered"),
                    );
                    log::debug!("incident {key}: {label} delivered");
                    outcome.delivered += 1;
                    outcome.done.push(entry.action);
                }
                Disposition::Retry {
                    after,
                    reason,
                    transport,
                } => {
                    entry.attempts += 1;
                    entry.last_attempt = Some(now);
                    entry.last_error = Some(reason.clone());
                    entry.not_before = after.map(|a| now.plus(a));
                    entry.backoff_until =
                        Some(now.plus(after.unwrap_or_default().max(backoff(entry.attempts))));
                    updated.push(entry.clone());
                    if transport {
                        *self.breaker.entry(lane).or_default() += 1;
                    }
                    log::warn!("incident {key}: {label} not delivered ({reason}); stays queued, attempt {}", entry.attempts);
                    self.log(
                        &entry,
                        now,
                        EventKind::Failed,
                        format!("{label} failed: {reason}; queued for retry"),
                    );
                    blocked.insert(lane);
                    outcome.pending += 1;
                    outcome.last_error = Some(reason);
                }
                Disposition::Paced { after, reason } => {
                    // Not a failure: no attempt counted, no error shown (`status` shows pacing).
                    entry.not_before = Some(now.plus(after));
                    updated.push(entry.clone());
                    log::debug!("incident {key}: {label} waits: {reason}");
                    blocked.insert(lane);
                    outcome.pending += 1;
                }
                Disposition::DeadLetter { reason } => {
                    match self.store.keep_dead_letter(&entry, &reason, now) {
                        Ok(()) => self.remove_from_queue(key, &entry.id, &mut record),
                        Err(e) => log::error!("{e}"),
                    }
                    if pages(&entry) {
                        self.mark_paged(key, Some(&reason), now, &mut record);
                    }
                    log::error!(
                        "incident {key}: {label} refused for good ({reason}); kept in dead/, \
                         fix the cause and run `pandora-ilert requeue`"
                    );
                    self.log(
                        &entry,
                        now,
                        EventKind::DeadLetter,
                        format!("{label} refused: {reason}"),
                    );
                    outcome.dead += 1;
                    outcome.last_error = Some(reason);
                }
            }
        }
        if !updated.is_empty() {
            let saved = self.store.update_record(key, Durability::Progress, |r| {
                for u in updated {
                    if let Some(e) = r.queue.iter_mut().find(|e| e.id == u.id) {
                        *e = u;
                    }
                }
            });
            if let Err(e) = saved {
                log::error!("incident {key}: {e}; the failed attempts are not counted");
            }
        }
        outcome
    }

    /// Records on the incident whether ilert has its alert (`reason`: refused for good), and
    /// queues a chat update when that changes, so the channel says `NOT PAGED` until an ALERT
    /// is delivered.
    fn mark_paged(
        &self,
        key: &str,
        refused: Option<&str>,
        now: Timestamp,
        record: &mut Option<Record>,
    ) {
        let before = record.take().unwrap_or_else(|| self.store.load_record(key));
        // The common case (delivered, nothing to clear) costs no write.
        if refused.is_none()
            && before
                .incident
                .as_ref()
                .is_none_or(|i| not_paged(i).is_none())
        {
            *record = Some(before);
            return;
        }
        let changed = self
            .store
            .update_loaded(key, &before, Durability::Progress, |r| {
                let Some(inc) = r.incident.as_mut() else {
                    return;
                };
                let Some(backend) = self
                    .config
                    .route(&inc.route)
                    .and_then(|rt| rt.chat.as_ref())
                    .map(|c| c.backend)
                else {
                    return;
                };
                // Delivered and nothing to clear: leave the record alone. A storm incident has no
                // channel (nor chat state) of its own to show it in.
                if inc.storm || (refused.is_none() && not_paged(inc).is_none()) {
                    return;
                }
                let st = inc.chat.get_or_insert_with(|| crate::incident::ChatState {
                    backend: Some(backend),
                    ..Default::default()
                });
                let before = st.extra.get(crate::chat::message::NOT_PAGED).cloned();
                match refused {
                    Some(reason) => st.extra.insert(
                        crate::chat::message::NOT_PAGED.into(),
                        one_line(reason, 200),
                    ),
                    None => st.extra.remove(crate::chat::message::NOT_PAGED),
                };
                let after = st.extra.get(crate::chat::message::NOT_PAGED).cloned();
                let has_channel = st.channel_id.is_some();
                let chat_queued = r.queue.iter().any(|e| matches!(&e.action, Action::Chat(_)));
                if before != after && has_channel && !chat_queued {
                    inc.outbox_seq += 1;
                    r.queue.push(OutboxEntry::new(
                        format!("{}-paged", Store::new_id(now)),
                        &inc.key,
                        inc.seq,
                        inc.outbox_seq,
                        now,
                        crate::lifecycle::chat_action(
                            backend,
                            crate::lifecycle::ChatChange::Refire,
                        ),
                    ));
                }
            });
        match changed {
            Ok(r) => *record = Some(r),
            Err(e) => {
                log::error!("incident {key}: {e}; the channel may not show whether ilert paged");
            }
        }
    }

    /// Takes a delivered or dead-lettered entry out of the incident's queue.
    fn remove_from_queue(&self, key: &str, id: &str, record: &mut Option<Record>) {
        let before = record.take().unwrap_or_else(|| self.store.load_record(key));
        match self
            .store
            .remove_delivered(key, before, id, Durability::Progress)
        {
            Ok(r) => *record = Some(r),
            Err(e) => log::error!("incident {key}: {e}; the entry will be sent once more"),
        }
    }

    fn attempt(&mut self, entry: &OutboxEntry) -> Disposition {
        let now = (self.clock)();
        match &entry.action {
            Action::Ilert(event) => {
                let Some(source) = self.config.source(&event.source) else {
                    return Disposition::DeadLetter {
                        reason: format!(
                            "alert source '{}' is no longer in the config",
                            event.source
                        ),
                    };
                };
                if let Some(hold) = self.ilert_pace(source, now) {
                    if let Disposition::Paced { after, .. } = &hold {
                        self.paced.insert(source.name.clone(), now.plus(*after));
                    }
                    return hold;
                }
                let Some(timeout) = self.deadline.request_timeout(self.config.request_timeout)
                else {
                    return Disposition::Retry {
                        after: None,
                        reason: "run deadline reached; the rest waits for the next run".into(),
                        transport: false,
                    };
                };
                match ilert::send(self.http, self.config, source, event, timeout) {
                    Ok(resp) => {
                        self.ilert_answer(source, resp.status, classify_http(&resp, now), now)
                    }
                    Err(e) => classify_transport(&e),
                }
            }
            Action::Chat(update) => {
                let ctx = chat::Context {
                    config: self.config,
                    store: self.store,
                    http: self.http,
                    deadline: self.deadline,
                    now,
                };
                chat_delivery::deliver(&ctx, &entry.key, entry.seq, update)
            }
        }
    }

    fn log(&self, entry: &OutboxEntry, now: Timestamp, kind: EventKind, text: String) {
        // ilert taking an event is a step the drill times.
        let step = match (&kind, &entry.action) {
            (EventKind::Delivered, Action::Ilert(event)) => Some(Step::ilert(event.event_type)),
            _ => None,
        };
        let line = EventLogLine {
            at: now,
            step,
            ..EventLogLine::ours(entry.seq, kind, text)
        };
        self.store.log_event(&entry.key, &line);
    }
}

// ----- ilert pacing (rate limits, reference ilert.md §1; logic in `pacing`) ----------------

impl Deliverer<'_> {
    /// Takes a slot of the key's events budget, or holds the entry until the next one opens
    /// (it stays queued with `not_before`, no failure counted; a short wait is taken inline).
    fn ilert_pace(&self, source: &AlertSource, now: Timestamp) -> Option<Disposition> {
        let budget = Budget {
            limit: self.config.events_per_window,
            window: self.config.events_window,
        };
        if budget.limit == 0 {
            return None;
        }
        let name = pace_name("ilert", source.key.expose());
        let next = self
            .store
            .take_slot(&name, &source.name, budget, now, self.honour_backoff)?;
        Some(Disposition::Paced {
            after: next.since(now),
            reason: format!(
                "paced: alert source '{}' has sent its {} events per {} (next slot {})",
                source.name,
                budget.limit,
                human_duration(budget.window),
                next.rfc3339()
            ),
        })
    }

    /// After ilert's 429 the key is held for every scheduled run: 10-30 s jittered when no
    /// `Retry-After` came (ilert suggests that), else the provider's wait, at most one minute
    /// (one of ilert's windows; a bogus huge value must not stall paging on the key). The
    /// entry itself is classified as before (its own `Retry-After`, or our backoff).
    fn ilert_answer(
        &self,
        source: &AlertSource,
        status: u16,
        disposition: Disposition,
        now: Timestamp,
    ) -> Disposition {
        let Disposition::Retry { after, .. } = &disposition else {
            return disposition;
        };
        if status != 429 {
            return disposition;
        }
        let seed = (now.millis() as u64) ^ (u64::from(std::process::id()) << 32);
        let hold = after
            .unwrap_or_else(|| rate_limit_backoff(seed))
            .min(Duration::from_secs(60));
        let name = pace_name("ilert", source.key.expose());
        if let Err(e) = self
            .store
            .update_pace_log(&name, |log| log.block_until(now.plus(hold)))
        {
            log::warn!(
                "pacing: cannot record ilert's 429 for '{}': {e:?}",
                source.name
            );
        }
        disposition
    }
}

use crate::chat::message::not_paged;

/// True for the entries that page someone in ilert (an ALERT event).
fn pages(entry: &OutboxEntry) -> bool {
    matches!(&entry.action, Action::Ilert(e) if e.event_type == crate::ilert::IlertEventType::Alert)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, retry_after: Option<&str>) -> Response {
        Response {
            retry_after: retry_after.map(str::to_string),
            ..Response::new(status, "{\"message\":\"x\"}")
        }
    }

    #[test]
    fn classification_table() {
        let now = Timestamp::from_millis(0);
        assert_eq!(classify_http(&resp(202, None), now), Disposition::Delivered);
        assert!(matches!(
            classify_http(&resp(429, Some("7")), now),
            Disposition::Retry { after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        assert!(matches!(
            classify_http(&resp(503, None), now),
            Disposition::Retry { after: None, .. }
        ));
        assert!(matches!(
            classify_http(&resp(500, None), now),
            Disposition::Retry { .. }
        ));
        assert!(matches!(
            classify_http(&resp(400, None), now),
            Disposition::DeadLetter { .. }
        ));
        assert!(matches!(
            classify_http(&resp(404, None), now),
            Disposition::DeadLetter { .. }
        ));
        assert!(matches!(
            classify_transport(&TransportError::Timeout),
            Disposition::Retry {
                transport: true,
                ..
            }
        ));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(30));
        assert_eq!(backoff(2), Duration::from_secs(60));
        assert_eq!(backoff(50), Duration::from_secs(1800));
    }

    #[test]
    fn every_redirect_is_a_dead_letter_naming_location_and_setting() {
        for status in [301, 302, 303, 307, 308] {
            let r = Response {
                location: Some("https://elsewhere.example/api/events".into()),
                ..Response::new(status, "")
            };
            match classify_http(&r, Timestamp::from_millis(0)) {
                Disposition::DeadLetter { reason } => {
                    assert!(
                        reason.contains("https://elsewhere.example/api/events"),
                        "{reason}"
                    );
                    assert!(reason.contains("[ilert] api_url"), "{reason}");
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_latin1_proxy_page_is_classified_by_its_status() {
        let page = |status| {
            Response::from_wire(
                status,
                None,
                None,
                b"<h1>Acc\xe8s refus\xe9</h1>",
                &crate::redact::Scrubber::default(),
            )
        };
        let now = Timestamp::from_millis(0);
        assert_eq!(classify_http(&page(202), now), Disposition::Delivered);
        assert!(matches!(
            classify_http(&page(403), now),
            Disposition::DeadLetter { reason } if reason.contains("Acc\u{fffd}s")
        ));
    }

    proptest::proptest! {
        #![proptest_config(crate::http::arbitrary::config(2000))]

        /// Any answer: no panic; only a 2xx is a delivery; a 3xx is never one.
        #[test]
        fn any_answer_to_an_ilert_post_is_delivered_only_on_2xx(r in crate::http::arbitrary::answer()) {
            let d = classify_http(&r, Timestamp::from_millis(1_700_000_000_000));
            proptest::prop_assert_eq!(d == Disposition::Delivered, (200..=299).contains(&r.status));
            if (300..=399).contains(&r.status) {
                proptest::prop_assert!(matches!(d, Disposition::DeadLetter { .. }), "{:?}", d);
            }
            if let Disposition::Retry { after: Some(a), .. } = d {
                proptest::prop_assert!(a <= crate::http::MAX_RETRY_AFTER);
            }
        }
    }
}
