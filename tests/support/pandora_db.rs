//! The MariaDB server started by `tests/harness/mariadb.sh`, a private Pandora database per
//! test (the 7.0NG tables and columns pandora-ilert reads, `tests/harness/pandora-schema.sql`),
//! and rows stored the way Pandora's console and server store text.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use mysql::prelude::Queryable;
use mysql::{Conn, OptsBuilder};

const HOW_TO_START: &str = "these tests need the MariaDB server of tests/harness/mariadb.sh: run \
     `bash tests/harness/mariadb.sh start && source .cache/mariadb-run/env` before `cargo test`, \
     or run `tests/run.sh`, which does both";

const SCHEMA: &str = include_str!("../harness/pandora-schema.sql");

static DB_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The running server, from the harness's env file.
pub struct MariaDb {
    pub socket: String,
    pub user: String,
    pub password: String,
    admin_user: String,
    admin_password: String,
}

impl MariaDb {
    /// Reads `PANDORA_DB_*` from the environment; panics with the way to start the server
    /// otherwise (a database test must fail, not pass, without its server).
    pub fn from_env() -> MariaDb {
        let var = |k: &str| {
            std::env::var(k)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| panic!("{k} is not set: {HOW_TO_START}"))
        };
        let db = MariaDb {
            socket: var("PANDORA_DB_SOCKET"),
            user: var("PANDORA_DB_USER"),
            password: var("PANDORA_DB_PASSWORD"),
            admin_user: var("PANDORA_DB_ADMIN_USER"),
            admin_password: var("PANDORA_DB_ADMIN_PASSWORD"),
        };
        assert!(
            Path::new(&db.socket).exists(),
            "no MariaDB socket at {}: {HOW_TO_START}",
            db.socket
        );
        db
    }

    /// `[pandora_db]` for the harness's own `pandora` database (schema and seed rows), read
    /// with the read-only user.
    pub fn config_section(&self) -> String {
        format!(
            "[pandora_db]\nserver_conf = \"/nonexistent/pandora_server.conf\"\nsocket = \"{}\"\nname = \"pandora\"\nuser = \"{}\"\npassword = \"{}\"\n",
            self.socket, self.user, self.password
        )
    }

    fn admin(&self, database: Option<&str>) -> Conn {
        let opts = OptsBuilder::new()
            .socket(Some(self.socket.as_str()))
            .user(Some(self.admin_user.as_str()))
            .pass(Some(self.admin_password.as_str()))
            .db_name(database)
            .prefer_socket(false);
        Conn::new(opts)
            .unwrap_or_else(|e| panic!("MariaDB at {}: {e}: {HOW_TO_START}", self.socket))
    }

    /// A fresh database `pandora_t_<pid>_<n>` with Pandora's tables in `charset` (`utf8mb4`
    /// as Pandora 7.x creates them, or `latin1` as older installations have them); dropped
    /// when the value is dropped.
    pub fn create_database(&self, charset: &str) -> PandoraDatabase {
        let name = format!(
            "pandora_t_{}_{}",
            std::process::id(),
            DB_COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = self.admin(None);
        admin
            .query_drop(format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .query_drop(format!("CREATE DATABASE {name} CHARACTER SET {charset}"))
            .unwrap();
        let mut conn = self.admin(Some(&name));
        for stmt in statements(SCHEMA) {
            conn.query_drop(&stmt)
                .unwrap_or_else(|e| panic!("{e}\n{stmt}"));
        }
        PandoraDatabase {
            name,
            conn,
            admin,
            config: format!(
                "[pandora_db]\nserver_conf = \"/nonexistent/pandora_server.conf\"\nsocket = \"{}\"\nname = \"{{name}}\"\nuser = \"{}\"\npassword = \"{}\"\n",
                self.socket, self.user, self.password
            ),
        }
    }
}

/// The statements of an SQL file: `;` at the end of a line ends one; `--` lines are comments.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if line.trim_end().ends_with(';') {
            out.push(std::mem::take(&mut cur));
        }
    }
    out
}

/// One test's Pandora database.
pub struct PandoraDatabase {
    pub name: String,
    conn: Conn,
    admin: Conn,
    config: String,
}

/// One alert's rows: an agent, its group, a module with its state, a template assigned to it.
/// Text is given as people typed it; `insert` stores it entity-encoded like Pandora.
pub struct AlertRows {
    pub alert_id: u64,
    pub agent_id: u64,
    pub module_id: u64,
    pub agent_name: String,
    pub alias: String,
    pub address: String,
    pub group: String,
    pub module: String,
    pub module_description: String,
    pub data: String,
    pub unit: String,
    pub estado: i64,
    pub template: String,
    pub template_description: String,
    pub priority: u8,
    pub tags: Vec<String>,
}

impl AlertRows {
    pub fn typical(alert_id: u64) -> AlertRows {
        AlertRows {
            alert_id,
            agent_id: 12,
            module_id: 345,
            agent_name: "8f14e45fceea167a5a36dedd4bea2543".into(),
            alias: "web-01".into(),
            address: "10.0.0.5".into(),
            group: "Servers".into(),
            module: "CPU Load".into(),
            module_description: "CPU load average".into(),
            data: "95.50000".into(),
            unit: "%".into(),
            estado: 1,
            template: "Critical condition".into(),
            template_description: "The module is critical".into(),
            priority: 4,
            tags: Vec::new(),
        }
    }
}

impl PandoraDatabase {
    /// `[pandora_db]` for pandora-ilert's config: this database, the harness's read-only user.
    pub fn config_section(&self) -> String {
        self.config.replace("{name}", &self.name)
    }

    /// Runs SQL as the admin user in this database.
    pub fn exec(&mut self, sql: &str) {
        self.conn
            .query_drop(sql)
            .unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }

