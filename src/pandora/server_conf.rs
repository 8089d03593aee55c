//! The database settings in the Pandora server's own configuration,
//! `/etc/pandora/pandora_server.conf` (reference pandora-db.md): lines `dbname`, `dbuser`,
//! `dbpass`, `dbhost`, `dbport`, each a key, whitespace and the value; `#` starts a comment
//! line. Pure: the file's text in, the settings out.

/// The database settings found in `pandora_server.conf`; `None` for a key that is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerDbSettings {
    /// `dbhost` (Pandora's default is `localhost`).
    pub host: Option<String>,
    /// `dbport` (default 3306).
    pub port: Option<u16>,
    /// `dbname` (default `pandora`).
    pub name: Option<String>,
    /// `dbuser` (default `pandora`).
    pub user: Option<String>,
    /// `dbpass`.
    pub password: Option<String>,
}

/// Reads the `db*` lines of a `pandora_server.conf`. The value is the rest of the line with
/// surrounding blanks removed (a password may contain spaces); a later line wins, as in the
/// server; an unreadable `dbport` is reported with its line number.
pub fn parse_server_conf(text: &str) -> Result<ServerDbSettings, String> {
    let mut s = ServerDbSettings::default();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once(char::is_whitespace) {
            Some((k, v)) => (k, v.trim()),
            None => (line, ""),
        };
        let value = Some(value.to_string()).filter(|v| !v.is_empty());
        match key.to_ascii_lowercase().as_str() {
            "dbhost" => s.host = value,
            "dbname" => s.name = value,
            "dbuser" => s.user = value,
            "dbpass" => s.password = value,
            "dbport" => {
                s.port = match value {
                    None => None,
                    Some(v) => Some(v.parse().map_err(|_| {
                        format!("line {}: dbport {v:?} is not a port number", n + 1)
                    })?),
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_lines_are_read_and_the_rest_ignored() {
        let text = "# Pandora FMS server config\n\
                    servername pandora01\n\
                    dbname pandora\n\
                    dbuser pandora\n\
                    dbpass  s3cr3t with spaces \n\
                    #dbhost 10.0.0.1\n\
                    dbhost localhost\n\
                    dbport 3307\n\
                    verbosity 3\n";
        let s = parse_server_conf(text).unwrap();
        assert_eq!(
            s,
            ServerDbSettings {
                host: Some("localhost".into()),
                port: Some(3307),
                name: Some("pandora".into()),
                user: Some("pandora".into()),
                password: Some("s3cr3t with spaces".into()),
            }
        );
    }

    #[test]
    fn empty_values_and_missing_keys_are_none() {
        let s = parse_server_conf("dbpass\ndbname \t\n").unwrap();
        assert_eq!(s, ServerDbSettings::default());
    }

    #[test]
    fn a_bad_port_names_its_line() {
        let e = parse_server_conf("dbname pandora\ndbport x3306\n").unwrap_err();
        assert_eq!(e, "line 2: dbport \"x3306\" is not a port number");
    }
}
