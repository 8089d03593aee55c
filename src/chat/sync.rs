//! `sync`: brings an incident's channel in line with its record one idempotent step at a time.
//!
//! Every successful call is written to the incident record before the next one, so a retry
//! after a failure (or a crash) continues where it stopped: never a second channel, never a
//! second pinned message.

use super::{
    message, Capabilities, ChannelRef, ChannelSpec, ChatBackend, ChatError, ChatMessage,
    PostedAlert,
};
use crate::config::ChatRoute;
use crate::incident::{ChatState, Incident};
use crate::lifecycle::ChatChange;
use crate::store::Step;
use crate::time::Timestamp;

/// Saves the record after a step, with the step and a line for the event log.
type Save<'s> = dyn FnMut(&Incident, Step, String) + 's;

/// The chat state's `extra` entry with the special state (`NOT PAGED`, `ACKNOWLEDGED by X`)
/// the pinned message shows.
const RENDERED_STATE: &str = "rendered_state";

/// The chat state's `extra` entry set once pending invitations were withdrawn at archiving.
const INVITES_WITHDRAWN: &str = "invites_withdrawn";

/// The chat state's `extra` entry set while the channel has been told nobody was paged.
const NOT_PAGED_TOLD: &str = "not_paged_told";

/// The reconciliation: each step checks the record, calls the platform if needed, and saves.
pub fn sync(
    b: &mut dyn ChatBackend,
    inc: &mut Incident,
    route: &ChatRoute,
    change: ChatChange,
    now: Timestamp,
    save: &mut Save<'_>,
) -> Result<(), ChatError> {
    let caps = b.capabilities();
    let mut st = inc.chat.clone().unwrap_or_else(|| ChatState {
        backend: Some(route.backend),
        ..Default::default()
    });

    if change == ChatChange::Archive {
        let Some(id) = st.channel_id.clone() else {
            return Ok(());
        };
        if st.archived_at.is_some() || !caps.archive {
            return Ok(());
        }
        let ch = ChannelRef {
            id,
            name: st.channel_name.clone().unwrap_or_default(),
            url: st.channel_url.clone(),
        };
        let closing_posted = st.extra.contains_key("closing_posted");
        if !closing_posted {
            let closing = message::closing_line(inc, now).on(inc.next_post(&st, "closing"));
            b.follow_up(&ch, st.message_id.as_deref(), &closing)?;
            st.count_post();
            st.extra.insert("closing_posted".into(), now.rfc3339());
            commit(
                inc,
                &st,
                save,
                Step::ClosingPosted,
                "posted closing line".into(),
            );
        }
        let topic = message::archived_topic(inc);
        show_topic(b, &ch, inc, &mut st, caps, save, topic)?;
        if !st.invited.is_empty() && !st.extra.contains_key(INVITES_WITHDRAWN) {
            b.withdraw_invites(&ch, &st.invited)?;
            st.extra.insert(INVITES_WITHDRAWN.into(), now.rfc3339());
            commit(
                inc,
                &st,
                save,
                Step::InvitesWithdrawn,
                "withdrew the invitations nobody accepted".into(),
            );
        }
        b.archive(&ch)?;
        st.archived_at = Some(now);
        commit(
            inc,
            &st,
            save,
            Step::Archived,
            format!("archived #{}", ch.name),
        );
        return Ok(());
    }

    // 1. The channel.
    let ch = match st.channel_id.clone() {
        Some(id) => ChannelRef {
            id,
            name: st.channel_name.clone().unwrap_or_default(),
            url: st.channel_url.clone(),
        },
        None => {
            let spec = ChannelSpec {
                name: b.sanitize_name(&message::channel_name(inc, route)),
                private: inc.private,
                topic: message::topic(inc),
                description: format!("Pandora FMS incident {} ({})", inc.key, inc.first.subject()),
            };
            let ch = b.open_channel(&spec)?;
            // A channel another Pandora server created may hold its alert card already. Looked
            // for before the channel is saved: if the look fails, the retry opens (adopts)
            // the channel again and looks again, instead of posting a second card.
            let posted = if caps.update {
                b.posted_alert(&ch, &inc.key)?
            } else {
                None
            };
            st.channel_id = Some(ch.id.clone());
            st.channel_name = Some(ch.name.clone());
            st.channel_url = ch.url.clone();
            let kind = if spec.private { "private" } else { "public" };
            let note = if caps.create {
                format!("opened {kind} channel #{}", ch.name)
            } else {
                // A post-only backend (Teams webhook) writes into one configured channel.
                format!("using the configured channel ({})", ch.name)
            };
            commit(inc, &st, save, Step::ChannelOpened, note);
            if let Some(found) = posted {
                adopt_alert_message(inc, &mut st, found, save);
            }
            ch
        }
    };

    // 2. Responders.
    if caps.invite {
        let missing: Vec<String> = route
            .invite
            .iter()
            .filter(|u| !st.invited.contains(u))
            .cloned()
            .collect();
        if !missing.is_empty() {
            b.invite(&ch, &missing)?;
            b.empower(&ch, &missing)?;
            st.invited.extend(missing.iter().cloned());
            commit(
                inc,
                &st,
                save,
                Step::Invited,
                format!("invited {}", missing.join(", ")),
            );
        }
    }

    // 3. The alert message, 4. pinned.
    let alert = message::alert_message(inc, route.console_url.as_deref());
    let message_id = match st.message_id.clone() {
        Some(id) => id,
        None => {
            let id = b.post(&ch, &alert.clone().on(inc.next_post(&st, "alert")))?;
            st.count_post();
            st.message_id = Some(id.clone());
            st.rendered_fires = inc.times_fired;
            st.rendered_resolved = !inc.is_open();
            commit(
                inc,
                &st,
                save,
                Step::AlertPosted,
                format!("posted alert message: {}", alert.title),
            );
            id
        }
    };
    let mut message_id = message_id;
    if caps.pin && !st.pinned {
        match b.pin(&ch, &message_id) {
            Err(ChatError::MessageGone(why)) => {
                message_id = repost(b, &ch, inc, &mut st, &alert, caps, save, &why)?;
            }
            r => {
                r?;
                st.pinned = true;
                commit(
                    inc,
                    &st,
                    save,
                    Step::Pinned,
                    "pinned the alert message".into(),
                );
            }
        }
    }

    // 5. Topic shows the state.
    let topic = message::topic(inc);
    show_topic(b, &ch, inc, &mut st, caps, save, topic)?;

    // 6. The pinned message follows re-fires and recovery, in place.
    let special = message::special_state(inc);
    if caps.update
        && (st.rendered_fires != inc.times_fired
            || st.rendered_resolved == inc.is_open()
            || st.extra.get(RENDERED_STATE) != special.as_ref())
    {
        // The event log says what happened: an edit, or why the message stays as posted.
        let outcome = match b.uneditable(&message_id) {
            Some(why) => Ok(format!("alert message not edited ({why})")),
            None => match b.update(
                &ch,
                &message_id,
                &alert.clone().on(inc.next_post(&st, "edit")),
            ) {
                // Someone deleted the pinned message: post it anew (it shows the current state).
                Err(ChatError::MessageGone(why)) => Err(why),
                r => {
                    r?;
                    Ok("updated alert message".to_string())
                }
            },
        };
        match outcome {
            Err(why) => {
                repost(b, &ch, inc, &mut st, &alert, caps, save, &why)?;
            }
            Ok(what) => {
                st.count_post();
                st.rendered_fires = inc.times_fired;
                st.rendered_resolved = !inc.is_open();
                match &special {
                    Some(word) => st.extra.insert(RENDERED_STATE.into(), word.clone()),
                    None => st.extra.remove(RENDERED_STATE),
                };
                commit(
                    inc,
                    &st,
                    save,
                    Step::AlertUpdated,
                    format!("{what}: {} (fired {} times)", alert.title, inc.times_fired),
                );
            }
        }
    }

    // 6b. Nobody paged: say so prominently once, and once more when ilert has it again.
    let told = st.extra.contains_key(NOT_PAGED_TOLD);
    if message::not_paged(inc).is_some() != told {
        let line = message::paging_line(inc).on(inc.next_post(&st, "paging"));
        b.follow_up(&ch, st.message_id.as_deref(), &line)?;
        st.count_post();
        if told {
            st.extra.remove(NOT_PAGED_TOLD);
        } else {
            st.extra.insert(NOT_PAGED_TOLD.into(), now.rfc3339());
        }
        commit(
            inc,
            &st,
            save,
            Step::PagingTold,
            "told the channel whether ilert paged".into(),
        );
    }

    // 7. Recovery message.
    if !inc.is_open() && st.recovery_message_id.is_none() {
        let rec = message::recovery_message(inc).on(inc.next_post(&st, "recovery"));
        let id = b.follow_up(&ch, st.message_id.as_deref(), &rec)?;
        st.count_post();
        st.recovery_message_id = Some(id);
        commit(
            inc,
            &st,
            save,
            Step::RecoveryPosted,
            format!("posted recovery message: {}", rec.title),
        );
    }

    // 8. Stakeholder line per state change.
    if let Some(stake) = &route.stakeholder_channel {
        let acked = message::acked_by(inc);
        let phase = match (inc.is_open(), &acked) {
            (false, _) => "resolved",
            (true, Some(_)) => "acknowledged",
            (true, None) => "opened",
        };
        let marker = format!("stakeholder_{phase}");
        let already_told = st.extra.contains_key(&marker);
        if !already_told {
            let link = ch.url.clone().unwrap_or_else(|| format!("#{}", ch.name));
            let target = b.existing_channel(stake)?;
            let line = message::stakeholder_line(inc, &link).on(inc.next_post(&st, &marker));
            b.post(&target, &line)?;
            st.count_post();
            st.extra.insert(marker, now.rfc3339());
            commit(
                inc,
                &st,
                save,
                Step::StakeholderLine,
                format!("stakeholder line in {stake}: {}", line.title),
            );
        }
    }
    Ok(())
}

