#!/usr/bin/env bash
# Runs a throwaway MariaDB server on a unix socket for the tests of `alert --from-db`.
#
#   tests/harness/mariadb.sh start    install (once) + fresh datadir + run + users + schema + env file
#   tests/harness/mariadb.sh stop     stop the server started by `start` (harmless if not running)
#   tests/harness/mariadb.sh status   say whether it runs, and where (exit 1 if not running)
#
# After `start`, tests `source .cache/mariadb-run/env` (path printed on stdout), which sets
#   PANDORA_DB_SOCKET          the server's unix socket (no TCP: --skip-networking)
#   PANDORA_DB_USER/_PASSWORD  a read-only user (SELECT on the pandora% databases), as a site
#                              would create for pandora-ilert
#   PANDORA_DB_ADMIN_USER/_PASSWORD  a user that may create databases (the tests fill their own)
#   PANDORA_DB_NAME            `pandora`: the schema of tests/harness/pandora-schema.sql with the
#                              rows of pandora-seed.sql (bench/ reads alert 1 there)
#
# MariaDB comes from Debian's packages mariadb-server-core and mariadb-client-core (the server
# binary and the client, without the mariadb-server package's service that would start a
# system-wide server). Overridable: MARIADB_RUN_DIR, MARIADB_START_TIMEOUT.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
harness_init mariadb.sh

RUN_DIR="${MARIADB_RUN_DIR:-$repo_root/.cache/mariadb-run}"
START_TIMEOUT="${MARIADB_START_TIMEOUT:-60}"
DATA_DIR="$RUN_DIR/data"
SOCKET="$RUN_DIR/mysqld.sock"
PID_FILE="$RUN_DIR/mariadbd.pid"
ENV_FILE="$RUN_DIR/env"
LOG_FILE="$RUN_DIR/mariadbd.log"

RO_USER="pandora_ilert_ro"
RO_PASSWORD="ro-Pw-$$-test"
ADMIN_USER="pandora_test_admin"
ADMIN_PASSWORD="admin-Pw-$$-test"

ensure_installed() {
    if command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null \
        && command -v mariadb >/dev/null; then
        return 0
    fi
    [[ "$(id -u)" = 0 ]] || die "MariaDB is not installed and this is not root: apt-get install mariadb-server-core mariadb-client-core"
    command -v apt-get >/dev/null || die "MariaDB is not installed and there is no apt-get"
    log "installing mariadb-server-core and mariadb-client-core (one-off)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends mariadb-server-core mariadb-client-core >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends mariadb-server-core mariadb-client-core >/dev/null \
            || die "apt-get install mariadb-server-core mariadb-client-core failed"
    fi
}

running_pid() { pid_of_running "$PID_FILE" "mariadbd\\|mysqld"; }
stop_server() { stop_by_pid_file "$PID_FILE" "mariadbd\\|mysqld"; }

admin_sql() {
    mariadb --no-defaults --socket="$SOCKET" -u root --batch "$@"
}

start_server() {
    ensure_installed
    stop_server >/dev/null 2>&1 || true
    rm -rf "$RUN_DIR"
    mkdir -p "$DATA_DIR"
    local user
    user="$(id -un)"
    # The socket path must fit in sun_path (108 bytes).
    (( ${#SOCKET} < 100 )) || die "socket path $SOCKET is too long for a unix socket; set MARIADB_RUN_DIR"
    mariadb-install-db --no-defaults --datadir="$DATA_DIR" --user="$user" \
        --auth-root-authentication-method=socket --auth-root-socket-user="$user" \
        --skip-test-db >"$RUN_DIR/install.log" 2>&1 \
        || { cat "$RUN_DIR/install.log" >&2; die "mariadb-install-db failed"; }
    # Own datadir, socket only (no TCP port), small buffers: a test server.
    mariadbd --no-defaults --datadir="$DATA_DIR" --socket="$SOCKET" --skip-networking \
        --pid-file="$PID_FILE" --log-error="$LOG_FILE" --user="$user" \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --innodb-buffer-pool-size=32M --innodb-log-file-size=16M \
        --skip-name-resolve --max-connections=200 >/dev/null 2>&1 &
    local waited=0
    until [[ -S "$SOCKET" ]] && admin_sql -e "SELECT 1" >/dev/null 2>&1; do
        sleep 0.2
        waited=$((waited + 1))
        if (( waited > START_TIMEOUT * 5 )); then
            tail -n 30 "$LOG_FILE" >&2 || true
            die "mariadbd did not answer within ${START_TIMEOUT}s"
        fi
    done
    admin_sql <<SQL
CREATE USER '$RO_USER'@'localhost' IDENTIFIED BY '$RO_PASSWORD';
GRANT SELECT ON \`pandora%\`.* TO '$RO_USER'@'localhost';
CREATE USER '$ADMIN_USER'@'localhost' IDENTIFIED BY '$ADMIN_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$ADMIN_USER'@'localhost';
CREATE DATABASE pandora CHARACTER SET utf8mb4;
SQL
    admin_sql pandora <"$script_dir/pandora-schema.sql"
    admin_sql pandora <"$script_dir/pandora-seed.sql"
    cat >"$ENV_FILE" <<ENV
export PANDORA_DB_SOCKET='$SOCKET'
export PANDORA_DB_NAME='pandora'
export PANDORA_DB_USER='$RO_USER'
export PANDORA_DB_PASSWORD='$RO_PASSWORD'
export PANDORA_DB_ADMIN_USER='$ADMIN_USER'
export PANDORA_DB_ADMIN_PASSWORD='$ADMIN_PASSWORD'
ENV
    log "running (pid $(cat "$PID_FILE"), socket $SOCKET)"
    echo "$ENV_FILE"
}

case "${1:-}" in
    start) start_server ;;
    stop) stop_server ;;
    status)
        if pid="$(running_pid)"; then
            echo "running: pid $pid, socket $SOCKET, env $ENV_FILE"
        else
            echo "not running"
            exit 1
        fi
        ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 64 ;;
esac
