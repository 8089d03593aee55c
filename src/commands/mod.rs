//! One function per subcommand; `run` dispatches. Commands load the config, set up logging,
//! and call into the modules that do the work.

mod alert;
mod archive;
mod config_check;
mod doctor;
mod drill;
mod flush;
mod man;
mod plugin;
mod status;
mod timeline;
mod watch;
mod xml;

use std::path::PathBuf;

use crate::cli::{AlertArgs, Cli, Command, ConfigCommand};
use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::error::AppError;
use crate::exit::Exit;

#[cfg(test)]
pub use config_check::placeholder_warnings as config_warnings;
pub use flush::flush_all;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Exit, AppError> {
    // The alert command, once per Pandora alert, is dispatched apart: with the other commands
    // inlined, this function's stack frame was 10 KiB, pages an alert touched for nothing.
    if let Command::Alert(args) = &cli.command {
        return run_alert(
            &config_path(&cli),
            cli.verbose,
            cli.argv_note.as_deref(),
            args,
        );
    }
    run_other(cli)
}

fn config_path(cli: &Cli) -> PathBuf {
    cli.config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
}

/// Loads the config and sets up logging as the command line asks (`verbose`; `argv_note`,
/// what the reading of a Pandora command line has to say).
fn load(
    config_path: &std::path::Path,
    verbose: bool,
    argv_note: Option<&str>,
) -> Result<Config, AppError> {
    let config = Config::load(config_path)?;
    crate::logging::init(&config, verbose);
    if let Some(note) = argv_note {
        log::info!("{note}");
    }
    Ok(config)
}

#[inline(never)]
fn run_alert(
    config_path: &std::path::Path,
    verbose: bool,
    argv_note: Option<&str>,
    args: &AlertArgs,
) -> Result<Exit, AppError> {
    let config = load(config_path, verbose, argv_note)?;
    crate::signals::stop_on_termination(&config.state_dir, crate::signals::OnStop::ReportEvent);
    alert::run(&config, args)
}

#[inline(never)]
fn run_other(cli: Cli) -> Result<Exit, AppError> {
    let config_path = config_path(&cli);
    let load = || load(&config_path, cli.verbose, cli.argv_note.as_deref());
    match cli.command {
        Command::Alert(args) => {
            run_alert(&config_path, cli.verbose, cli.argv_note.as_deref(), &args)
        }
        Command::Flush => {
            let config = load()?;
            crate::signals::stop_on_termination(
                &config.state_dir,
                crate::signals::OnStop::Deliveries,
            );
            flush::run(&config)
        }
        Command::Status { json } => status::run(&load()?, json),
        Command::Requeue => flush::requeue(&load()?),
        Command::Config(ConfigCommand::Check) => config_check::run(&config_path),
        Command::Archive {
            older_than,
            dry_run,
        } => archive::run(&load()?, &older_than, dry_run),
        Command::Timeline { incident, json } => timeline::run(&load()?, &incident, json),
        Command::Watch { interval } => {
            watch::run(&load()?, std::time::Duration::from_secs(interval.max(1)))
        }
        // The plugin loads its own config: a broken one must still print a module and exit 0.
        Command::Test {
            route,
            priority,
            json,
        } => {
            let priority = if priority.eq_ignore_ascii_case("high") {
                crate::config::IlertPriority::High
            } else {
                crate::config::IlertPriority::Low
            };
            drill::run(&load()?, route.as_deref(), priority, json)
        }
        Command::Plugin => Ok(plugin::run(&config_path, cli.verbose)),
        Command::Xml { files } => {
            let config = load()?;
            crate::signals::stop_on_termination(
                &config.state_dir,
                crate::signals::OnStop::Deliveries,
            );
            xml::run(&config, &files)
        }
        Command::Doctor { command } => doctor::run(&config_path, command.as_deref()),
        Command::Man => man::run(),
    }
}
