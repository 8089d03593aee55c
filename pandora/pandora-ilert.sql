-- pandora-ilert: registers the alert command "pandora-ilert" and its default action
-- "pandora-ilert default" in the Pandora FMS database (tables talert_commands and talert_actions).
--
-- Run it once against the Pandora database; running it again changes nothing:
--   mysql -u root -p pandora < /usr/share/pandora-ilert/pandora/pandora-ilert.sql
-- Then continue with README.md beside this file at step 4 (template with "Alert recovery" on).
--
-- The command line is command.txt beside this file, the safe definition: only numbers reach
-- the shell (_id_alert_, _id_agent_, _id_module_, _alert_priority_, _alert_times_fired_), plus
-- the server's _timestamp_ and field 1, which is the fixed word "alert" when the alert fires
-- and "resolved" when it recovers. pandora-ilert reads the agent, module, data and template
-- text itself, read-only, from this database (--from-db; settings from
-- /etc/pandora/pandora_server.conf or [pandora_db] in /etc/pandora-ilert/pandora-ilert.toml),
-- so no monitored host can inject shell commands through an agent alias, module name or data.
-- The incident key is "_id_alert_", never a field. The action's fields 2-20 stay empty.
--
-- The classic definition (command-classic-unsafe.txt, text macros in action fields) is
-- EXPOSED TO COMMAND INJECTION by any monitored host; it is not registered here.
--
-- No field is hidden (fields_hidden): no secret passes through Pandora. The ilert integration
-- key and the chat tokens stay in /etc/pandora-ilert/pandora-ilert.toml (mode 0640).
-- Values are stored as plain text (no apostrophe, backslash, &, < or >), which the console and
-- the server read the same as the HTML-entity-encoded text the console stores itself.

INSERT INTO `talert_commands`
  (`name`, `command`, `id_group`, `description`, `internal`,
   `fields_descriptions`, `fields_values`, `fields_hidden`)
SELECT
  'pandora-ilert',
  '/usr/bin/pandora-ilert alert --from-db --event "_field1_" --alert-id "_id_alert_" --agent-id "_id_agent_" --module-id "_id_module_" --priority "_alert_priority_" --times-fired "_alert_times_fired_" --timestamp "_timestamp_"',
  0,
  'Sends the alert to ilert (ALERT / RESOLVE with a stable key) and keeps its chat incident channel. Only ids on the command line: the text is read from the Pandora database. Needs /etc/pandora-ilert/pandora-ilert.toml; check the setup with: pandora-ilert doctor',
  0,
  '["Event: alert or resolved (do not change)","","","","","","","","","","","","","","","","","","",""]',
  '["alert,Alert;resolved,Resolved","","","","","","","","","","","","","","","","","","",""]',
  '["","","","","","","","","","","","","","","","","","","",""]'
FROM DUAL
WHERE NOT EXISTS (SELECT 1 FROM `talert_commands` WHERE `name` = 'pandora-ilert');

INSERT INTO `talert_actions`
  (`name`, `id_alert_command`, `id_group`, `action_threshold`,
   `field1`, `field2`, `field3`, `field4`, `field5`, `field6`, `field7`,
   `field8`, `field9`, `field10`, `field11`, `field12`, `field13`, `field14`,
   `field15`, `field16`, `field17`, `field18`, `field19`, `field20`,
   `field1_recovery`, `field2_recovery`, `field3_recovery`, `field4_recovery`, `field5_recovery`,
   `field6_recovery`, `field7_recovery`, `field8_recovery`, `field9_recovery`, `field10_recovery`,
   `field11_recovery`, `field12_recovery`, `field13_recovery`, `field14_recovery`, `field15_recovery`,
   `field16_recovery`, `field17_recovery`, `field18_recovery`, `field19_recovery`, `field20_recovery`)
SELECT
  'pandora-ilert default', c.`id`, 0, 0,
  -- field1 .. field20: values when the alert fires
  'alert', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '',
  -- field1_recovery .. field20_recovery: values when it recovers
  'resolved', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', '', ''
FROM `talert_commands` c
WHERE c.`name` = 'pandora-ilert'
  AND NOT EXISTS (SELECT 1 FROM `talert_actions` a WHERE a.`name` = 'pandora-ilert default');
