-- Rows for the harness's `pandora` database, stored the way Pandora's console and server store
-- text (HTML-entity-encoded: é as &eacute;, ' as &#039;, & as &amp;, space as &#x20; in places).
-- Alert 1 is the one bench/ looks up.

INSERT INTO tgrupo (id_grupo, nombre, description) VALUES
  (2, 'Serveurs &amp; r&eacute;seau', 'Groupe &quot;prod&quot;');

INSERT INTO tagente (id_agente, nombre, alias, direccion, id_grupo, os_version) VALUES
  (1, '8f14e45fceea167a5a36dedd4bea2543', 'Caf&eacute;&#x20;de&#x20;l&#039;Op&eacute;ra', '10.0.0.5', 2, 'Debian 12');

INSERT INTO tagente_modulo (id_agente_modulo, id_agente, id_tipo_modulo, nombre, descripcion, unit) VALUES
  (1, 1, 1, 'CPU&#x20;Load', 'Charge&#x20;CPU&#x20;&#40;moyenne&#41;', '%');

INSERT INTO tagente_estado (id_agente_modulo, id_agente, datos, estado, `timestamp`, utimestamp) VALUES
  (1, 1, '95.50000', 1, '2026-11-24 02:21:59', 1795486919);

INSERT INTO talert_templates (id, name, description, type, priority) VALUES
  (1, 'Critical&#x20;condition', 'CPU&#x20;tr&egrave;s&#x20;charg&eacute;e', 'critical', 4);

INSERT INTO talert_template_modules (id, id_agent_module, id_alert_template, times_fired) VALUES
  (1, 1, 1, 1);

INSERT INTO ttag (id_tag, name) VALUES (1, 'production'), (2, 'r&eacute;seau');
INSERT INTO ttag_module (id_tag, id_agente_modulo) VALUES (1, 1), (2, 1);

INSERT INTO tconfig (token, value) VALUES ('public_url', 'http://pandora.example/pandora_console');