    /// Stores the rows, text encoded with `safe_input` as Pandora stores it.
    pub fn insert(&mut self, r: &AlertRows) {
        self.insert_encoded(r, &safe_input);
    }

    /// Stores the rows with text encoded by `encode` (an SQL literal is made of its bytes).
    pub fn insert_encoded(&mut self, r: &AlertRows, encode: &dyn Fn(&str) -> Vec<u8>) {
        let t = |s: &str| sql_bytes(&encode(s));
        let gid = r.agent_id + 1000;
        let tid = r.alert_id + 2000;
        let sql = [
            format!(
                "INSERT INTO tgrupo (id_grupo, nombre) VALUES ({gid}, {})",
                t(&r.group)
            ),
            format!(
                "INSERT INTO tagente (id_agente, nombre, alias, direccion, id_grupo) VALUES ({}, {}, {}, {}, {gid})",
                r.agent_id,
                t(&r.agent_name),
                t(&r.alias),
                t(&r.address)
            ),
            format!(
                "INSERT INTO tagente_modulo (id_agente_modulo, id_agente, id_tipo_modulo, nombre, descripcion, unit) \
                 VALUES ({}, {}, 1, {}, {}, {})",
                r.module_id,
                r.agent_id,
                t(&r.module),
                t(&r.module_description),
                t(&r.unit)
            ),
            format!(
                "INSERT INTO tagente_estado (id_agente_modulo, id_agente, datos, estado, `timestamp`, utimestamp) \
                 VALUES ({}, {}, {}, {}, '2026-11-24 02:21:59', 1795486919)",
                r.module_id,
                r.agent_id,
                t(&r.data),
                r.estado
            ),
            format!(
                "INSERT INTO talert_templates (id, name, description, type, priority) VALUES ({tid}, {}, {}, 'critical', {})",
                t(&r.template),
                t(&r.template_description),
                r.priority
            ),
            format!(
                "INSERT INTO talert_template_modules (id, id_agent_module, id_alert_template, times_fired) \
                 VALUES ({}, {}, {tid}, 1)",
                r.alert_id, r.module_id
            ),
        ];
        for s in sql {
            self.exec(&s);
        }
        for tag in &r.tags {
            self.exec(&format!("INSERT INTO ttag (name) VALUES ({})", t(tag)));
            self.exec(&format!(
                "INSERT INTO ttag_module (id_tag, id_agente_modulo) VALUES (LAST_INSERT_ID(), {})",
                r.module_id
            ));
        }
    }
}

impl Drop for PandoraDatabase {
    fn drop(&mut self) {
        let _ = self
            .admin
            .query_drop(format!("DROP DATABASE IF EXISTS {}", self.name));
    }
}

/// A string literal made of exact bytes (`X'…'`): the column's character set takes them as they
/// are, as when Pandora's own client wrote them.
pub fn sql_bytes(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    if hex.is_empty() {
        "''".into()
    } else {
        format!("X'{hex}'")
    }
}

/// Text as Pandora's console (`io_safe_input`) and server (`safe_input`) store it: HTML 4
/// named entities for Latin-1 letters (`é` → `&eacute;`), `&amp;` `&lt;` `&gt;` `&quot;`,
/// `'` → `&#039;`, `\` → `&#92;`, `(` `)` → `&#40;` `&#41;`, and control characters and the
/// space as `&#xNN;` (shared reference pandora-db.md and pandora.md §1.2). Characters without a
/// named entity (emoji) stay as UTF-8.
pub fn safe_input(text: &str) -> Vec<u8> {
    const LATIN1: [&str; 96] = [
        "nbsp", "iexcl", "cent", "pound", "curren", "yen", "brvbar", "sect", "uml", "copy", "ordf",
        "laquo", "not", "shy", "reg", "macr", "deg", "plusmn", "sup2", "sup3", "acute", "micro",
        "para", "middot", "cedil", "sup1", "ordm", "raquo", "frac14", "frac12", "frac34", "iquest",
        "Agrave", "Aacute", "Acirc", "Atilde", "Auml", "Aring", "AElig", "Ccedil", "Egrave",
        "Eacute", "Ecirc", "Euml", "Igrave", "Iacute", "Icirc", "Iuml", "ETH", "Ntilde", "Ograve",
        "Oacute", "Ocirc", "Otilde", "Ouml", "times", "Oslash", "Ugrave", "Uacute", "Ucirc",
        "Uuml", "Yacute", "THORN", "szlig", "agrave", "aacute", "acirc", "atilde", "auml", "aring",
        "aelig", "ccedil", "egrave", "eacute", "ecirc", "euml", "igrave", "iacute", "icirc",
        "iuml", "eth", "ntilde", "ograve", "oacute", "ocirc", "otilde", "ouml", "divide", "oslash",
        "ugrave", "uacute", "ucirc", "uuml", "yacute", "thorn", "yuml",
    ];
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            '\\' => out.push_str("&#92;"),
            '(' => out.push_str("&#40;"),
            ')' => out.push_str("&#41;"),
            '€' => out.push_str("&euro;"),
            c if (c as u32) <= 32 => out.push_str(&format!("&#x{:X};", c as u32)),
            c if (0xA0..=0xFF).contains(&(c as u32)) => {
                out.push('&');
                out.push_str(LATIN1[(c as u32 - 0xA0) as usize]);
                out.push(';');
            }
            c => out.push(c),
        }
    }
    out.into_bytes()
}

/// Text written over a latin1 connection into a latin1 column, without entities: one byte per
/// Latin-1 letter (`é` → 0xE9), as older Pandora servers stored agent data.
pub fn latin1_bytes(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(c as u32).expect("latin1 text"))
        .collect()
}
