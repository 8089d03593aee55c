//! pandora-ilert: Pandora FMS alert command and agent plugin that forwards alerts to ilert and
//! keeps a chat channel per incident. `main` only parses, dispatches and maps errors to exit
//! codes; see `commands` for the subcommands.

// Two exceptions, each allowed where it stands: the process entry (`start`) and the
// stop-signal handler (`signals`).
#![deny(unsafe_code)]
// The process starts at `start::main`, not through the standard library's runtime start-up.
#![cfg_attr(not(test), no_main)]

mod archive;
mod chat;
mod chatops;
mod cli;
mod commands;
mod config;
mod data_in;
mod deadline;
mod delivery;
mod error;
mod exit;
#[cfg(test)]
mod fuzz;
mod health;
mod housekeeping;
mod http;
mod ilert;
mod ilert_api;
mod ilert_sync;
mod incident;
mod intake;
mod lifecycle;
mod logging;
mod pacing;
mod pandora;
mod pandora_db;
mod redact;
mod routing;
mod signals;
mod start;
mod status;
mod stdout;
mod store;
mod storm;
mod template;
mod text;
mod time;
mod timeline;

use clap::Parser;

use exit::Exit;

/// Runs the command line; `start::main` calls it.
fn run() -> Exit {
    // Pandora passes Latin-1 bytes in argv; clap would refuse them (exit 64) and the alert
    // would be lost, so the arguments are decoded to text before clap sees them.
    let argv = pandora::argv::decode_args(std::env::args_os());
    let parsed = match cli::parse_alert_fast(&argv.args) {
        Some(cli) => Ok(cli),
        None => cli::Cli::try_parse_from(&argv.args),
    };
    let cli = match parsed {
        Ok(mut cli) => {
            cli.argv_note = argv.note();
            cli
        }
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Ok
                }
                _ => Exit::Usage,
            };
        }
    };
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Once on stderr (the line below), and in the log file.
            log::error!(target: logging::FILE_ONLY, "{e}");
            eprintln!("pandora-ilert: {e}");
            e.exit()
        }
    }
}
