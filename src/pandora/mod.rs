//! Everything Pandora FMS hands us: alert macros on the command line, and (in `agent_xml`)
//! agent data files.

mod alert;

pub use alert::{fnv1a_hex, Alert, AlertInput, AlertKind, InputError, Severity};
