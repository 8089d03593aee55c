-- The tables and columns of a Pandora FMS 7.0NG database that pandora-ilert reads (alert
-- --from-db), with Pandora's names and types, written for the tests from the documented facts
-- (shared reference pandora-db.md: tagente, tgrupo, tagente_modulo, tagente_estado,
-- talert_templates, talert_template_modules; ttag, ttag_module and tconfig for tags and the
-- console URL). A subset of the columns, not Pandora's own schema file.
--
-- No character set here: the database's default decides (utf8mb4 as in Pandora 7.x, or latin1
-- as on older installations), so one file serves both. Statements end with ";" at the end of
-- a line; tests split them there.

CREATE TABLE tgrupo (
  id_grupo MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT,
  nombre TEXT,
  parent MEDIUMINT UNSIGNED NOT NULL DEFAULT 0,
  description TEXT,
  PRIMARY KEY (id_grupo)
) ENGINE = InnoDB;

CREATE TABLE tagente (
  id_agente INT UNSIGNED NOT NULL AUTO_INCREMENT,
  nombre VARCHAR(600) NOT NULL DEFAULT '',
  direccion TINYTEXT,
  comentarios VARCHAR(255) DEFAULT '',
  id_grupo INT UNSIGNED NOT NULL DEFAULT 0,
  os_version TINYTEXT,
  url_address MEDIUMTEXT,
  disabled TINYINT NOT NULL DEFAULT 0,
  alias VARCHAR(600) NOT NULL DEFAULT '',
  PRIMARY KEY (id_agente),
  KEY nombre (nombre(255))
) ENGINE = InnoDB;

CREATE TABLE tagente_modulo (
  id_agente_modulo INT UNSIGNED NOT NULL AUTO_INCREMENT,
  id_agente INT UNSIGNED NOT NULL DEFAULT 0,
  id_tipo_modulo SMALLINT NOT NULL DEFAULT 0,
  descripcion TEXT,
  nombre TEXT,
  unit TEXT,
  disabled TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (id_agente_modulo),
  KEY main_idx (id_agente_modulo, id_agente)
) ENGINE = InnoDB;

CREATE TABLE tagente_estado (
  id_agente_estado INT UNSIGNED NOT NULL AUTO_INCREMENT,
  id_agente_modulo INT NOT NULL DEFAULT 0,
  datos MEDIUMTEXT,
  `timestamp` DATETIME NOT NULL DEFAULT '1970-01-01 00:00:00',
  estado INT NOT NULL DEFAULT 0,
  id_agente INT NOT NULL DEFAULT 0,
  utimestamp BIGINT NOT NULL DEFAULT 0,
  last_status INT NOT NULL DEFAULT 0,
  PRIMARY KEY (id_agente_estado),
  KEY tae_am (id_agente_modulo)
) ENGINE = InnoDB;

CREATE TABLE talert_templates (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name TEXT,
  description MEDIUMTEXT,
  type VARCHAR(30) NOT NULL DEFAULT 'critical',
  priority TINYINT UNSIGNED NOT NULL DEFAULT 0,
  id_group MEDIUMINT UNSIGNED NULL DEFAULT 0,
  field1 TEXT,
  field1_recovery TEXT,
  PRIMARY KEY (id)
) ENGINE = InnoDB;

CREATE TABLE talert_template_modules (
  id INT UNSIGNED NOT NULL AUTO_INCREMENT,
  id_agent_module INT UNSIGNED NOT NULL,
  id_alert_template INT UNSIGNED NOT NULL,
  times_fired INT NOT NULL DEFAULT 0,
  last_fired BIGINT NOT NULL DEFAULT 0,
  priority TINYINT NOT NULL DEFAULT 0,
  disabled TINYINT NOT NULL DEFAULT 0,
  standby TINYINT NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  UNIQUE KEY id_agent_module (id_agent_module, id_alert_template)
) ENGINE = InnoDB;

CREATE TABLE ttag (
  id_tag INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL DEFAULT '',
  description TEXT,
  PRIMARY KEY (id_tag)
) ENGINE = InnoDB;

CREATE TABLE ttag_module (
  id_tag INT NOT NULL,
  id_agente_modulo INT NOT NULL DEFAULT 0,
  id_policy_module INT NOT NULL DEFAULT 0,
  PRIMARY KEY (id_tag, id_agente_modulo)
) ENGINE = InnoDB;

CREATE TABLE tconfig (
  id_config INT UNSIGNED NOT NULL AUTO_INCREMENT,
  token VARCHAR(100) NOT NULL DEFAULT '',
  value TEXT,
  PRIMARY KEY (id_config)
) ENGINE = InnoDB;
