//! Crash consistency, proven at every write: for each operation (first firing, re-fire,
//! recovery, re-fire after recovery, flush, plugin run, chat command) the process is killed —
//! or sees ENOSPC or EIO, or gets SIGTERM — at each store write point in turn
//! (`PANDORA_ILERT_FAULT`, see docs/store.md), then the following operations run normally and
//! a final `flush` drains.
//! The invariants checked after every combination:
//! - ilert saw the events Pandora sent, in order: every firing after a recovery paged, the
//!   final state is the last event's (the faulted event itself may or may not count: it was
//!   killed or refused, and what it reported decides which);
//! - an exit code that says "queued" or "delivered" (0, 69) means the event reached ilert; one
//!   that says "not queued" (73) means it did not;
//! - every incident has exactly one chat channel, and each channel shows the state of its own
//!   incident (an earlier incident's recovery never lands on a later one);
//! - `status` tells the truth: nothing queued after the drain, open incidents as ilert has them.
//!
//! Without chat (`Setup::IlertOnly`) a re-fire inside the dedupe window queues nothing and
//! writes only its counters into the incident's `open/` marker (docs/store.md invariant 7).
//! Those runs also check, after every step from the faulted one on, that `status` shows the
//! incident open or closed with the firing count of the run with or without the faulted event
//! (one or the other throughout, never a lower or corrupt count); that ilert got each page
//! once (a re-fire pages nothing); and at the end that the plugin agrees, the `open/` index
//! matches the records and nothing was quarantined.

mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::ilert::{FakeIlert, Mode};
use support::slack::FakeSlack;
use support::{code, run, stderr, ConfigBuilder, PandoraAlert, TestDir, BIN};

const ID: &str = "900";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Fire,
    Recover,
    Flush,
    Plugin,
    /// A responder types `!ack` in the incident channel; the plugin run acts on it.
    Ack,
    IlertDown,
    IlertUp,
}

/// What the store talks to besides ilert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Setup {
    /// ilert and Slack: a re-fire inside the window queues a chat update (the record path).
    WithSlack,
    /// ilert alone: a re-fire inside the window queues nothing (the `open/` marker path).
    IlertOnly,
}

struct Env<'a> {
    cfg: &'a Path,
    ilert: &'a FakeIlert,
    slack: &'a FakeSlack,
}

fn config(dir: &TestDir, ilert: &FakeIlert, slack: &FakeSlack, setup: Setup) -> std::path::PathBuf {
    // These tests send far more than ilert's 50 events a minute per key: play an account
    // whose limit was raised, and tell the client the same.
    ilert.set_events_limit(100_000, std::time::Duration::from_secs(60));
    let builder = ConfigBuilder::new(ilert)
        .set("alert_deadline", "\"6s\"")
        .set("flush_deadline", "\"10s\"")
        .plugin("data_in = \"\"\ndeadline = \"15s\"")
        .ilert("rate_limit = \"100000/1m\"");
    match setup {
        Setup::WithSlack => builder.slack(slack).route("invite = [\"U0RESP001\"]"),
        Setup::IlertOnly => builder,
    }
    .write(dir)
}

/// A fresh store on tmpfs with its own fake ilert and fake Slack.
struct Fixture {
    dir: TestDir,
    ilert: FakeIlert,
    slack: FakeSlack,
    cfg: std::path::PathBuf,
}

impl Fixture {
    fn new(name: &str, setup: Setup) -> Fixture {
        let (dir, ilert, slack) = (
            TestDir::new_in_memory(name),
            FakeIlert::start(),
            FakeSlack::start(),
        );
        let cfg = config(&dir, &ilert, &slack, setup);
        Fixture {
            dir,
            ilert,
            slack,
            cfg,
        }
    }

    fn parts(&self) -> (&TestDir, &FakeIlert, &FakeSlack, &Path) {
        (&self.dir, &self.ilert, &self.slack, &self.cfg)
    }

    fn env(&self) -> Env<'_> {
        Env {
            cfg: &self.cfg,
            ilert: &self.ilert,
            slack: &self.slack,
        }
    }
}

