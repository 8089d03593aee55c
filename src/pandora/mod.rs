//! Everything Pandora FMS hands us and takes from us: alert macros on the command line, agent
//! data files (`agent_data`), and the module XML a plugin prints (`module_xml`).

pub mod agent_data;
mod alert;
pub mod argv;
pub mod module_xml;

pub use alert::{fnv1a_hex, Alert, AlertInput, AlertKind, InputError, SEVERITY_NAMES};
