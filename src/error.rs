//! The application-level error: one variant per boundary, each mapped to an exit code.

use std::fmt;

use crate::config::ConfigError;
use crate::exit::Exit;
use crate::pandora::InputError;
use crate::store::StoreError;

/// Anything that ends a command early.
#[derive(Debug)]
pub enum AppError {
    /// The command line was wrong.
    Usage(String),
    /// The alert could not be understood.
    Input(InputError),
    /// The configuration is wrong.
    Config(ConfigError),
    /// The state directory could not be written.
    Store(StoreError),
    /// A bug or an impossible state.
    Internal(String),
}

impl AppError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            AppError::Usage(_) => Exit::Usage,
            AppError::Input(_) => Exit::DataErr,
            AppError::Config(_) => Exit::Config,
            AppError::Store(_) => Exit::CantCreate,
            AppError::Internal(_) => Exit::Software,
        }
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Usage(m) => write!(f, "usage: {m}"),
            AppError::Input(e) => write!(f, "bad alert input: {e}"),
            AppError::Config(e) => write!(f, "{e}"),
            AppError::Store(e) => write!(f, "state directory: {e}"),
            AppError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        AppError::Config(e)
    }
}

impl std::error::Error for AppError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AppError::Input(e) => Some(e),
            AppError::Config(e) => Some(e),
            AppError::Store(e) => Some(e),
            AppError::Usage(_) | AppError::Internal(_) => None,
        }
    }
}