/// Runs one step; `fault` goes into the environment of the binary for this step only.
fn step(env: &Env<'_>, s: Step, fault: Option<&str>, trace: Option<&Path>) -> Option<Output> {
    let cmd = |args: &[&str]| -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(env.cfg).args(args);
        c
    };
    let mut c = match s {
        Step::Fire | Step::Recover => {
            let alert = if s == Step::Fire {
                PandoraAlert::firing(ID)
            } else {
                PandoraAlert::recovery(ID)
            };
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!("exec {}", alert.command_line(env.cfg, "")));
            c
        }
        Step::Flush => cmd(&["flush"]),
        Step::Plugin => cmd(&["plugin"]),
        Step::Ack => {
            let channel = env
                .slack
                .channels()
                .into_iter()
                .rfind(|c| !c.is_archived && c.topic.starts_with("FIRING"))?;
            env.slack
                .add_message(&channel.id, "U0RESP001", "!ack on it");
            cmd(&["plugin"])
        }
        Step::IlertDown => {
            env.ilert.set_mode(Mode::Fail(503));
            return None;
        }
        Step::IlertUp => {
            env.ilert.set_mode(Mode::Accept);
            return None;
        }
    };
    if let Some(f) = fault {
        c.env("PANDORA_ILERT_FAULT", f);
    }
    if let Some(t) = trace {
        c.env("PANDORA_ILERT_FAULT_TRACE", t);
    }
    Some(c.stdin(Stdio::null()).output().expect("run pandora-ilert"))
}

/// ALERT / RESOLVE as ilert accepted them, repeats collapsed (delivery is at least once).
fn ilert_states(ilert: &FakeIlert) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in ilert.accepted() {
        let t = e["eventType"].as_str().unwrap_or_default().to_string();
        let key = e["alertKey"].as_str().unwrap_or_default();
        assert_eq!(key, ID, "an event for another alert key: {t}");
        if (t == "ALERT" || t == "RESOLVE") && out.last() != Some(&t) {
            out.push(t);
        }
    }
    out
}

/// What ilert must have seen if the events in `steps` (minus `skip`) were accepted.
fn expected_states(steps: &[Step], skip: Option<usize>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if Some(i) == skip {
            continue;
        }
        let t = match s {
            Step::Fire => "ALERT",
            // A recovery of an alert ilert never saw open is still sent; collapsing handles
            // the rest.
            Step::Recover => "RESOLVE",
            _ => continue,
        };
        if out.last().map(String::as_str) != Some(t) {
            out.push(t.to_string());
        }
    }
    out
}

/// What `incident_states` expects `status` to show: `None` when no incident is open, else
/// the open incident's times fired.
type Shown = Option<u64>;

/// What `status` must show after each step if the events in `steps` (minus `skip`) were
/// accepted and ilert is the only destination (a re-fire inside the window counts one more).
fn incident_states(steps: &[Step], skip: Option<usize>) -> Vec<Shown> {
    let mut shown: Shown = None;
    let mut out = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        if Some(i) != skip {
            match s {
                Step::Fire => shown = Some(shown.map_or(1, |n| n + 1)),
                Step::Recover => shown = None,
                _ => {}
            }
        }
        out.push(shown);
    }
    out
}

