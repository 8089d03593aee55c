//! Everything Pandora FMS hands us and takes from us: alert macros on the command line, agent
//! data files (`agent_data`), the module XML a plugin prints (`module_xml`), the text Pandora
//! stores in its database (`entities`, `alert_details`) and its server configuration
//! (`server_conf`).

pub mod agent_data;
mod alert;
pub mod alert_details;
pub mod argv;
pub mod entities;
pub mod module_xml;
pub mod server_conf;
pub mod text;

pub use alert::{Alert, AlertInput, AlertKind, InputError, Severity, SEVERITY_NAMES};
