# Shared by the harness scripts (synapse.sh, mariadb.sh): logging, the repository root, and
# the pid-file handling that starts and stops a throwaway server safely. Sourced, not run.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   harness_init synapse.sh          # sets log/die's prefix, script_dir, repo_root
#   pid_of_running FILE PATTERN      # prints the pid if FILE names a live process whose
#                                    # command line matches PATTERN (guards against pid reuse)
#   stop_by_pid_file FILE PATTERN    # SIGTERM, 30 s grace, then SIGKILL; removes FILE

harness_init() {
    HARNESS_NAME="$1"
    script_dir="$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)"
    # Repo root: git if available, else two levels up from tests/harness/.
    repo_root="$(git -C "$script_dir" rev-parse --show-toplevel 2>/dev/null || (cd "$script_dir/../.." && pwd))"
}

log() { echo "$HARNESS_NAME: $*" >&2; }
die() { log "error: $*"; exit 1; }

pid_of_running() {
    local file="$1" pattern="$2" pid
    [[ -f "$file" ]] || return 1
    pid="$(cat "$file" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    grep -qa "$pattern" "/proc/$pid/cmdline" 2>/dev/null || return 1
    echo "$pid"
}

stop_by_pid_file() {
    local file="$1" pattern="$2" pid
    if ! pid="$(pid_of_running "$file" "$pattern")"; then
        rm -f "$file"
        log "not running"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 30 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$file"
    log "stopped (pid $pid)"
}