/// The open incidents `status --json` lists, as `incident_states` describes them, and its
/// quarantined files.
fn shown_by_status(cfg: &Path, what: &str) -> (Vec<u64>, Vec<serde_json::Value>) {
    let status = run(cfg, &["status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("{what}: status --json: {e}: {}", stderr(&status)));
    let open = j["open_incidents"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no open_incidents in {j}"))
        .iter()
        .map(|i| {
            i["times_fired"]
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: times_fired in {i}"))
        })
        .collect();
    let quarantined = j["quarantined"].as_array().cloned().unwrap_or_default();
    (open, quarantined)
}

struct Outcome {
    combos: usize,
    points: usize,
    /// Of those points, writes of a re-fire's counters into an `open/` marker.
    marker_writes: usize,
}

/// Runs `steps` with a fault at every write point of step `faulted`, each fault kind.
fn every_write_point(name: &str, setup: Setup, steps: &[Step], faulted: usize) -> Outcome {
    // First, count the points the faulted step passes on a clean run.
    let (points, marker_writes) = {
        let fixture = Fixture::new(name, setup);
        let (dir, ilert, _, _) = fixture.parts();
        let env = fixture.env();
        let trace = dir.join("trace");
        for (i, s) in steps.iter().enumerate() {
            step(&env, *s, None, (i == faulted).then_some(trace.as_path()));
        }
        if steps.contains(&Step::Ack) {
            assert!(
                ilert.accepted().iter().any(|e| e["eventType"] == "ACCEPT"),
                "{name}: the chat command never reached ilert: {:?}\n{}",
                ilert.events(),
                dir.log()
            );
        }
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let n = text.lines().count();
        assert!(n > 0, "{name}: the faulted step wrote nothing? trace empty");
        let marker_writes = text
            .lines()
            .filter(|l| l.split(' ').nth(1) == Some("write") && l.contains(" open/"))
            .count();
        (n, marker_writes)
    };
    let combos: Vec<(usize, &str)> = (1..=points)
        .flat_map(|p| ["kill", "enospc", "eio", "term"].map(|f| (p, f)))
        .collect();
    let started = std::time::Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Each combination is independent (own store, own fakes): a few at a time.
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(&(point, fault)) = combos.get(n) else {
                        break;
                    };
                    one_combination(name, setup, steps, faulted, points, point, fault);
                })
            })
            .collect();
        for w in workers {
            if let Err(panic) = w.join() {
                std::panic::resume_unwind(panic);
            }
        }
    });
    eprintln!(
        "{name}: {points} write points ({marker_writes} into open/ markers) x 4 faults = {} combinations in {:.1}s",
        combos.len(),
        started.elapsed().as_secs_f64()
    );
    Outcome {
        combos: combos.len(),
        points,
        marker_writes,
    }
}

/// Combinations run at once per test.
const WORKERS: usize = 3;

