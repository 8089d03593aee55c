//! `pandora-ilert xml FILE...`: forward Pandora agent data files without the central server
//! (edge sites, or data captured while the server was down).
//!
//! Each module is judged as the server would (`pandora::agent_data::evaluate`): CRITICAL fires
//! an incident keyed by agent + module, NORMAL recovers an incident that is open for that key
//! (modules never seen firing send nothing, so a file of healthy modules is not a RESOLVE
//! flood), WARNING and modules the server judges itself change nothing. Every alert goes
//! through the same durable path as `alert` (inbox, incident lock, outbox, delivery).

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::deadline::Deadline;
use crate::delivery::Deliverer;
use crate::error::AppError;
use crate::exit::Exit;
use crate::http::Http;
use crate::pandora::agent_data::{self, AgentData, Reading, State};
use crate::pandora::{Alert, AlertInput};
use crate::store::Store;
use crate::time::Timestamp;

use super::alert::{handle_with, Handled};

/// What the run did, for the summary line and the exit code.
#[derive(Debug, Default)]
struct Tally {
    files: usize,
    modules: usize,
    fired: usize,
    recovered: usize,
    unchanged: usize,
    bad: usize,
    queued: usize,
    dead: usize,
}

/// Runs `xml`.
pub fn run(config: &Config, files: &[PathBuf]) -> Result<Exit, AppError> {
    let deadline = Deadline::after(config.flush_deadline);
    let store = Store::open(&config.state_dir)?;
    let http = Http::new(config.scrubber());
    let mut deliverer = Deliverer::new(config, &store, &http, deadline, false);
    let mut tally = Tally::default();
    for file in files {
        let (label, read) = read_input(file);
        tally.files += 1;
        match read {
            Ok(bytes) => {
                let data = agent_data::parse(&bytes);
                forward(
                    config,
                    &store,
                    &mut deliverer,
                    deadline,
                    &label,
                    &data,
                    &mut tally,
                )?;
            }
            Err(e) => {
                problem(&label, None, None, &format!("cannot read it: {e}"));
                tally.bad += 1;
            }
        }
    }
    let t = &tally;
    eprintln!(
        "xml: {} file(s), {} module(s): {} fired, {} recovered, {} unchanged, {} bad; {} queued, {} dead letter(s)",
        t.files, t.modules, t.fired, t.recovered, t.unchanged, t.bad, t.queued, t.dead
    );
    log::info!("xml: {tally:?}");
    Ok(if t.dead > 0 {
        Exit::Config
    } else if t.bad > 0 {
        Exit::DataErr
    } else if t.queued > 0 {
        Exit::Queued
    } else {
        Exit::Ok
    })
}

