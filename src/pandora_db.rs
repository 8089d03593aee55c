//! Reads an alert's text from the Pandora FMS database, read-only, by the numbers the safe
//! command definition puts on the command line (reference pandora-db.md). This is the edge:
//! settings resolved from `pandora_server.conf` and `[pandora_db]`, one connection, three
//! `SELECT`s, bounded by `[pandora_db] timeout`; the decoding and the use of what it read are
//! pure (`pandora::entities`, `pandora::alert_details`).
//!
//! The client is the `mysql` crate (blackbeam's rust-mysql-simple), synchronous like the rest
//! of the program, pure Rust (no libmysqlclient / libmariadb, so the packages keep their one
//! glibc dependency), built without default features: no TLS, no connection pool use, the
//! pure-Rust zlib. It speaks MariaDB's and MySQL's authentication plugins
//! (`mysql_native_password`, `caching_sha2_password`) over a unix socket or TCP. No TLS:
//! Pandora's own server talks to its database in the clear on the same host or a private
//! network, and the lookup reads nothing that server does not already send there.
//!
//! Cost, measured on the release binary (README "Performance"): +2.3 MiB (5.1 to 7.5 MiB), as
//! `mysql` and `mysql_common` always pull in `url` (with IDNA / ICU tables), `regex`,
//! `num-bigint` and `uuid`;
//! +0.2-0.5 ms per process start from the larger binary, nothing else unless `--from-db` is
//! used; the lookup itself (connect, three `SELECT`s, decoding) a few milliseconds on a local
//! socket. Weighed against: `mysqlclient-sys` (the C library, a second system dependency in
//! the packages), `mysql_async` / `sqlx` (an async runtime for one query), and a hand-written
//! protocol client (authentication plugins and their cryptography to maintain ourselves).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder, Value};

use crate::config::{PandoraDbConfig, Secret};
use crate::pandora::alert_details::{
    apply_details, mark_unavailable, module_status_name, AlertDetails, AlertIds,
};
use crate::pandora::entities::stored_text;
use crate::pandora::server_conf::{parse_server_conf, ServerDbSettings};
use crate::pandora::Alert;

/// Where MariaDB and MySQL put their unix socket on Debian/Ubuntu and RHEL-family systems, as
/// the MySQL clients find it for `localhost`.
const DEFAULT_SOCKETS: &[&str] = &[
    "/run/mysqld/mysqld.sock",
    "/var/run/mysqld/mysqld.sock",
    "/var/lib/mysql/mysql.sock",
    "/tmp/mysql.sock",
];

/// Why the details could not be read. Each message is one line and never holds the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PandoraDbError {
    /// The settings are incomplete or `pandora_server.conf` cannot be read.
    Settings(String),
    /// No connection (socket or host unreachable, refused, authentication failed).
    Connect(String),
    /// A query failed (missing table or column, lost connection).
    Query(String),
    /// The database does not know this alert or module.
    NotFound(String),
    /// The lookup took longer than `[pandora_db] timeout`.
    Timeout(Duration),
}

impl fmt::Display for PandoraDbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PandoraDbError::Settings(m) => write!(f, "database settings: {m}"),
            PandoraDbError::Connect(m) => write!(f, "cannot connect: {m}"),
            PandoraDbError::Query(m) => write!(f, "query failed: {m}"),
            PandoraDbError::NotFound(m) => write!(f, "not found: {m}"),
            PandoraDbError::Timeout(d) => {
                write!(
                    f,
                    "no answer within {} ms ([pandora_db] timeout)",
                    d.as_millis()
                )
            }
        }
    }
}

/// Where the database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket.
    Socket(PathBuf),
    /// Host and port.
    Tcp(String, u16),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Socket(p) => write!(f, "socket {}", p.display()),
            Endpoint::Tcp(h, p) => write!(f, "{h}:{p}"),
        }
    }
}

/// Resolved connection settings.
#[derive(Clone, Debug)]
pub struct DbSettings {
    /// Socket or host.
    pub endpoint: Endpoint,
    /// Database name.
    pub name: String,
    /// User.
    pub user: String,
    /// Password (may be empty).
    pub password: Secret,
    /// Bound of the whole lookup.
    pub timeout: Duration,
}

