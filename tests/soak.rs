//! Randomized soak: storms of concurrent alert commands against the fake ilert and the fake
//! Slack, with random SIGKILLs, then `flush`. Asserts 0 lost events, 0 missed pages and exactly
//! one channel per incident; reports duplicates (delivery is at least once) and the kills.
//!
//! Reproducible from its seed. The suite runs a short form; the long form:
//!
//! ```text
//! SOAK_SECONDS=600 SOAK_SEED=12345 cargo test --release --test soak -- --nocapture
//! ```

mod support;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::ilert::{FakeIlert, Mode, KEY};
use support::slack::{FakeSlack, TOKEN};
use support::{code, run, stderr, PandoraAlert, TestDir};

/// xorshift64*: small, seedable, good enough to pick events and kill times.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fire,
    Recover,
}

impl Kind {
    fn ilert(self) -> &'static str {
        match self {
            Kind::Fire => "ALERT",
            Kind::Recover => "RESOLVE",
        }
    }
}

/// One event sent for an alert: was it accepted (exit 0 or 69) or killed (unknown)?
#[derive(Clone, Copy, Debug)]
struct Sent {
    kind: Kind,
    accepted: bool,
}

/// True when ilert's collapsed sequence `seen` is what the events produce, with each killed
/// event either counted or not (it may have been committed before the kill).
fn explains(events: &[Sent], seen: &[&str]) -> bool {
    // Reachable positions in `seen` after each event.
    let mut reach = vec![0usize];
    for e in events {
        let t = e.kind.ilert();
        let mut next = Vec::new();
        for &j in &reach {
            if !e.accepted {
                next.push(j);
            }
            if j > 0 && seen[j - 1] == t {
                next.push(j);
            } else if seen.get(j) == Some(&t) {
                next.push(j + 1);
            } else if j == 0 && t == "RESOLVE" {
                // A recovery before any firing resolves nothing that ilert shows as open:
                // pandora-ilert still sends it, and it may or may not lead the sequence.
                next.push(j);
            }
        }
        next.sort_unstable();
        next.dedup();
        reach = next;
    }
    reach.contains(&seen.len())
}

