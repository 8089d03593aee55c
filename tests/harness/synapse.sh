#!/usr/bin/env bash
# Runs a throwaway Matrix Synapse homeserver on 127.0.0.1 for the integration tests.
#
#   tests/harness/synapse.sh install  install the pinned Synapse (once) into SYNAPSE_VENV
#   tests/harness/synapse.sh start    install (once) + fresh config/data + run + users + env file
#   tests/harness/synapse.sh stop     stop the server started by `start` (harmless if not running)
#   tests/harness/synapse.sh status   say whether it runs, and where (exit 1 if not running)
#
# After `start`, tests `source .cache/synapse-run/env` (path printed on stdout).
# Overridable: SYNAPSE_VENV, SYNAPSE_RUN_DIR, SYNAPSE_PYTHON, SYNAPSE_START_TIMEOUT.
set -euo pipefail

# Pinned: installs from wheels only on CPython 3.11 (no Rust/C toolchain needed). Its
# dependencies are pinned too, by synapse-constraints.txt beside this script.
SYNAPSE_VERSION="1.163.2"
SERVER_NAME="localhost"

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
harness_init synapse.sh

VENV="${SYNAPSE_VENV:-$repo_root/.cache/synapse-venv}"
RUN_DIR="${SYNAPSE_RUN_DIR:-$repo_root/.cache/synapse-run}"
BASE_PYTHON="${SYNAPSE_PYTHON:-python3}"
START_TIMEOUT="${SYNAPSE_START_TIMEOUT:-120}"

PY="$VENV/bin/python"
CONFIG="$RUN_DIR/homeserver.yaml"
PID_FILE="$RUN_DIR/synapse.pid"
URL_FILE="$RUN_DIR/url"
ENV_FILE="$RUN_DIR/env"
LOG_FILE="$RUN_DIR/homeserver.log"
STDIO_LOG="$RUN_DIR/stdio.log"

# --- install ---------------------------------------------------------------

ensure_venv() {
    # Fast path: the venv already has exactly the pinned version. (Read the dist metadata:
    # synapse.__version__ gets git branch info appended when run inside a git checkout.)
    if [[ -x "$PY" ]] && "$PY" -c "import sys, importlib.metadata as m; sys.exit(m.version('matrix-synapse') != '$SYNAPSE_VERSION')" 2>/dev/null; then
        return 0
    fi
    log "installing matrix-synapse==$SYNAPSE_VERSION into $VENV (one-off, 30-50 s)"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$BASE_PYTHON" -m venv "$VENV"
    # -q hides progress but pip still prints errors; --prefer-binary avoids source builds.
    "$PY" -m pip install -q --disable-pip-version-check --no-input --prefer-binary \
        -c "$script_dir/synapse-constraints.txt" "matrix-synapse==$SYNAPSE_VERSION" \
        || { rm -rf "$VENV"; die "pip install matrix-synapse==$SYNAPSE_VERSION failed"; }
}

# --- process helpers -------------------------------------------------------

running_pid() { pid_of_running "$PID_FILE" "synapse.app.homeserver"; }
stop_server() { stop_by_pid_file "$PID_FILE" "synapse.app.homeserver"; }

show_logs() {
    log "---- tail of $LOG_FILE ----"
    tail -n 40 "$LOG_FILE" >&2 2>/dev/null || true
    log "---- tail of $STDIO_LOG ----"
    tail -n 40 "$STDIO_LOG" >&2 2>/dev/null || true
}

# --- config ----------------------------------------------------------------

