#!/usr/bin/env bash
# Builds pandora-ilert and shows, without credentials or network, the exact ilert requests
# for a firing and a recovery, run the way the Pandora server runs the alert command.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "pandora/demo.sh: building pandora-ilert (cargo build --release: about 4 minutes the first time, seconds later)..." >&2
cargo build --release --quiet
bin="$PWD/target/release/pandora-ilert"
# A config holding keys should not be world-readable; the binary warns otherwise.
cfg=$(mktemp /tmp/pandora-ilert-demo.XXXXXX.toml)
trap 'rm -f "$cfg"' EXIT
install -m 0640 pandora/demo.toml "$cfg"

echo "== firing (field1 = alert) =="
/bin/sh -c "$bin --config $cfg alert --event \"\"'alert'\"\" --alert-id \"\"'6182268'\"\" \
  --agent \"\"'web-01'\"\" --module \"\"'CPU Load'\"\" --data \"\"'95.5'\"\" --unit \"\"'%'\"\" \
  --severity \"\"'Critical'\"\" --summary \"\"''\"\" --timestamp \"\"'2026/11/24 02:21:59'\"\" \
  --group \"\"'Servers'\"\" --homeurl \"\"'http://pandora.example/pandora_console'\"\" \
  --agent-id \"\"'12'\"\" --module-id \"\"'345'\"\" --dry-run"

echo
echo "== recovery (field1 recovery = resolved, [RECOVER] on text fields) =="
/bin/sh -c "$bin --config $cfg alert --event \"\"'resolved'\"\" --alert-id \"\"'6182268'\"\" \
  --agent \"\"'[RECOVER]web-01'\"\" --module \"\"'[RECOVER]CPU Load'\"\" --data \"\"'12'\"\" --unit \"\"'[RECOVER]%'\"\" \
  --severity \"\"'[RECOVER]Critical'\"\" --summary \"\"''\"\" --timestamp \"\"'[RECOVER]2026/11/24 02:31:59'\"\" \
  --group \"\"'[RECOVER]Servers'\"\" --dry-run"

echo
echo "== routes =="
"$bin" --config "$cfg" config check
