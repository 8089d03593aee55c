//! One function per subcommand; `run` dispatches. Commands load the config, set up logging,
//! and call into the modules that do the work.

mod alert;
mod config_check;
mod doctor;
mod flush;
mod man;
mod status;

use std::path::PathBuf;

use crate::cli::{Cli, Command, ConfigCommand};
use crate::config::{Config, DEFAULT_CONFIG_PATH};
use crate::error::AppError;
use crate::exit::Exit;

pub use flush::flush_all;
pub use status::{collect as collect_status, StatusReport};

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Exit, AppError> {
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let load = || -> Result<Config, AppError> {
        let config = Config::load(&config_path)?;
        crate::logging::init(&config, cli.verbose);
        Ok(config)
    };
    match cli.command {
        Command::Alert(args) => {
            let config = load()?;
            crate::signals::stop_on_termination(&config.state_dir);
            alert::run(&config, &args)
        }
        Command::Flush => {
            let config = load()?;
            crate::signals::stop_on_termination(&config.state_dir);
            flush::run(&config)
        }
        Command::Status { json } => status::run(&load()?, json),
        Command::Requeue => flush::requeue(&load()?),
        Command::Config(ConfigCommand::Check) => config_check::run(&config_path),
        Command::Doctor { command } => doctor::run(&config_path, command.as_deref()),
        Command::Man => man::run(),
    }
}