/// Reads one file (or stdin), at most `agent_data::MAX_FILE_BYTES`: a larger file is an
/// error, not a memory spike.
fn read_input(file: &Path) -> (String, std::io::Result<Vec<u8>>) {
    let bounded = |reader: &mut dyn Read| {
        let mut bytes = Vec::new();
        reader
            .take(agent_data::MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > agent_data::MAX_FILE_BYTES {
            return Err(std::io::Error::other(format!(
                "it is larger than {} MiB, far more than an agent writes; not read",
                agent_data::MAX_FILE_BYTES / (1024 * 1024)
            )));
        }
        Ok(bytes)
    };
    if file.as_os_str() == "-" {
        ("<stdin>".to_string(), bounded(&mut std::io::stdin().lock()))
    } else {
        let read = std::fs::File::open(file).and_then(|mut f| bounded(&mut f));
        (file.display().to_string(), read)
    }
}

/// One line on stderr (and in the log) naming the file, agent, module and the problem.
fn problem(file: &str, agent: Option<&str>, module: Option<&str>, what: &str) {
    let mut subject = Vec::new();
    if let Some(a) = agent {
        subject.push(format!("agent {a:?}"));
    }
    if let Some(m) = module {
        subject.push(format!("module {m}"));
    }
    let line = if subject.is_empty() {
        format!("{file}: {what}")
    } else {
        format!("{file}: {}: {what}", subject.join(", "))
    };
    let line = crate::text::one_line(&line, 2000);
    eprintln!("pandora-ilert: {line}");
    log::info!("xml: {line}");
}

fn forward(
    config: &Config,
    store: &Store,
    deliverer: &mut Deliverer<'_>,
    deadline: Deadline,
    file: &str,
    data: &AgentData,
    tally: &mut Tally,
) -> Result<(), AppError> {
    let agent = data.header.display_name();
    tally.modules += data.modules.len();
    for e in &data.errors {
        problem(file, agent, None, &e.to_string());
        tally.bad += 1;
    }
    if data.header_broken {
        problem(
            file,
            agent,
            None,
            &format!(
                "the <agent_data> tag is broken or has no agent_name, so the agent is not known \
                 for sure: none of its {} module(s) were forwarded",
                data.modules.len()
            ),
        );
        tally.bad += data.modules.len().max(1);
        return Ok(());
    }
    let Some(agent) = agent else {
        return Ok(());
    };
    for m in &data.modules {
        let reading = match agent_data::evaluate(m) {
            Ok(r) => r,
            Err(e) => {
                problem(file, Some(agent), Some(&m.label()), &e.to_string());
                tally.bad += 1;
                continue;
            }
        };
        let firing = match reading.state {
            State::Critical => true,
            State::Normal => false,
            State::Warning | State::NotJudged => {
                log::debug!(
                    "xml: {file}: {agent} / {}: {} ({}); nothing to do",
                    reading.name,
                    reading.reason,
                    if reading.state == State::Warning {
                        "warning"
                    } else {
                        "not judged"
                    }
                );
                tally.unchanged += 1;
                continue;
            }
        };
        let alert = match Alert::from_input(
            &input(data, agent, &reading, firing, file),
            &config.alert_key_prefix,
        ) {
            Ok(a) => a,
            Err(e) => {
                problem(
                    file,
                    Some(agent),
                    Some(&format!("{:?}", reading.name)),
                    &e.0,
                );
                tally.bad += 1;
                continue;
            }
        };
        if !firing && !store.load_incident(&alert.key).is_some_and(|i| i.is_open()) {
            tally.unchanged += 1;
            continue;
        }
        log::info!(
            "xml: {file}: {} {}: {}",
            alert.subject(),
            if firing { "fires" } else { "recovers" },
            reading.reason
        );
        match handle_with(
            config,
            store,
            deliverer,
            alert,
            None,
            deadline,
            Timestamp::now(),
        )? {
            Some(Handled { outcome, .. }) => {
                tally.queued += outcome.pending;
                tally.dead += outcome.dead;
            }
            None => tally.queued += 1,
        }
        if firing {
            tally.fired += 1;
        } else {
            tally.recovered += 1;
        }
    }
    Ok(())
}

/// The alert values a module stands for, as if Pandora had passed them as macros.
fn input(data: &AgentData, agent: &str, r: &Reading, firing: bool, file: &str) -> AlertInput {
    let h = &data.header;
    let mut extra = vec![
        ("source".to_string(), "agent data file".to_string()),
        ("file".to_string(), file.to_string()),
        ("module_type".to_string(), r.module_type.clone()),
        ("status_reason".to_string(), r.reason.clone()),
    ];
    if let Some(name) = h.name.as_deref().filter(|n| *n != agent) {
        extra.push(("agent_name".to_string(), name.to_string()));
    }
    AlertInput {
        event: Some(if firing { "alert" } else { "resolved" }.to_string()),
        // No _id_alert_ outside the server: the key comes from agent + module.
        alert_id: Some(String::new()),
        agent: Some(agent.to_string()),
        module: Some(r.name.clone()),
        data: Some(r.data.clone()),
        unit: Some(r.unit.clone()),
        severity: Some("Critical".to_string()),
        details: Some(r.description.clone()).filter(|d| !d.is_empty()),
        timestamp: h
            .timestamp
            .clone()
            .filter(|t| !t.eq_ignore_ascii_case("auto")),
        group: h.group.clone(),
        extra,
        ..AlertInput::default()
    }
}