free_port() {
    # Bind to port 0 and let the kernel pick; tiny race before synapse binds, acceptable here.
    "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

write_config() {
    local port="$1"
    "$PY" -m synapse.app.homeserver --server-name "$SERVER_NAME" --config-path "$CONFIG" \
        --data-directory "$RUN_DIR" --config-directory "$RUN_DIR" \
        --generate-config --report-stats=no >/dev/null

    # Rewrite the generated YAML with python (yaml ships with synapse) rather than sed.
    RUN_DIR="$RUN_DIR" CONFIG="$CONFIG" PORT="$port" LOG_FILE="$LOG_FILE" "$PY" - <<'PYEOF'
import os, secrets, yaml

run_dir, config, port, log_file = (os.environ[k] for k in ("RUN_DIR", "CONFIG", "PORT", "LOG_FILE"))
with open(config) as f:
    cfg = yaml.safe_load(f)

# Generous limits: tests create dozens of rooms/messages/invites in seconds.
fast = {"per_second": 1000, "burst_count": 10000}

cfg.update({
    # Client API only, loopback only; no federation listener at all.
    "listeners": [{
        "port": int(port), "bind_addresses": ["127.0.0.1"], "type": "http",
        "tls": False, "x_forwarded": False,
        "resources": [{"names": ["client"], "compress": False}],
    }],
    "database": {"name": "sqlite3", "args": {"database": os.path.join(run_dir, "homeserver.db")}},
    "pid_file": os.path.join(run_dir, "homeserver.pid"),
    "federation_domain_whitelist": [],
    "trusted_key_servers": [],
    "suppress_key_server_warning": True,
    "registration_shared_secret": secrets.token_urlsafe(32),
    "enable_registration": False,
    "report_stats": False,
    "presence": {"enabled": False},
    "url_preview_enabled": False,
    "enable_metrics": False,
    # Cheap password hashing: registering/logging in users is otherwise ~0.3 s each.
    "bcrypt_rounds": 4,
    "rc_message": fast,
    "rc_room_creation": fast,
    "rc_registration": fast,
    "rc_login": {"address": fast, "account": fast, "failed_attempts": fast},
    "rc_joins": {"local": fast, "remote": fast},
    "rc_joins_per_room": fast,
    "rc_invites": {"per_room": fast, "per_user": fast, "per_issuer": fast},
    "rc_third_party_invite": fast,
    "rc_admin_redaction": fast,
    "rc_profile": fast,
    "rc_user_directory": fast,
    "rc_key_requests": fast,
    "rc_media_create": fast,
    "rc_reports": fast,
    "rc_delayed_event_mgmt": fast,
    "rc_presence": {"per_user": fast},
})
for k in ("email", "public_baseurl"):
    cfg.pop(k, None)

with open(config, "w") as f:
    yaml.safe_dump(cfg, f, sort_keys=False)
os.chmod(config, 0o600)  # holds the shared secret

# Plain file log at WARNING in the run dir (the generated one buffers INFO).
log_cfg = {
    "version": 1,
    "formatters": {"precise": {"format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"}},
    "handlers": {"file": {"class": "logging.FileHandler", "formatter": "precise",
                          "filename": log_file, "encoding": "utf8"}},
    "root": {"level": "WARNING", "handlers": ["file"]},
    "disable_existing_loggers": False,
}
with open(cfg["log_config"], "w") as f:
    yaml.safe_dump(log_cfg, f, sort_keys=False)
PYEOF
}

# --- start -----------------------------------------------------------------

wait_ready() {
    # Bounded wait for /versions; bail out early if the process died.
    local url="$1" pid="$2"
    URL="$url" PID="$pid" TIMEOUT="$START_TIMEOUT" "$PY" - <<'PYEOF'
import os, sys, time, urllib.request
url, pid, timeout = os.environ["URL"], int(os.environ["PID"]), float(os.environ["TIMEOUT"])
deadline = time.monotonic() + timeout
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit("synapse exited during startup")
    try:
        with urllib.request.urlopen(url + "/_matrix/client/versions", timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.25)
sys.exit(f"synapse not ready after {timeout:.0f} s")
PYEOF
}

register_user() {
    local user="$1" pass="$2" admin_flag="$3" url="$4"
    "$VENV/bin/register_new_matrix_user" -c "$CONFIG" -u "$user" -p "$pass" "$admin_flag" "$url" >/dev/null
}

# A half-started server is useless to tests: show why, stop it, fail.
fail_start() {
    show_logs
    stop_server 2>/dev/null || true
    die "$1"
}

# Prints the access token for user/pass (never logged).
login_token() {
    local user="$1" pass="$2" url="$3"
    USER_NAME="$user" PASS="$pass" URL="$url" "$PY" - <<'PYEOF'
import json, os, sys, urllib.request
body = json.dumps({
    "type": "m.login.password",
    "identifier": {"type": "m.id.user", "user": os.environ["USER_NAME"]},
    "password": os.environ["PASS"],
    "initial_device_display_name": "pandora-ilert tests",
}).encode()
req = urllib.request.Request(os.environ["URL"] + "/_matrix/client/v3/login", data=body,
                             headers={"Content-Type": "application/json"}, method="POST")
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(json.load(r)["access_token"])
except urllib.error.HTTPError as e:
    sys.exit(f"login {os.environ['USER_NAME']} failed: HTTP {e.code} {e.read()[:200]!r}")
PYEOF
}

start_server() {
    # A previous server holds the data dir (and maybe the venv) open: stop it first.
    stop_server 2>/dev/null || true
    ensure_venv

    rm -rf "$RUN_DIR"
    mkdir -p "$RUN_DIR"
    chmod 700 "$RUN_DIR"

    local port url pid
    port="$(free_port)"
    url="http://127.0.0.1:$port"
    write_config "$port"

    # setsid + nohup: the server must outlive this script (and its terminal/CI step).
    setsid nohup "$PY" -m synapse.app.homeserver -c "$CONFIG" \
        </dev/null >"$STDIO_LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$url" >"$URL_FILE"

    wait_ready "$url" "$pid" || fail_start "synapse did not come up on $url"

    # Random passwords per run (hex: a leading "-" would be read as an option); tests only need tokens.
    local bot_pass alice_pass bob_pass
    read -r bot_pass alice_pass bob_pass < <("$PY" -c 'import secrets; print(*(secrets.token_hex(16) for _ in range(3)))')

    register_user pandora-bot "$bot_pass" -a "$url" || fail_start "registering pandora-bot failed"
    register_user alice "$alice_pass" --no-admin "$url" || fail_start "registering alice failed"
    register_user bob "$bob_pass" --no-admin "$url" || fail_start "registering bob failed"

    local bot_token alice_token bob_token
    bot_token="$(login_token pandora-bot "$bot_pass" "$url")" || fail_start "bot login failed"
    # A second login of the bot: a second device with its own token, as a second Pandora
    # server configured with the same bot user has (transaction ids are per device).
    local bot_token_2
    bot_token_2="$(login_token pandora-bot "$bot_pass" "$url")" || fail_start "second bot login failed"
    alice_token="$(login_token alice "$alice_pass" "$url")" || fail_start "alice login failed"
    bob_token="$(login_token bob "$bob_pass" "$url")" || fail_start "bob login failed"

    # Written with umask 077: the file holds live tokens.
    (
        umask 077
        cat >"$ENV_FILE" <<EOF
export MATRIX_HOMESERVER=$url
export MATRIX_SERVER_NAME=$SERVER_NAME
export MATRIX_BOT_TOKEN=$bot_token
export MATRIX_BOT_USER=@pandora-bot:$SERVER_NAME
export MATRIX_BOT_TOKEN_2=$bot_token_2
export MATRIX_ALICE_TOKEN=$alice_token
export MATRIX_ALICE_USER=@alice:$SERVER_NAME
export MATRIX_BOB_TOKEN=$bob_token
export MATRIX_BOB_USER=@bob:$SERVER_NAME
EOF
    )
    log "synapse $SYNAPSE_VERSION running at $url (pid $pid)"
    # The only stdout: the env file path, so callers can do ENV=$(synapse.sh start).
    echo "$ENV_FILE"
}

status_server() {
    local pid
    if pid="$(running_pid)"; then
        echo "running: pid $pid, $(cat "$URL_FILE" 2>/dev/null || echo 'url unknown'), env $ENV_FILE"
    else
        echo "not running"
        return 1
    fi
}

case "${1:-}" in
    install) ensure_venv ;;
    start) start_server ;;
    stop) stop_server ;;
    status) status_server ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
