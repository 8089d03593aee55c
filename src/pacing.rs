//! Client-side pacing toward ilert's rate limits, and the order a backlog goes out in. Pure:
//! the clock and the jitter seed are parameters; the store keeps the send log (`store::pacing`).
//!
//! ilert allows 50 requests a minute per alert-source integration key and 5 pings a minute per
//! heartbeat key, then answers 429 "until a new window starts", suggesting a 10-30 s backoff
//! (reference ilert.md §1 "rate limits", §3; ilert-docs `rest-api/alertsource-throttle.md`).
//! We keep a sliding log of our own sends: at most `limit` in *any* `window`, which also keeps
//! us under every fixed window ilert may count in, whatever its alignment.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ilert::IlertEventType;
use crate::lifecycle::Action;
use crate::time::Timestamp;

/// ilert's documented limit per heartbeat key.
pub const HEARTBEAT_PINGS_PER_MINUTE: u32 = 5;

/// At most `limit` sends in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Sends allowed per window.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl Budget {
    /// ilert's heartbeat budget (5 a minute).
    pub const HEARTBEAT: Budget = Budget {
        limit: HEARTBEAT_PINGS_PER_MINUTE,
        window: Duration::from_secs(60),
    };

    /// The alert command's REST lookups of the new ilert alert, shared by concurrent
    /// processes: half of ilert's 120 requests a minute per user API key (ilert-docs
    /// `rest-api/alertsource-throttle.md`), the rest left to the plugin and watch passes and
    /// `doctor`. A storm past it is found by the next pass.
    pub const REST_LOOKUPS: Budget = Budget {
        limit: 60,
        window: Duration::from_secs(60),
    };
}

/// The pacing-log kind of the REST lookups (`store::pacing::pace_name`, keyed by the token).
pub const REST_LOOKUPS_PACE: &str = "ilert-rest";

/// The sends of one key within the last window, kept in the store between processes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaceLog {
    /// Who this budget is for (an alert-source name, never the key), for `status`.
    #[serde(default)]
    pub label: String,
    /// Our sends, oldest first (only those inside the window are kept).
    #[serde(default)]
    pub sent: Vec<Timestamp>,
    /// ilert answered 429: send nothing on this key before then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_until: Option<Timestamp>,
}

/// The answer to "may I send now?".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Send; the send is recorded.
    Go,
    /// The budget is spent: the next slot opens then.
    WaitUntil(Timestamp),
}

impl PaceLog {
    fn prune(&mut self, budget: Budget, now: Timestamp) {
        self.sent.retain(|t| t.plus(budget.window) > now);
        if self.blocked_until.is_some_and(|b| b <= now) {
            self.blocked_until = None;
        }
    }

    /// Takes a slot if one is free and records the send; otherwise says when one frees.
    /// `honour_hold`: also wait out a hold after ilert's 429 (the scheduled runs do; an
    /// operator's `flush` and a live alert only keep to the budget).
    pub fn take(&mut self, budget: Budget, now: Timestamp, honour_hold: bool) -> Grant {
        self.prune(budget, now);
        if let Some(until) = self.blocked_until.filter(|_| honour_hold) {
            return Grant::WaitUntil(until);
        }
        let limit = budget.limit.max(1) as usize;
        if self.sent.len() >= limit {
            // The slot of the oldest send within the window frees when it leaves the window.
            let oldest = self.sent[self.sent.len() - limit];
            return Grant::WaitUntil(oldest.plus(budget.window));
        }
        self.sent.push(now);
        Grant::Go
    }

    /// ilert refused with 429: hold every send on this key until `until`.
    pub fn block_until(&mut self, until: Timestamp) {
        if self.blocked_until.is_none_or(|b| b < until) {
            self.blocked_until = Some(until);
        }
    }

    /// What `status` shows: sends in the current window and when the next slot opens.
    pub fn view(&self, budget: Budget, now: Timestamp) -> PaceView {
        let mut log = self.clone();
        log.prune(budget, now);
        let used = log.sent.len() as u32;
        let next_slot = match log.blocked_until {
            Some(b) => Some(b),
            None if used >= budget.limit => {
                Some(log.sent[log.sent.len() - budget.limit as usize].plus(budget.window))
            }
            None => None,
        };
        PaceView {
            used,
            limit: budget.limit,
            window_secs: budget.window.as_secs(),
            next_slot,
            rate_limited: log.blocked_until.is_some(),
        }
    }
}

/// The pacing state of one key as `status` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PaceView {
    /// Sends inside the current window.
    pub used: u32,
    /// Sends allowed per window.
    pub limit: u32,
    /// The window in seconds.
    pub window_secs: u64,
    /// When the next send may go, if the budget is spent now.
    pub next_slot: Option<Timestamp>,
    /// True while holding back after ilert's own 429.
    pub rate_limited: bool,
}

/// The backoff after a 429 without `Retry-After`: 10-30 s, spread by `seed` so that several
/// processes do not come back at the same instant (ilert suggests 10-30 s).
pub fn rate_limit_backoff(seed: u64) -> Duration {
    // splitmix64 finaliser: nearby seeds (pid, millis) land far apart.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    Duration::from_millis(10_000 + z % 20_001)
}

