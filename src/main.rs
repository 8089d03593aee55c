//! pandora-ilert: Pandora FMS alert command and agent plugin that forwards alerts to ilert and
//! keeps a chat channel per incident. `main` only parses, dispatches and maps errors to exit
//! codes; see `commands` for the subcommands.

#![forbid(unsafe_code)]

mod archive;
mod chat;
mod chatops;
mod cli;
mod commands;
mod config;
mod data_in;
mod delivery;
mod error;
mod exit;
mod health;
mod housekeeping;
mod http;
mod ilert;
mod incident;
mod intake;
mod lifecycle;
mod logging;
mod pandora;
mod pandora_db;
mod routing;
mod signals;
mod store;
mod storm;
mod time;
mod timeline;

use std::process::ExitCode;

use clap::Parser;

use exit::Exit;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    Exit::Ok
                }
                _ => Exit::Usage,
            }
            .into();
        }
    };
    match commands::run(cli) {
        Ok(code) => code.into(),
        Err(e) => {
            log::error!("{e}");
            eprintln!("pandora-ilert: {e}");
            e.exit().into()
        }
    }
}