/// Combines `[pandora_db]` with the server's own settings: each key set in pandora-ilert's
/// config wins; the rest comes from `pandora_server.conf` (read only when something is
/// missing), then Pandora's defaults (`localhost`, 3306, `pandora`, `pandora`). `socket_exists`
/// tells which default socket is there (a parameter, so this stays testable).
pub fn resolve(
    config: &PandoraDbConfig,
    server: &ServerDbSettings,
    socket_exists: impl Fn(&Path) -> bool,
) -> Result<DbSettings, PandoraDbError> {
    let host = config
        .host
        .clone()
        .or_else(|| server.host.clone())
        .unwrap_or_else(|| "localhost".into());
    let port = config.port.or(server.port).unwrap_or(3306);
    let endpoint = match &config.socket {
        Some(s) => Endpoint::Socket(s.clone()),
        // "localhost" means the local socket to every MySQL client, Pandora's Perl DBI included.
        None if host == "localhost" => DEFAULT_SOCKETS
            .iter()
            .map(Path::new)
            .find(|p| socket_exists(p))
            .map(|p| Endpoint::Socket(p.to_path_buf()))
            .unwrap_or_else(|| Endpoint::Tcp("127.0.0.1".into(), port)),
        None => Endpoint::Tcp(host, port),
    };
    let password = match (&config.password, &server.password) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => Secret::new(p.clone()),
        (None, None) => Secret::new(""),
    };
    Ok(DbSettings {
        endpoint,
        name: config
            .name
            .clone()
            .or_else(|| server.name.clone())
            .unwrap_or_else(|| "pandora".into()),
        user: config
            .user
            .clone()
            .or_else(|| server.user.clone())
            .unwrap_or_else(|| "pandora".into()),
        password,
        timeout: config.timeout,
    })
}

/// The settings for `config`: reads `pandora_server.conf` unless `[pandora_db]` gives the
/// user and password itself (then the file is optional).
pub fn settings(config: &PandoraDbConfig) -> Result<DbSettings, PandoraDbError> {
    let self_sufficient = config.user.is_some() && config.password.is_some();
    let server = match std::fs::read_to_string(&config.server_conf) {
        Ok(text) => parse_server_conf(&text).map_err(|e| {
            PandoraDbError::Settings(format!("{}: {e}", config.server_conf.display()))
        })?,
        Err(_) if self_sufficient => ServerDbSettings::default(),
        Err(e) => {
            return Err(PandoraDbError::Settings(format!(
                "cannot read {} ({e}); run as the Pandora server's user, or set user and password \
                 under [pandora_db]",
                config.server_conf.display()
            )))
        }
    };
    resolve(config, &server, Path::exists)
}

/// Completes `alert` with its text from the database; when that cannot be read, marks it so
/// it still pages with the ids and says the details were unavailable. Never fails: losing the
/// alert is worse than paging without its agent name.
pub fn complete(config: &PandoraDbConfig, alert: &mut Alert) {
    let started = Instant::now();
    let ids = AlertIds::of(alert);
    match settings(config).and_then(|s| lookup(&s, ids)) {
        Ok(details) => {
            apply_details(alert, &details);
            log::debug!(
                "incident {}: details read from the Pandora database in {} ms",
                alert.key,
                started.elapsed().as_millis()
            );
        }
        Err(e) => mark_unavailable(alert, &e.to_string()),
    }
}

/// Looks the alert up, giving up after `settings.timeout` (see `bounded`).
pub fn lookup(settings: &DbSettings, ids: AlertIds) -> Result<AlertDetails, PandoraDbError> {
    if !ids.can_look_up() {
        return Err(PandoraDbError::NotFound(
            "the command line carries neither _id_alert_ nor _id_module_".into(),
        ));
    }
    bounded(settings, move |s| read(s, ids))
}

