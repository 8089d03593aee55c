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

#[cfg(test)]
mod tests {
    use std::error::Error;
    use std::io;
    use std::path::PathBuf;

    use crate::http::TransportError;
    use crate::store::pacing::PaceError;
    use crate::store::{LockError, StoreError};

    fn store_error() -> StoreError {
        StoreError {
            action: "lock",
            path: PathBuf::from("/var/spool/pandora-ilert/locks/x.lock"),
            source: io::Error::from_raw_os_error(5),
        }
    }

    /// Every boundary's error is a `std::error::Error`, so `?` and error reporters chain them;
    /// adding a boundary without it fails to compile here.
    #[test]
    fn every_boundary_error_is_a_std_error() {
        fn is_error<E: Error + Send + Sync + 'static>() {}
        is_error::<super::AppError>();
        is_error::<crate::config::ConfigError>();
        is_error::<crate::pandora::InputError>();
        is_error::<crate::pandora::agent_data::XmlError>();
        is_error::<crate::pandora_db::PandoraDbError>();
        is_error::<StoreError>();
        is_error::<LockError>();
        is_error::<PaceError>();
        is_error::<TransportError>();
        is_error::<crate::chat::ChatError>();
        is_error::<crate::chat::api::ApiError>();
        is_error::<crate::ilert_api::ApiError>();
    }

    /// An error that wraps another names it as its `source()`.
    #[test]
    fn wrapping_errors_name_their_source() {
        let wrapped: Vec<Box<dyn Error>> = vec![
            Box::new(store_error()),
            Box::new(LockError::Store(store_error())),
            Box::new(PaceError::Store(store_error())),
            Box::new(super::AppError::Store(store_error())),
            Box::new(crate::chat::ChatError::Transport(TransportError::Timeout)),
            Box::new(crate::chat::api::ApiError::Transport(
                TransportError::Timeout,
            )),
        ];
        for e in wrapped {
            assert!(e.source().is_some(), "{e} has no source()");
        }
    }
}