/// Takes another server's alert card as this record's own: step 6 edits it in place (what it
/// shows is unknown, so it is re-rendered once) and step 4 pins it only if it is not pinned.
fn adopt_alert_message(
    inc: &mut Incident,
    st: &mut ChatState,
    found: PostedAlert,
    save: &mut Save<'_>,
) {
    st.message_id = Some(found.id.clone());
    st.pinned = found.pinned;
    st.rendered_fires = 0;
    st.rendered_resolved = !inc.is_open();
    let pinned = if found.pinned { ", pinned" } else { "" };
    // For this record, the card is now posted (the drill times it as such).
    commit(
        inc,
        st,
        save,
        Step::AlertPosted,
        format!(
            "adopted the alert message another server posted ({}{pinned})",
            found.id
        ),
    );
}

/// Sets the channel's topic to `topic` unless it shows it already (or cannot have one).
fn show_topic(
    b: &mut dyn ChatBackend,
    ch: &ChannelRef,
    inc: &mut Incident,
    st: &mut ChatState,
    caps: Capabilities,
    save: &mut Save<'_>,
    topic: String,
) -> Result<(), ChatError> {
    if caps.topic && st.topic.as_deref() != Some(topic.as_str()) {
        b.set_topic(ch, &topic)?;
        let note = format!("topic set to \"{topic}\"");
        st.topic = Some(topic);
        commit(inc, st, save, Step::TopicSet, note);
    }
    Ok(())
}