/// True when an incident's queue should go before others in a backlog: the first queued ilert
/// event is a RESOLVE (its ALERT went out already, so someone was paged) or a HIGH-priority
/// ALERT. Chat entries do not count; they are not paced.
pub fn head_is_urgent<'a>(actions: impl IntoIterator<Item = &'a Action>) -> bool {
    let head = actions.into_iter().find_map(|a| match a {
        Action::Ilert(event) => Some(event),
        Action::Chat(_) => None,
    });
    match head {
        Some(e) => match e.event_type {
            IlertEventType::Resolve => true,
            IlertEventType::Alert => e.is_high_priority(),
            IlertEventType::Accept | IlertEventType::Comment => false,
        },
        None => false,
    }
}

/// Orders a backlog of incidents: urgent ones first, each group keeping its given order (the
/// caller passes the longest waiting first). Each incident's own entries stay in order: this
/// only orders incidents.
pub fn urgent_first<T>(items: Vec<T>, mut urgent: impl FnMut(&T) -> bool) -> Vec<T> {
    let (mut first, rest): (Vec<T>, Vec<T>) = items.into_iter().partition(|x| urgent(x));
    first.extend(rest);
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    const B: Budget = Budget {
        limit: 3,
        window: Duration::from_secs(60),
    };

    #[test]
    fn budget_allows_limit_sends_then_says_when_the_oldest_leaves_the_window() {
        let mut log = PaceLog::default();
        assert_eq!(log.take(B, at(0), true), Grant::Go);
        assert_eq!(log.take(B, at(10), true), Grant::Go);
        assert_eq!(log.take(B, at(20), true), Grant::Go);
        assert_eq!(log.take(B, at(30), true), Grant::WaitUntil(at(60)));
        assert_eq!(log.take(B, at(59), true), Grant::WaitUntil(at(60)));
        assert_eq!(log.take(B, at(60), true), Grant::Go);
        assert_eq!(log.take(B, at(61), true), Grant::WaitUntil(at(70)));
        assert_eq!(log.sent, vec![at(10), at(20), at(60)]);
    }

    #[test]
    fn no_sixty_second_window_ever_holds_more_than_the_limit() {
        let mut log = PaceLog::default();
        let mut sent = Vec::new();
        for s in 0..600 {
            if log.take(Budget::HEARTBEAT, at(s), true) == Grant::Go {
                sent.push(s);
            }
        }
        for (i, s) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|t| **t < s + 60).count();
            assert!(
                in_window <= 5,
                "{in_window} pings within a minute from {s}s"
            );
        }
        assert_eq!(sent.len(), 50, "5 a minute for 10 minutes");
    }

    #[test]
    fn a_429_holds_the_key_until_the_backoff_ends() {
        let mut log = PaceLog::default();
        log.block_until(at(25));
        assert_eq!(log.take(B, at(1), true), Grant::WaitUntil(at(25)));
        assert_eq!(
            log.take(B, at(1), false),
            Grant::Go,
            "flush keeps to the budget only"
        );
        log.block_until(at(10));
        assert_eq!(
            log.blocked_until,
            Some(at(25)),
            "a shorter hold never shortens"
        );
        assert_eq!(log.take(B, at(25), true), Grant::Go);
        assert_eq!(log.blocked_until, None);
    }

    #[test]
    fn view_shows_use_and_next_slot() {
        let mut log = PaceLog::default();
        for s in 0..3 {
            log.take(B, at(s), true);
        }
        let v = log.view(B, at(5));
        assert_eq!((v.used, v.limit, v.next_slot), (3, 3, Some(at(60))));
        let v = log.view(B, at(60));
        assert_eq!((v.used, v.next_slot), (2, None));
    }

    #[test]
    fn rate_limit_backoff_stays_within_ten_to_thirty_seconds_and_spreads() {
        let waits: Vec<Duration> = (0..1000).map(rate_limit_backoff).collect();
        assert!(waits
            .iter()
            .all(|w| *w >= Duration::from_secs(10) && *w <= Duration::from_secs(30)));
        let early = waits
            .iter()
            .filter(|w| **w < Duration::from_secs(20))
            .count();
        assert!((300..700).contains(&early), "{early} of 1000 below 20 s");
    }

    fn event(event_type: IlertEventType, priority: &str) -> Action {
        Action::Ilert(crate::ilert::IlertEvent {
            source: "default".into(),
            api: crate::config::IlertApi::Events,
            event_type,
            alert_key: "1".into(),
            body: serde_json::json!({ "priority": priority }),
        })
    }

    #[test]
    fn an_incident_is_urgent_by_its_first_queued_ilert_event() {
        let high = event(IlertEventType::Alert, "HIGH");
        let low = event(IlertEventType::Alert, "LOW");
        let resolve = event(IlertEventType::Resolve, "");
        assert!(head_is_urgent([&high, &resolve]));
        assert!(
            head_is_urgent([&resolve]),
            "its ALERT went out: someone was paged"
        );
        assert!(
            !head_is_urgent([&low, &resolve]),
            "the RESOLVE waits behind its ALERT"
        );
        assert!(!head_is_urgent([&event(IlertEventType::Comment, "")]));
        assert!(!head_is_urgent([]));
    }

    #[test]
    fn urgent_incidents_go_first_and_each_group_keeps_its_order() {
        let items = vec![(1, false), (2, true), (3, false), (4, true), (5, false)];
        let ordered: Vec<i32> = urgent_first(items, |x| x.1)
            .into_iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(ordered, vec![2, 4, 1, 3, 5]);
    }
}
