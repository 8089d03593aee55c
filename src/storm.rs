//! Storm control: when a route opens more incident channels in a minute than it allows (and
//! than the chat platform's creation limit), new incidents stop getting a channel each and are
//! summarised in one storm channel per route instead, grouped by agent group. ilert events are
//! never held back. The storm ends after a quiet period, and the storm channel says so.
//!
//! The state is one small file per route under `meta/`, changed under a route lock; the
//! decisions here are pure.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::ChatPlatform;
use crate::incident::ChatState;
use crate::time::Timestamp;

/// Subjects listed per group in the summary; the rest are counted.
pub const RECENT_PER_GROUP: usize = 8;
/// The window over which channel openings are counted.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Incidents of one agent group during a storm.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Still firing.
    pub open: u32,
    /// Recovered since.
    pub resolved: u32,
    /// Latest subjects (`agent / module`), newest last.
    pub recent: Vec<String>,
}

/// The storm state of one route.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StormState {
    /// Route name.
    pub route: String,
    /// Channel openings inside the last minute.
    pub opens: Vec<Timestamp>,
    /// When the current storm began; `None` when calm.
    pub active_since: Option<Timestamp>,
    /// The last incident that overflowed into the storm channel.
    pub last_overflow: Option<Timestamp>,
    /// When the last storm ended.
    pub ended_at: Option<Timestamp>,
    /// Start of the storm that `ended_at` ended.
    pub ended_storm: Option<Timestamp>,
    /// Incidents per agent group in the current (or last) storm.
    pub groups: BTreeMap<String, Tally>,
    /// Incidents summarised in the current (or last) storm.
    pub total: u32,
    /// Bumped on every change; the channel is re-rendered when it differs from `rendered`.
    pub version: u64,
    /// The storm channel (channel id, summary message id, topic).
    pub chat: ChatState,
    /// Version the summary message shows.
    pub rendered: u64,
    /// Storm (by start time) whose summary message is `chat.message_id`.
    pub summary_for: Option<Timestamp>,
    /// Storm (by start time) whose end was announced.
    pub end_announced_for: Option<Timestamp>,
    /// Storm (by start time) after which no summarised incident was left waiting for its own
    /// channel: later passes need not look.
    #[serde(default)]
    pub opened_after: Option<Timestamp>,
}

/// Where a new incident's chat goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Its own channel.
    OwnChannel,
    /// The route's storm channel.
    Storm,
}

impl StormState {
    /// A calm state for a route.
    pub fn new(route: &str) -> Self {
        StormState {
            route: route.to_string(),
            ..Default::default()
        }
    }

    /// True during a storm.
    pub fn is_active(&self) -> bool {
        self.active_since.is_some()
    }

    /// Decides for a new incident: its own channel while under `limit` openings a minute,
    /// else the storm channel (and, once a storm started, until it ends). `limit` 0 disables.
    pub fn admit(&mut self, limit: u32, group: &str, subject: &str, now: Timestamp) -> Admission {
        // Parallel alerts take the route lock in any order, so an open stamped later than
        // `now` is kept (it counts against the budget like any other).
        self.opens.retain(|t| now.since(*t) < WINDOW);
        if limit == 0 || (!self.is_active() && (self.opens.len() as u32) < limit) {
            self.opens.push(now);
            return Admission::OwnChannel;
        }
        if !self.is_active() {
            self.active_since = Some(now);
            self.groups.clear();
            self.total = 0;
        }
        self.last_overflow = Some(now);
        let group = if group.is_empty() {
            "(no group)"
        } else {
            group
        };
        let tally = self.groups.entry(group.to_string()).or_default();
        tally.open += 1;
        tally.recent.push(subject.to_string());
        if tally.recent.len() > RECENT_PER_GROUP {
            tally.recent.remove(0);
        }
        self.total += 1;
        self.version += 1;
        Admission::Storm
    }

    /// Records the recovery of an incident that was summarised here.
    pub fn resolve(&mut self, group: &str) {
        let group = if group.is_empty() {
            "(no group)"
        } else {
            group
        };
        if let Some(t) = self.groups.get_mut(group) {
            if t.open > 0 {
                t.open -= 1;
                t.resolved += 1;
                self.version += 1;
            }
        }
    }

    /// Whether an incident summarised in a storm may get its own channel now: only once the
    /// storm is over, and within the route's budget of openings a minute (`limit`; 0: no
    /// budget), so the channels of a big storm's open incidents are opened at the pace the
    /// platform allows. Records the opening when it says yes.
    pub fn admit_after_storm(&mut self, limit: u32, now: Timestamp) -> bool {
        if self.is_active() {
            return false;
        }
        self.opens.retain(|t| now.since(*t) < WINDOW);
        if limit != 0 && self.opens.len() as u32 >= limit {
            return false;
        }
        self.opens.push(now);
        true
    }