/// Checks, for `doctor`, that the settings resolve and that the database answers the queries
/// `lookup` sends, tables, columns and privileges included (for a module id no row has).
/// `Ok` says where it connected.
pub fn check(config: &PandoraDbConfig) -> Result<String, PandoraDbError> {
    let s = settings(config)?;
    let at = format!("user {} on {}, database {}", s.user, s.endpoint, s.name);
    bounded(&s, |s| {
        let mut conn = connect(s)?;
        let probe = AlertIds {
            alert: None,
            agent: None,
            module: Some(0),
        };
        for q in [main_query(probe), tags_query(0)] {
            conn.query_drop(q)
                .map_err(|e| PandoraDbError::Query(one_line(&e)))?;
        }
        Ok(())
    })?;
    Ok(at)
}

/// Runs `work` on its own thread and gives up after `settings.timeout`, whatever blocks (name
/// resolution, connecting, a server that accepts and never answers); the thread is left
/// behind on timeout and ends with the process.
fn bounded<T: Send + 'static>(
    settings: &DbSettings,
    work: impl FnOnce(&DbSettings) -> Result<T, PandoraDbError> + Send + 'static,
) -> Result<T, PandoraDbError> {
    let (tx, rx) = mpsc::channel();
    let owned = settings.clone();
    std::thread::Builder::new()
        .name("pandora-db".into())
        .spawn(move || {
            let _ = tx.send(work(&owned));
        })
        .map_err(|e| PandoraDbError::Connect(format!("cannot start the lookup: {e}")))?;
    match rx.recv_timeout(settings.timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(PandoraDbError::Timeout(settings.timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(PandoraDbError::Query(
            "the lookup ended without an answer".into(),
        )),
    }
}

/// Connects and reads; runs on the lookup thread.
fn read(s: &DbSettings, ids: AlertIds) -> Result<AlertDetails, PandoraDbError> {
    let mut conn = connect(s)?;
    let query = main_query(ids);
    let row: Option<mysql::Row> = conn
        .query_first(&query)
        .map_err(|e| PandoraDbError::Query(one_line(&e)))?;
    let Some(row) = row else {
        return Err(PandoraDbError::NotFound(not_found(ids)));
    };
    let cols: Vec<Value> = row.unwrap();
    let text = |i: usize| cols.get(i).map(value_text).unwrap_or_default();
    let number = |i: usize| text(i).trim().parse::<i64>().ok();
    let alias = text(2);
    let agent_name = text(3);
    let mut d = AlertDetails {
        agent_id: number(0).and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        module_id: number(1).and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        agent: if alias.trim().is_empty() {
            agent_name.clone()
        } else {
            alias
        },
        agent_name,
        address: text(4),
        group: text(5),
        module: text(6),
        module_description: text(7),
        unit: text(8),
        data: text(9),
        module_status: number(10).map(module_status_name).unwrap_or("").to_string(),
        alert_name: text(11),
        alert_description: text(12),
        priority: text(13).trim().to_string(),
        tags: Vec::new(),
        homeurl: String::new(),
    };
    // Tags and the console URL are extras: an older schema without them, or a read-only user
    // without access to them, still pages with the agent and module.
    match conn.query_first::<mysql::Row, _>(tags_query(d.module_id)) {
        Ok(row) => {
            let tags = row
                .and_then(|r| r.unwrap().first().map(value_text))
                .unwrap_or_default();
            d.tags = tags
                .split('\n')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
        }
        Err(e) => log::warn!("Pandora database: module tags not read: {}", one_line(&e)),
    }
    // tconfig holds much more than the URL: a dedicated user may well not be allowed to read
    // it, and console_url in the config then gives the links.
    match conn.query_first::<mysql::Row, _>(
        "SELECT CAST(value AS BINARY) FROM tconfig WHERE token = 'public_url' LIMIT 1",
    ) {
        Ok(row) => {
            d.homeurl = row
                .and_then(|r| r.unwrap().first().map(value_text))
                .unwrap_or_default()
                .trim()
                .to_string();
        }
        Err(e) => log::debug!("Pandora database: public_url not read: {}", one_line(&e)),
    }
    Ok(d)
}

/// Opens one connection with every wait bounded by the timeout.
fn connect(s: &DbSettings) -> Result<Conn, PandoraDbError> {
    let opts = OptsBuilder::new()
        .user(Some(s.user.as_str()))
        .pass(Some(s.password.expose()))
        .db_name(Some(s.name.as_str()))
        // Known up front: saves the round trip that would ask the server for it.
        .max_allowed_packet(Some(16 * 1024 * 1024))
        // Otherwise a TCP connection to localhost asks for the socket and connects again.
        .prefer_socket(false)
        .stmt_cache_size(0)
        .tcp_connect_timeout(Some(s.timeout))
        .read_timeout(Some(s.timeout))
        .write_timeout(Some(s.timeout));
    let opts = match &s.endpoint {
        Endpoint::Socket(p) => opts.socket(Some(p.to_string_lossy())),
        Endpoint::Tcp(host, port) => opts.ip_or_hostname(Some(host.as_str())).tcp_port(*port),
    };
    Conn::new(opts).map_err(|e| {
        if is_timeout(&e) {
            // The socket's own read/connect timeout (the same bound) fired first.
            PandoraDbError::Timeout(s.timeout)
        } else {
            PandoraDbError::Connect(format!("{}: {}", s.endpoint, one_line(&e)))
        }
    })
}

/// True when the driver gave up because a socket wait reached its timeout (EAGAIN on a socket
/// with a receive timeout, or ETIMEDOUT).
fn is_timeout(e: &mysql::Error) -> bool {
    match e {
        mysql::Error::IoError(io) => matches!(
            io.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        // The codec's error type is not re-exported by `mysql`; its Debug form names the
        // io::ErrorKind it wraps.
        mysql::Error::CodecError(c) => {
            let d = format!("{c:?}");
            d.contains("WouldBlock") || d.contains("TimedOut")
        }
        _ => false,
    }
}

/// One query for agent, group, module, state and template. Ids are `u64`, formatted into the
/// SQL as digits (no text from anywhere reaches it), which keeps it to one round trip: a
/// prepared statement costs three. Text columns are read as bytes (`CAST … AS BINARY`) so the
/// column's own character set decides the decoding, not the connection's.
fn main_query(ids: AlertIds) -> String {
    let module = match (ids.alert, ids.module) {
        // The alert id is authoritative: it names the module the alert is assigned to.
        (Some(a), _) => {
            format!("(SELECT atm0.id_agent_module FROM talert_template_modules atm0 WHERE atm0.id = {a})")
        }
        (None, Some(m)) => m.to_string(),
        (None, None) => "NULL".into(),
    };
    let template_join = match ids.alert {
        Some(a) => format!("LEFT JOIN talert_template_modules atm ON atm.id = {a}"),
        None => "LEFT JOIN talert_template_modules atm ON 1 = 0".into(),
    };
    format!(
        "SELECT a.id_agente, m.id_agente_modulo, \
         CAST(a.alias AS BINARY), CAST(a.nombre AS BINARY), CAST(a.direccion AS BINARY), \
         CAST(g.nombre AS BINARY), CAST(m.nombre AS BINARY), CAST(m.descripcion AS BINARY), \
         CAST(m.unit AS BINARY), CAST(e.datos AS BINARY), e.estado, \
         CAST(t.name AS BINARY), CAST(t.description AS BINARY), t.priority \
         FROM tagente_modulo m \
         JOIN tagente a ON a.id_agente = m.id_agente \
         LEFT JOIN tgrupo g ON g.id_grupo = a.id_grupo \
         LEFT JOIN tagente_estado e ON e.id_agente_modulo = m.id_agente_modulo \
         {template_join} \
         LEFT JOIN talert_templates t ON t.id = atm.id_alert_template \
         WHERE m.id_agente_modulo = {module} LIMIT 1"
    )
}

/// The module's tags, one a line.
fn tags_query(module_id: u64) -> String {
    format!(
        "SELECT GROUP_CONCAT(CAST(tg.name AS BINARY) ORDER BY tg.name SEPARATOR 0x0A) \
         FROM ttag_module tm JOIN ttag tg ON tg.id_tag = tm.id_tag \
         WHERE tm.id_agente_modulo = {module_id}"
    )
}

fn not_found(ids: AlertIds) -> String {
    match (ids.alert, ids.module) {
        (Some(a), _) => format!("no alert {a} (talert_template_modules) with its module and agent"),
        (None, Some(m)) => format!("no module {m} (tagente_modulo) with its agent"),
        (None, None) => "no ids".into(),
    }
}

/// A column as text: bytes decoded per `stored_text`; numbers as digits; NULL as empty.
fn value_text(v: &Value) -> String {
    match v {
        Value::NULL => String::new(),
        Value::Bytes(b) => stored_text(b),
        Value::Int(i) => i.to_string(),
        Value::UInt(u) => u.to_string(),
        other => format!("{other:?}"),
    }
}

/// The driver's message on one line.
/// The driver's error on one bounded line.
fn one_line(e: &mysql::Error) -> String {
    crate::text::one_line(&e.to_string(), 500)
}

impl std::error::Error for PandoraDbError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> PandoraDbConfig {
        PandoraDbConfig {
            server_conf: PathBuf::from("/nonexistent"),
            host: None,
            port: None,
            socket: None,
            name: None,
            user: None,
            password: None,
            timeout: Duration::from_secs(3),
        }
    }

    #[test]
    fn server_settings_fill_what_the_config_leaves_open() {
        let server = ServerDbSettings {
            host: Some("db.example".into()),
            port: Some(3307),
            name: Some("pandora7".into()),
            user: Some("pandora".into()),
            password: Some("serverpw".into()),
        };
        let mut c = config();
        c.user = Some("ilert_ro".into());
        c.password = Some(Secret::new("ro-pw"));
        let s = resolve(&c, &server, |_| false).unwrap();
        assert_eq!(s.endpoint, Endpoint::Tcp("db.example".into(), 3307));
        assert_eq!(s.name, "pandora7");
        assert_eq!(s.user, "ilert_ro");
        assert_eq!(s.password.expose(), "ro-pw");
    }

    #[test]
    fn localhost_means_the_local_socket() {
        let server = ServerDbSettings {
            host: Some("localhost".into()),
            ..Default::default()
        };
        let s = resolve(&config(), &server, |p| {
            p == Path::new("/var/lib/mysql/mysql.sock")
        })
        .unwrap();
        assert_eq!(
            s.endpoint,
            Endpoint::Socket("/var/lib/mysql/mysql.sock".into())
        );
        assert_eq!((s.name.as_str(), s.user.as_str()), ("pandora", "pandora"));
        let s = resolve(&config(), &server, |_| false).unwrap();
        assert_eq!(s.endpoint, Endpoint::Tcp("127.0.0.1".into(), 3306));
        let mut c = config();
        c.socket = Some("/tmp/x.sock".into());
        let s = resolve(&c, &server, |_| false).unwrap();
        assert_eq!(s.endpoint, Endpoint::Socket("/tmp/x.sock".into()));
    }

    #[test]
    fn queries_carry_only_the_numeric_ids() {
        let q = main_query(AlertIds {
            alert: Some(42),
            agent: Some(12),
            module: Some(345),
        });
        assert!(q.contains("atm0.id = 42"), "{q}");
        assert!(q.contains("atm.id = 42"), "{q}");
        let q = main_query(AlertIds {
            alert: None,
            agent: None,
            module: Some(345),
        });
        assert!(q.ends_with("WHERE m.id_agente_modulo = 345 LIMIT 1"), "{q}");
    }

    #[test]
    fn missing_server_conf_is_fine_with_own_credentials_only() {
        let e = settings(&config()).unwrap_err();
        assert!(
            matches!(&e, PandoraDbError::Settings(m) if m.contains("/nonexistent")),
            "{e}"
        );
        let mut c = config();
        c.user = Some("ro".into());
        c.password = Some(Secret::new("pw"));
        assert_eq!(settings(&c).unwrap().user, "ro");
    }

    #[test]
    fn nothing_to_look_up_is_not_found_without_connecting() {
        let s = resolve(&config(), &ServerDbSettings::default(), |_| false).unwrap();
        let e = lookup(&s, AlertIds::default()).unwrap_err();
        assert!(matches!(e, PandoraDbError::NotFound(_)), "{e}");
    }
}