/// One (point, fault) combination of `every_write_point`.
fn one_combination(
    name: &str,
    setup: Setup,
    steps: &[Step],
    faulted: usize,
    points: usize,
    point: usize,
    fault: &str,
) {
    let what = format!("{name}: fault {fault} at write {point} of {points}");
    let fixture = Fixture::new(name, setup);
    let (dir, ilert, slack, cfg) = fixture.parts();
    let env = fixture.env();
    let mut faulted_code = None;
    // Without chat, what `status` shows after each step from the faulted one on.
    let mut shown: Vec<(usize, Vec<u64>)> = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let spec = format!("{point}:{fault}");
        let t0 = std::time::Instant::now();
        let out = step(&env, *s, (i == faulted).then_some(spec.as_str()), None);
        if std::env::var_os("CRASH_TIMING").is_some() {
            eprintln!("{what}: step {i} {s:?} {:?}", t0.elapsed());
        }
        if let Some(out) = out {
            if i == faulted {
                faulted_code = out.status.code();
                if fault == "kill" {
                    assert!(
                        out.status.code().is_none(),
                        "{what}: the process was not killed (the point was never reached?): {}",
                        stderr(&out)
                    );
                }
                // SIGTERM mid-run: `alert` and `flush` stop at once, their exit code saying
                // whether the event was saved (checked against ilert below); a command
                // without a stop handler (the plugin) dies of it.
                if fault == "term" {
                    assert!(
                        matches!(out.status.code(), None | Some(69 | 75)),
                        "{what}: exited {:?} after SIGTERM: {}",
                        out.status.code(),
                        stderr(&out)
                    );
                }
            } else {
                assert!(
                    matches!(code(&out), 0 | 69),
                    "{what}: step {i} {s:?} exited {}: {}\nlog:\n{}",
                    code(&out),
                    stderr(&out),
                    dir.log()
                );
            }
        }
        if setup == Setup::IlertOnly && i >= faulted {
            let (open, quarantined) = shown_by_status(cfg, &what);
            assert!(
                quarantined.is_empty(),
                "{what}: quarantined after step {i} {s:?}: {quarantined:?}\nlog:\n{}",
                dir.log()
            );
            shown.push((i, open));
        }
    }
    if setup == Setup::IlertOnly {
        check_shown(&what, steps, faulted, faulted_code, &shown, dir);
    }
    ilert.set_mode(Mode::Accept);
    let flush = run(cfg, &["flush"]);
    assert_eq!(code(&flush), 0, "{what}: final flush: {}", stderr(&flush));

    let seen = ilert_states(ilert);
    let with = expected_states(steps, None);
    let without = expected_states(steps, Some(faulted));
    assert!(
        seen == with || seen == without,
        "{what}: ilert saw {seen:?}, expected {with:?} (or {without:?} if the faulted \
         event was not accepted)\nlog:\n{}",
        dir.log()
    );
    let is_event = matches!(steps[faulted], Step::Fire | Step::Recover);
    if is_event && with != without {
        match faulted_code {
            Some(0 | 69) => assert_eq!(
                seen, with,
                "{what}: exit {faulted_code:?} said queued, but the event never reached ilert"
            ),
            Some(73 | 75) => assert_eq!(
                seen, without,
                "{what}: exit {faulted_code:?} said NOT queued, but the event reached ilert"
            ),
            Some(c) => panic!("{what}: unexpected exit {c}"),
            None => {}
        }
    }

    let final_open = seen.last().map(String::as_str) == Some("ALERT");
    match setup {
        Setup::WithSlack => check_channels(&what, &seen, slack),
        Setup::IlertOnly => check_ilert_only_end(&what, steps, faulted, &seen, dir, ilert, cfg),
    }

    // status: nothing queued, open incidents as ilert has them.
    let status = run(cfg, &["status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("{what}: status --json: {e}: {}", stderr(&status)));
    assert_eq!(j["queued"].as_array().map(Vec::len), Some(0), "{what}: {j}");
    assert_eq!(
        j["open_incidents"].as_array().map(Vec::len),
        Some(usize::from(final_open)),
        "{what}: {j}"
    );
}

/// Chat: one channel per incident, each showing its own incident's state.
fn check_channels(what: &str, seen: &[String], slack: &FakeSlack) {
    let incidents = seen.iter().filter(|t| *t == "ALERT").count();
    let channels = slack.channels();
    assert_eq!(
        channels.len(),
        incidents,
        "{what}: {} channels for {incidents} incidents: {:?}",
        channels.len(),
        channels
            .iter()
            .map(|c| (&c.name, &c.topic))
            .collect::<Vec<_>>()
    );
    let final_open = seen.last().map(String::as_str) == Some("ALERT");
    for (n, ch) in channels.iter().enumerate() {
        let last = n + 1 == channels.len();
        let want_open = last && final_open;
        assert_eq!(
            ch.topic.starts_with("FIRING") || ch.topic.starts_with("ACK"),
            want_open,
            "{what}: channel {} of incident {} has topic {:?}",
            ch.name,
            n + 1,
            ch.topic
        );
    }
}

/// Whether step `i` of `steps` is a re-fire inside the dedupe window (its incident open).
fn is_refire(steps: &[Step], i: usize) -> bool {
    steps[i] == Step::Fire && i > 0 && incident_states(steps, None)[i - 1].is_some()
}

/// Without chat: `shown` (what `status` listed after each step from the faulted one on) is
/// the run with the faulted event throughout, or the run without it throughout, as the
/// faulted process's exit code says.
fn check_shown(
    what: &str,
    steps: &[Step],
    faulted: usize,
    faulted_code: Option<i32>,
    shown: &[(usize, Vec<u64>)],
    dir: &TestDir,
) {
    let fits = |skip: Option<usize>| {
        let want = incident_states(steps, skip);
        shown
            .iter()
            .all(|(i, open)| *open == want[*i].into_iter().collect::<Vec<_>>())
    };
    let (with, without) = (fits(None), fits(Some(faulted)));
    let want = match faulted_code {
        Some(0 | 69) => with,
        Some(73 | 75) => without,
        _ => with || without,
    };
    assert!(
        want,
        "{what}: exit {faulted_code:?}; status showed (step, times fired of open incidents) \
         {shown:?}, expected {:?} with the faulted event or {:?} without\nlog:\n{}",
        incident_states(steps, None),
        incident_states(steps, Some(faulted)),
        dir.log()
    );
}

/// Without chat, after the drain: each page reached ilert once (a re-fire pages nothing; only
/// a delivery interrupted by the fault may repeat its own event), the plugin shows the
/// incident open or closed as ilert has it, the `open/` index holds exactly the open
/// incident's marker, and nothing was quarantined.
fn check_ilert_only_end(
    what: &str,
    steps: &[Step],
    faulted: usize,
    seen: &[String],
    dir: &TestDir,
    ilert: &FakeIlert,
    cfg: &Path,
) {
    let raw: Vec<String> = ilert
        .accepted()
        .iter()
        .filter_map(|e| e["eventType"].as_str().map(str::to_string))
        .filter(|t| t == "ALERT" || t == "RESOLVE")
        .collect();
    let repeats = raw.len() - seen.len();
    let may_repeat = usize::from(!is_refire(steps, faulted));
    assert!(
        repeats <= may_repeat,
        "{what}: ilert got {raw:?}: {repeats} repeated event(s) (at most {may_repeat})"
    );

    let final_open = seen.last().map(String::as_str) == Some("ALERT");
    let out = run(cfg, &["plugin"]);
    let modules = support::modules::parse_plugin_output(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: plugin output: {e}: {}", stderr(&out)));
    let open = modules
        .iter()
        .find(|m| m.name() == "pandora-ilert open incidents")
        .unwrap_or_else(|| panic!("{what}: no open-incidents module"));
    assert_eq!(open.data(), if final_open { "1" } else { "0" }, "{what}");

    let state = if final_open { "open" } else { "resolved" };
    assert_eq!(dir.record(ID)["state"], state, "{what}");
    let markers = dir.files("open");
    assert_eq!(
        markers.len(),
        usize::from(final_open),
        "{what}: open/ holds {markers:?} for a {state} incident"
    );
    assert!(
        markers.iter().all(|m| m.ends_with(&format!(".{ID}"))),
        "{what}: {markers:?}"
    );
    let quarantined = dir.files("quarantine");
    assert!(
        quarantined.is_empty(),
        "{what}: quarantined {quarantined:?}"
    );
}

use Step::*;

#[test]
fn first_firing_survives_a_fault_at_every_write() {
    let o = every_write_point(
        "crash-fire",
        Setup::WithSlack,
        &[Fire, Recover, Fire, Recover],
        0,
    );
    assert!(o.points >= 4 && o.combos == o.points * 4);
}

#[test]
fn refire_survives_a_fault_at_every_write() {
    every_write_point(
        "crash-refire",
        Setup::WithSlack,
        &[Fire, Fire, Recover, Fire],
        1,
    );
}

#[test]
fn recovery_survives_a_fault_at_every_write() {
    every_write_point(
        "crash-recover",
        Setup::WithSlack,
        &[Fire, Recover, Fire, Recover],
        1,
    );
}

#[test]
fn firing_after_recovery_survives_a_fault_at_every_write() {
    every_write_point(
        "crash-reopen",
        Setup::WithSlack,
        &[Fire, Recover, Fire, Recover, Fire],
        2,
    );
}

#[test]
fn flush_survives_a_fault_at_every_write() {
    every_write_point(
        "crash-flush",
        Setup::WithSlack,
        &[IlertDown, Fire, Recover, Fire, IlertUp, Flush, Recover],
        5,
    );
}

#[test]
fn plugin_run_survives_a_fault_at_every_write() {
    every_write_point(
        "crash-plugin",
        Setup::WithSlack,
        &[IlertDown, Fire, Recover, Fire, IlertUp, Plugin, Recover],
        5,
    );
}

#[test]
fn chat_command_survives_a_fault_at_every_write() {
    every_write_point(
        "crash-ack",
        Setup::WithSlack,
        &[Fire, Ack, Recover, Fire],
        1,
    );
}

#[test]
fn refire_counters_in_the_marker_survive_a_fault_at_every_write() {
    let o = every_write_point(
        "crash-refire-marker",
        Setup::IlertOnly,
        &[Fire, Fire, Fire, Recover, Fire],
        1,
    );
    // The counters-only path, not the record path: else this proves nothing about it.
    assert!(o.marker_writes > 0, "no write into an open/ marker");
}

#[test]
fn refires_in_a_row_survive_a_fault_at_every_write() {
    let o = every_write_point(
        "crash-refires",
        Setup::IlertOnly,
        &[Fire, Fire, Fire, Fire, Fire, Recover, Fire],
        3,
    );
    assert!(o.marker_writes > 0, "no write into an open/ marker");
}

#[test]
fn recovery_after_counted_refires_survives_a_fault_at_every_write() {
    let o = every_write_point(
        "crash-refires-recover",
        Setup::IlertOnly,
        &[Fire, Fire, Fire, Recover, Fire],
        3,
    );
    assert_eq!(o.marker_writes, 0, "a recovery wrote re-fire counters");
}

#[test]
fn firing_after_counted_refires_survives_a_fault_at_every_write() {
    every_write_point(
        "crash-refires-reopen",
        Setup::IlertOnly,
        &[Fire, Fire, Recover, Fire, Fire, Recover],
        3,
    );
}

/// A marker whose re-fire line a power cut tore (cut mid-line, or a new line half written
/// over the old one) is ignored: the count goes back to the record's, the next re-fire counts
/// on from there, and nothing is quarantined or paged.
#[test]
fn a_torn_refire_marker_is_ignored() {
    let fixture = Fixture::new("crash-torn-marker", Setup::IlertOnly);
    let (dir, ilert, _, cfg) = fixture.parts();
    let env = fixture.env();
    for _ in 0..3 {
        step(&env, Fire, None, None);
    }
    assert_eq!(shown_by_status(cfg, "before the cut").0, [3]);
    let markers = dir.files("open");
    assert_eq!(markers.len(), 1, "{markers:?}");
    let marker = dir.state().join("open").join(&markers[0]);
    let line = std::fs::read(&marker).unwrap();
    assert!(line.ends_with(b"\n") && line.len() > 20, "{line:?}");
    std::fs::write(&marker, &line[..line.len() / 2]).unwrap();

    let (open, quarantined) = shown_by_status(cfg, "after the cut");
    assert_eq!(
        open,
        [1],
        "a torn marker must fall back to the record's count"
    );
    assert!(quarantined.is_empty(), "{quarantined:?}");
    step(&env, Fire, None, None);
    assert_eq!(shown_by_status(cfg, "re-fire after the cut").0, [2]);
    // The next line half written over this one: its start, the old line's end.
    let old = std::fs::read(&marker).unwrap();
    step(&env, Fire, None, None);
    let new = std::fs::read(&marker).unwrap();
    assert_eq!(shown_by_status(cfg, "second re-fire").0, [3]);
    // Torn after the new checksum: the old counters follow it.
    let cut = new.iter().position(|b| *b == b' ').unwrap() + 1;
    let mixed: Vec<u8> = new[..cut].iter().chain(&old[cut..]).copied().collect();
    assert!(
        mixed != old && mixed != new,
        "the lines must differ after the checksum"
    );
    std::fs::write(&marker, &mixed).unwrap();
    assert_eq!(shown_by_status(cfg, "half-written line").0, [1]);
    step(&env, Recover, None, None);
    step(&env, Fire, None, None);
    assert_eq!(shown_by_status(cfg, "reopened").0, [1]);
    let raw: Vec<String> = ilert
        .accepted()
        .iter()
        .filter_map(|e| e["eventType"].as_str().map(str::to_string))
        .collect();
    assert_eq!(raw, ["ALERT", "RESOLVE", "ALERT"], "\nlog:\n{}", dir.log());
    assert_eq!(dir.files("open").len(), 1);
    assert!(dir.files("quarantine").is_empty());
}