    /// True when incidents a storm summarised may still wait for their own channel: the last
    /// storm is over and nobody found the waiting list empty since.
    pub fn may_have_waiting(&self) -> bool {
        !self.is_active() && self.ended_storm.is_some() && self.opened_after != self.ended_storm
    }

    /// True when an active storm has been quiet for `quiet`.
    pub fn should_end(&self, quiet: Duration, now: Timestamp) -> bool {
        self.is_active() && self.last_overflow.is_none_or(|t| now.since(t) >= quiet)
    }

    /// Ends the storm; the summary stays for the end message.
    pub fn end(&mut self, now: Timestamp) {
        if let Some(start) = self.active_since.take() {
            self.ended_at = Some(now);
            self.ended_storm = Some(start);
            self.opens.clear();
            self.version += 1;
        }
    }
}

/// The storm channel's name for a route.
pub fn channel_name(route: &str) -> String {
    format!("pandorafms_storm_{route}")
}

/// The platform's channel-creation budget per minute, so storm control engages before the
/// platform starts refusing (Slack tier 2: about 20 a minute).
pub fn creation_limit(platform: ChatPlatform) -> u32 {
    match platform {
        ChatPlatform::Slack => 20,
        ChatPlatform::Teams => 10,
        ChatPlatform::Matrix => 30,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn after_a_storm_summarised_incidents_get_channels_within_the_budget() {
        let t0 = Timestamp::from_millis(10_000_000);
        let mut st = StormState::new("r");
        for n in 0..5 {
            st.admit(2, "g", &format!("s{n}"), t0);
        }
        assert!(st.is_active());
        assert!(!st.admit_after_storm(2, t0), "not while the storm lasts");
        st.end(t0.plus(Duration::from_secs(300)));
        let later = t0.plus(Duration::from_secs(400));
        assert!(st.admit_after_storm(2, later));
        assert!(st.admit_after_storm(2, later));
        assert!(
            !st.admit_after_storm(2, later),
            "the budget of the minute is used"
        );
        assert!(st.admit_after_storm(2, later.plus(WINDOW)));
        assert!(st.admit_after_storm(0, later), "0: no budget");
        assert!(st.may_have_waiting());
        st.opened_after = st.ended_storm;
        assert!(!st.may_have_waiting(), "nothing left after this storm");
    }

    use super::*;

    fn at(s: u64) -> Timestamp {
        Timestamp::from_millis(0).plus(Duration::from_secs(s))
    }

    #[test]
    fn overflow_starts_a_storm_and_quiet_ends_it() {
        let mut s = StormState::new("default");
        for i in 0..3 {
            assert_eq!(
                s.admit(3, "Servers", &format!("web-{i}"), at(i)),
                Admission::OwnChannel
            );
        }
        assert_eq!(
            s.admit(3, "Databases", "db-1 / Latency", at(4)),
            Admission::Storm
        );
        assert!(s.is_active());
        // Even after the window, the storm holds until it has been quiet.
        assert_eq!(
            s.admit(3, "Databases", "db-2 / Latency", at(100)),
            Admission::Storm
        );
        assert_eq!(s.groups["Databases"].open, 2);
        assert!(!s.should_end(Duration::from_secs(300), at(200)));
        assert!(s.should_end(Duration::from_secs(300), at(401)));
        s.end(at(401));
        assert!(!s.is_active());
        assert_eq!(
            s.admit(3, "Servers", "web-9", at(402)),
            Admission::OwnChannel
        );
    }

    #[test]
    fn openings_older_than_a_minute_do_not_count() {
        let mut s = StormState::new("r");
        assert_eq!(s.admit(2, "g", "a", at(0)), Admission::OwnChannel);
        assert_eq!(s.admit(2, "g", "b", at(10)), Admission::OwnChannel);
        assert_eq!(s.admit(2, "g", "c", at(61)), Admission::OwnChannel);
        assert_eq!(s.admit(2, "g", "d", at(62)), Admission::Storm);
    }

    #[test]
    fn zero_limit_disables_storm_control() {
        let mut s = StormState::new("r");
        for i in 0..100 {
            assert_eq!(s.admit(0, "g", "x", at(i)), Admission::OwnChannel);
        }
    }

    #[test]
    fn resolve_moves_counts_and_bumps_version() {
        let mut s = StormState::new("r");
        s.admit(1, "g", "a", at(0));
        s.admit(1, "g", "b", at(1));
        let v = s.version;
        s.resolve("g");
        assert_eq!((s.groups["g"].open, s.groups["g"].resolved), (0, 1));
        assert!(s.version > v);
    }
}