#[test]
fn random_kills_during_storms_lose_nothing_and_miss_no_page() {
    let seed: u64 = std::env::var("SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1234_abcd);
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut rng = Rng(seed | 1);
    let (dir, ilert, slack) = (
        TestDir::new_in_memory("soak"),
        FakeIlert::start(),
        FakeSlack::start(),
    );
    // Far more than ilert's 50 events a minute per key: play an account whose limit was
    // raised, and tell the client the same.
    ilert.set_events_limit(100_000, Duration::from_secs(60));
    // Hundreds of channels: pages as large as Slack serves them, and (like the raised ilert
    // limit) a workspace that lets them be set up faster than Slack's tier floors.
    slack.set_list_page(200);
    slack.relax_limits();
    let cfg = dir.config(&format!(
        "alert_deadline = \"8s\"\nflush_deadline = \"60s\"\nrequest_timeout = \"2s\"\n\
         [ilert]\napi_url = \"{}\"\nrate_limit = \"100000/1m\"\n[slack]\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n\
         [[route]]\nname = \"default\"\nilert_key = \"{KEY}\"\nchat = \"slack\"\n\
         storm_per_minute = 0\n",
        ilert.url(),
        slack.url()
    ));
    let ids: Vec<String> = (0..12).map(|i| (8000 + i).to_string()).collect();
    let mut sent: BTreeMap<String, Vec<Sent>> = BTreeMap::new();
    let mut kills = 0usize;
    let mut rounds = 0usize;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        rounds += 1;
        // Now and then ilert is down for a round: events queue and go out later.
        ilert.set_mode(if rng.below(5) == 0 {
            Mode::Fail(503)
        } else {
            Mode::Accept
        });
        // Each alert at most once per round: Pandora sends one alert's events in order.
        let mut batch: Vec<(String, Kind, bool, u64)> = Vec::new();
        for id in &ids {
            if rng.below(3) == 0 {
                continue;
            }
            let kind = if rng.below(2) == 0 {
                Kind::Fire
            } else {
                Kind::Recover
            };
            let kill = rng.below(4) == 0;
            batch.push((id.clone(), kind, kill, rng.below(40)));
        }
        let children: Vec<_> = batch
            .iter()
            .map(|(id, kind, _, _)| {
                let a = match kind {
                    Kind::Fire => PandoraAlert::firing(id),
                    Kind::Recover => PandoraAlert::recovery(id),
                };
                std::process::Command::new("/bin/sh")
                    .arg("-c")
                    .arg(format!("exec {}", a.command_line(&cfg, "")))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let t0 = Instant::now();
        let mut order: Vec<usize> = (0..children.len()).collect();
        order.sort_by_key(|&i| batch[i].3);
        let mut children: Vec<Option<std::process::Child>> =
            children.into_iter().map(Some).collect();
        for &i in &order {
            let (_, _, kill, at) = &batch[i];
            if !kill {
                continue;
            }
            let wait = Duration::from_millis(*at).saturating_sub(t0.elapsed());
            std::thread::sleep(wait);
            if let Some(c) = children[i].as_mut() {
                let _ = c.kill();
            }
        }
        for (i, c) in children.iter_mut().enumerate() {
            let out = c.take().unwrap().wait_with_output().unwrap();
            let (id, kind, _, _) = &batch[i];
            let accepted = match out.status.code() {
                Some(0 | 69) => true,
                None => {
                    kills += 1;
                    false
                }
                Some(other) => panic!(
                    "seed {seed}: alert {id} {kind:?} exited {other}: {}",
                    String::from_utf8_lossy(&out.stderr)
                ),
            };
            sent.entry(id.clone()).or_default().push(Sent {
                kind: *kind,
                accepted,
            });
        }
    }
    ilert.set_mode(Mode::Accept);
    let flush = run(&cfg, &["flush"]);
    assert_eq!(code(&flush), 0, "seed {seed}: {}", stderr(&flush));

    // Per alert: what ilert accepted, collapsed, must be explained by what was sent.
    let mut per_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let accepted = ilert.accepted();
    for e in &accepted {
        let t = e["eventType"].as_str().unwrap_or_default();
        if t != "ALERT" && t != "RESOLVE" {
            continue;
        }
        per_key
            .entry(e["alertKey"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(t.to_string());
    }
    let mut collapsed_total = 0;
    let mut incidents_total = 0;
    for (id, events) in &sent {
        let mut seen: Vec<&str> = Vec::new();
        for t in per_key.get(id).map(Vec::as_slice).unwrap_or_default() {
            if seen.last() != Some(&t.as_str()) {
                seen.push(t);
            }
        }
        collapsed_total += seen.len();
        assert!(
            explains(events, &seen),
            "seed {seed}: alert {id}: ilert saw {seen:?} for events {events:?}\n{}",
            dir.log()
        );
        // One channel per incident: every ALERT run opened one incident.
        let incidents = seen.iter().filter(|t| **t == "ALERT").count();
        incidents_total += incidents;
        let channels = slack
            .channels()
            .into_iter()
            .filter(|c| {
                c.name == format!("pandorafms_alert_{id}")
                    || c.name.starts_with(&format!("pandorafms_alert_{id}-"))
            })
            .count();
        assert_eq!(
            channels, incidents,
            "seed {seed}: alert {id}: {channels} channels for {incidents} incidents"
        );
    }
    let status = run(&cfg, &["status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(
        j["queued"].as_array().map(Vec::len),
        Some(0),
        "seed {seed}: {j}"
    );
    let sent_total: usize = sent.values().map(Vec::len).sum();
    let delivered = per_key.values().map(Vec::len).sum::<usize>();
    eprintln!(
        "soak seed {seed}: {rounds} rounds, {sent_total} events, {kills} killed, \
         {incidents_total} incidents, {delivered} ALERT/RESOLVE accepted by ilert of which \
         {} duplicates; 0 lost, 0 missed pages",
        delivered - collapsed_total
    );
    assert!(
        kills > 0,
        "seed {seed}: the soak killed nothing; it proves nothing"
    );
}

#[test]
fn the_checker_rejects_a_missed_page() {
    let s = |kind, accepted| Sent { kind, accepted };
    let events = [
        s(Kind::Fire, true),
        s(Kind::Recover, true),
        s(Kind::Fire, true),
    ];
    assert!(explains(&events, &["ALERT", "RESOLVE", "ALERT"]));
    assert!(!explains(&events, &["ALERT", "RESOLVE"]), "missed page");
    let killed = [
        s(Kind::Fire, true),
        s(Kind::Recover, false),
        s(Kind::Fire, true),
    ];
    assert!(explains(&killed, &["ALERT"]));
    assert!(explains(&killed, &["ALERT", "RESOLVE", "ALERT"]));
    assert!(!explains(&killed, &["ALERT", "RESOLVE"]));
}