/// Replaces a deleted alert message: posts the current one, repoints the record, pins it.
#[allow(clippy::too_many_arguments)]
fn repost(
    b: &mut dyn ChatBackend,
    ch: &ChannelRef,
    inc: &mut Incident,
    st: &mut ChatState,
    alert: &ChatMessage,
    caps: Capabilities,
    save: &mut Save<'_>,
    why: &str,
) -> Result<String, ChatError> {
    log::warn!(
        "incident {}: the alert message in #{} is gone ({why}); posting it again",
        inc.key,
        ch.name
    );
    let id = b.post(ch, &alert.clone().on(inc.next_post(st, "alert")))?;
    st.count_post();
    st.message_id = Some(id.clone());
    st.pinned = false;
    st.rendered_fires = inc.times_fired;
    st.rendered_resolved = !inc.is_open();
    commit(
        inc,
        st,
        save,
        Step::AlertPosted,
        format!(
            "the alert message was gone ({why}); posted it again: {}",
            alert.title
        ),
    );
    if caps.pin {
        b.pin(ch, &id)?;
        st.pinned = true;
        commit(
            inc,
            st,
            save,
            Step::Pinned,
            "pinned the new alert message".into(),
        );
    }
    Ok(id)
}

fn commit(inc: &mut Incident, st: &ChatState, save: &mut Save<'_>, step: Step, note: String) {
    inc.chat = Some(st.clone());
    save(inc, step, note);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{storm, HistoryItem};
    use crate::config::Config;
    use crate::lifecycle::plan;
    use crate::pandora::{Alert, AlertInput};
    use std::path::Path;
    use std::time::Duration;

    /// Records calls; fails the `fail_at`-th call once; `gone` answers updates of that
    /// message id with `MessageGone`.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        fail_at: Option<usize>,
        caps: Option<Capabilities>,
        gone: Option<String>,
        /// Another server's alert card in the channel `open_channel` adopts.
        posted: Option<PostedAlert>,
        /// Every post tried: headline and occasion.
        tried: Vec<(String, Option<String>)>,
    }

    impl Recorder {
        fn call(&mut self, c: String) -> Result<(), ChatError> {
            if self.fail_at == Some(self.calls.len()) {
                self.fail_at = None;
                return Err(ChatError::Transient("boom".into()));
            }
            self.calls.push(c);
            Ok(())
        }
    }

    impl ChatBackend for Recorder {
        fn capabilities(&self) -> Capabilities {
            self.caps.unwrap_or(Capabilities::ALL)
        }
        fn sanitize_name(&self, name: &str) -> String {
            name.to_lowercase()
        }
        fn open_channel(&mut self, spec: &ChannelSpec) -> Result<ChannelRef, ChatError> {
            self.call(format!("open {} private={}", spec.name, spec.private))?;
            Ok(ChannelRef {
                id: "C1".into(),
                name: spec.name.clone(),
                url: None,
            })
        }
        fn posted_alert(
            &mut self,
            _: &ChannelRef,
            key: &str,
        ) -> Result<Option<PostedAlert>, ChatError> {
            if self.posted.is_none() {
                return Ok(None);
            }
            self.call(format!("look for {key}"))?;
            Ok(self.posted.clone())
        }
        fn post(&mut self, ch: &ChannelRef, m: &ChatMessage) -> Result<String, ChatError> {
            self.tried.push((m.title.clone(), m.occasion.clone()));
            self.call(format!("post {} {:?}", ch.id, m.kind))?;
            Ok(format!("m{}", self.calls.len()))
        }
        fn update(&mut self, _: &ChannelRef, id: &str, m: &ChatMessage) -> Result<(), ChatError> {
            if self.gone.as_deref() == Some(id) {
                return Err(ChatError::MessageGone("message_not_found".into()));
            }
            self.call(format!("update {id} {}", m.title))
        }
        fn pin(&mut self, _: &ChannelRef, id: &str) -> Result<(), ChatError> {
            self.call(format!("pin {id}"))
        }
        fn set_topic(&mut self, _: &ChannelRef, t: &str) -> Result<(), ChatError> {
            self.call(format!("topic {t}"))
        }
        fn invite(&mut self, _: &ChannelRef, u: &[String]) -> Result<(), ChatError> {
            self.call(format!("invite {}", u.join(",")))
        }
        fn archive(&mut self, ch: &ChannelRef) -> Result<(), ChatError> {
            self.call(format!("archive {}", ch.id))
        }
        fn history(&mut self, _: &ChannelRef) -> Result<Vec<HistoryItem>, ChatError> {
            Ok(Vec::new())
        }
    }

    fn setup() -> (Config, Alert, Alert) {
        let text = "[slack]\ntoken = \"xoxb-1\"\n[[route]]\nname = \"default\"\nilert_key = \"k\"\nchat = \"slack\"\ninvite = [\"U1\", \"U2\"]\nstakeholder_channel = \"CSTAKE\"\n";
        let c = Config::parse(Path::new("t.toml"), text).unwrap();
        let input = |e: &str| AlertInput {
            event: Some(e.into()),
            alert_id: Some("6182268".into()),
            agent: Some("web-01".into()),
            module: Some("CPU Load".into()),
            ..Default::default()
        };
        let fire = Alert::from_input(&input("alert"), "").unwrap();
        let rec = Alert::from_input(&input("resolved"), "").unwrap();
        (c, fire, rec)
    }

    fn run(
        b: &mut Recorder,
        inc: &mut Incident,
        c: &Config,
        change: ChatChange,
    ) -> Result<(), ChatError> {
        let route = c.routes[0].chat.clone().unwrap();
        let mut saved = Vec::new();
        let r = sync(
            b,
            inc,
            &route,
            change,
            Timestamp::from_millis(0),
            &mut |i: &Incident, _, _| saved.push(i.clone()),
        );
        if let Some(last) = saved.last() {
            *inc = last.clone();
        }
        r
    }

    #[test]
    fn lifecycle_opens_one_channel_and_updates_the_pinned_message_in_place() {
        let (c, fire, rec) = setup();
        let t = Timestamp::from_millis(0);
        let mut inc = plan(None, &fire, &c.routes[0], &c, t).incident;
        let mut b = Recorder::default();
        run(&mut b, &mut inc, &c, ChatChange::Open).unwrap();
        assert_eq!(
            b.calls,
            [
                "open pandorafms_alert_6182268 private=false",
                "invite U1,U2",
                "post C1 Alert",
                "pin m3",
                "topic FIRING - web-01 / CPU Load",
                "post CSTAKE Stakeholder",
            ]
        );
        b.calls.clear();
        inc = plan(Some(&inc), &fire, &c.routes[0], &c, t).incident;
        run(&mut b, &mut inc, &c, ChatChange::Refire).unwrap();
        assert_eq!(b.calls, ["update m3 FIRING [Critical] web-01 / CPU Load"]);
        b.calls.clear();
        inc = plan(Some(&inc), &rec, &c.routes[0], &c, t).incident;
        run(&mut b, &mut inc, &c, ChatChange::Recover).unwrap();
        assert_eq!(
            b.calls,
            [
                "topic RESOLVED - web-01 / CPU Load",
                "update m3 RESOLVED [Critical] web-01 / CPU Load",
                "post C1 Recovery",
                "post CSTAKE Stakeholder",
            ]
        );
        // A replay of the same change does nothing more.
        b.calls.clear();
        run(&mut b, &mut inc, &c, ChatChange::Recover).unwrap();
        assert!(b.calls.is_empty(), "{:?}", b.calls);
    }

    #[test]
    fn a_failure_midway_resumes_without_a_second_channel() {
        let (c, fire, _) = setup();
        let mut inc = plan(None, &fire, &c.routes[0], &c, Timestamp::from_millis(0)).incident;
        let mut b = Recorder {
            fail_at: Some(2),
            ..Default::default()
        };
        assert!(run(&mut b, &mut inc, &c, ChatChange::Open).is_err());
        run(&mut b, &mut inc, &c, ChatChange::Open).unwrap();
        let opens = b.calls.iter().filter(|c| c.starts_with("open")).count();
        let posts = b.calls.iter().filter(|c| c.starts_with("post C1")).count();
        assert_eq!((opens, posts), (1, 1), "{:?}", b.calls);
    }

    /// NOT PAGED, paged again, NOT PAGED again: the third line says what the first said and
    /// is a message of its own (its occasion differs); a line retried after a failure keeps
    /// its occasion, so Matrix takes the retry for the same message.
    #[test]
    fn a_repeated_line_is_a_new_occasion_and_a_retried_one_is_not() {
        let (c, fire, _) = setup();
        let t = Timestamp::from_millis(0);
        let mut inc = plan(None, &fire, &c.routes[0], &c, t).incident;
        let mut b = Recorder::default();
        run(&mut b, &mut inc, &c, ChatChange::Open).unwrap();
        let paging = |b: &mut Recorder, inc: &mut Incident, refused: bool, fail: bool| {
            let st = inc.chat.as_mut().unwrap();
            if refused {
                st.extra
                    .insert(message::NOT_PAGED.into(), "HTTP 400 bad key".into());
            } else {
                st.extra.remove(message::NOT_PAGED);
            }
            let before = b.tried.len();
            // The topic and the edit of the pinned card come first, then the line.
            b.fail_at = fail.then_some(b.calls.len() + 2);
            assert_eq!(run(b, inc, &c, ChatChange::Refire).is_err(), fail);
            b.tried[before..].to_vec()
        };
        let failed = paging(&mut b, &mut inc, true, true);
        let first = paging(&mut b, &mut inc, true, false);
        assert_eq!(failed.len(), 1, "{:?}", b.calls);
        assert_eq!(failed, first, "the retry is the same message");
        let again = paging(&mut b, &mut inc, false, false);
        let third = paging(&mut b, &mut inc, true, false);
        assert_eq!(first.len(), 1);
        assert_eq!(third[0].0, first[0].0, "the same text");
        assert_ne!(third[0].1, first[0].1, "another message");
        assert_ne!(again[0].1, first[0].1);
        let occasions: std::collections::HashSet<_> =
            b.tried.iter().map(|(_, o)| o.clone()).collect();
        assert!(occasions.iter().all(Option::is_some));
        // Every post is a message of its own but the failed one's retry.
        assert_eq!(occasions.len(), b.tried.len() - 1, "{:?}", b.tried);
    }

    #[test]
    fn a_deleted_alert_message_is_posted_again_and_repinned() {
        let (c, fire, _) = setup();
        let t = Timestamp::from_millis(0);
        let mut inc = plan(None, &fire, &c.routes[0], &c, t).incident;
        let mut b = Recorder::default();
        run(&mut b, &mut inc, &c, ChatChange::Open).unwrap();
        b.calls.clear();
        b.gone = inc.chat.as_ref().unwrap().message_id.clone();
        inc = plan(Some(&inc), &fire, &c.routes[0], &c, t).incident;
        run(&mut b, &mut inc, &c, ChatChange::Refire).unwrap();
        assert_eq!(b.calls, ["post C1 Alert", "pin m1"]);
        let st = inc.chat.as_ref().unwrap();
        assert_eq!(st.message_id.as_deref(), Some("m1"));
        assert!(st.pinned);
        assert_eq!(st.rendered_fires, 2);
    }

    #[test]
    fn an_adopted_channels_alert_message_is_edited_not_posted_and_not_pinned_again() {
        let (c, fire, _) = setup();
        let mut inc = plan(None, &fire, &c.routes[0], &c, Timestamp::from_millis(0)).incident;
        let mut b = Recorder {
            posted: Some(PostedAlert {
                id: "theirs".into(),
                pinned: true,
            }),
            // The look fails once: the retry adopts the channel again and looks again.
            fail_at: Some(1),
            ..Default::default()
        };
        assert!(run(&mut b, &mut inc, &c, ChatChange::Open).is_err());
        assert!(inc
            .chat
            .as_ref()
            .and_then(|s| s.channel_id.as_ref())
            .is_none());
        run(&mut b, &mut inc, &c, ChatChange::Open).unwrap();
        assert_eq!(
            b.calls,
            [
                "open pandorafms_alert_6182268 private=false",
                "open pandorafms_alert_6182268 private=false",
                "look for 6182268",
                "invite U1,U2",
                "topic FIRING - web-01 / CPU Load",
                "update theirs FIRING [Critical] web-01 / CPU Load",
                "post CSTAKE Stakeholder",
            ]
        );
        let st = inc.chat.as_ref().unwrap();
        assert_eq!(st.message_id.as_deref(), Some("theirs"));
        assert!(st.pinned);
    }

    #[test]
    fn post_only_backends_skip_what_they_cannot_do() {
        let (c, fire, rec) = setup();
        let t = Timestamp::from_millis(0);
        let caps = Capabilities::POST_ONLY;
        let mut b = Recorder {
            caps: Some(caps),
            ..Default::default()
        };
        let mut inc = plan(None, &fire, &c.routes[0], &c, t).incident;
        run(&mut b, &mut inc, &c, ChatChange::Open).unwrap();
        inc = plan(Some(&inc), &fire, &c.routes[0], &c, t).incident;
        run(&mut b, &mut inc, &c, ChatChange::Refire).unwrap();
        inc = plan(Some(&inc), &rec, &c.routes[0], &c, t).incident;
        run(&mut b, &mut inc, &c, ChatChange::Recover).unwrap();
        let kinds: Vec<&str> = b
            .calls
            .iter()
            .map(|c| c.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["open", "post", "post", "post", "post"],
            "{:?}",
            b.calls
        );
    }

    #[test]
    fn plan_queues_chat_after_ilert() {
        let (c, fire, _) = setup();
        let p = plan(None, &fire, &c.routes[0], &c, Timestamp::from_millis(0));
        let lanes: Vec<&str> = p.actions.iter().map(|a| a.lane().name()).collect();
        assert_eq!(lanes, ["ilert", "chat:slack"]);
    }

    #[test]
    fn storm_channel_gets_one_summary_updated_in_place_and_an_end_message() {
        let (c, _, _) = setup();
        let route = c.routes[0].chat.clone().unwrap();
        let t = |s: u64| Timestamp::from_millis(0).plus(Duration::from_secs(s));
        let mut state = crate::storm::StormState::new("default");
        let mut b = Recorder::default();
        let mut saves = 0;
        state.admit(1, "Servers", "web-01 / CPU", t(0));
        state.admit(1, "Databases", "db-01 / Latency", t(1));
        storm::sync_storm(&mut b, &mut state, &route, t(1), &mut |_, _| saves += 1).unwrap();
        assert_eq!(b.calls[0], "open pandorafms_storm_default private=false");
        assert_eq!(
            &b.calls[1..],
            [
                "invite U1,U2",
                "post C1 Alert",
                "pin m3",
                "topic STORM - route default: 1 incidents summarised",
                "post CSTAKE Stakeholder"
            ],
            "responders invited, stakeholders told once"
        );
        b.calls.clear();
        state.admit(1, "Databases", "db-02 / Latency", t(2));
        storm::sync_storm(&mut b, &mut state, &route, t(2), &mut |_, _| saves += 1).unwrap();
        assert_eq!(b.calls.len(), 2, "{:?}", b.calls);
        assert!(
            b.calls[0].starts_with("update m3 ALERT STORM on route 'default'"),
            "{:?}",
            b.calls
        );
        b.calls.clear();
        state.end(t(400));
        storm::sync_storm(&mut b, &mut state, &route, t(400), &mut |_, _| saves += 1).unwrap();
        assert!(
            b.calls[0].starts_with("update m3 STORM OVER"),
            "{:?}",
            b.calls
        );
        assert_eq!(
            b.calls[1],
            "topic QUIET - route default: incidents get their own channel"
        );
        assert_eq!(b.calls[2], "post C1 Recovery");
        assert_eq!(b.calls[3], "post CSTAKE Stakeholder", "the end, told once");
        b.calls.clear();
        storm::sync_storm(&mut b, &mut state, &route, t(401), &mut |_, _| saves += 1).unwrap();
        assert!(b.calls.is_empty(), "replay must do nothing: {:?}", b.calls);
        assert!(saves > 0);
    }
}
