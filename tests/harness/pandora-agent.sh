#!/usr/bin/env bash
# Runs the real Pandora FMS unix agent (Debian package pandorafms-agent) once, so tests can check
# the XML data file it writes. See tests/harness/README.md for what the agent does and does not do.
#
#   pandora-agent.sh install
#       Download and unpack the package into <repo>/.cache/pandora-agent/ (once), check its Perl
#       modules load (installing Debian's perl package only if they do not), print the agent path.
#
#   pandora-agent.sh run WORKDIR [CONF_LINE...]
#       Write WORKDIR/pandora_agent.conf (temporal, logfile, agent_name, interval 300, debug 1,
#       transfer_mode local, server_path, pandora_exec) followed by each CONF_LINE (an argument
#       may hold several lines), run the agent once, print the absolute path of the data file.
#       Later lines win over earlier ones, so CONF_LINEs may override the defaults.
#
# stdout carries only the printed path; diagnostics go to stderr. Environment:
#   AGENT_NAME          agent_name (default pandora-ilert-test); also the data file's name prefix
#   AGENT_TIMEOUT       seconds one agent run may take (default 120)
#   PANDORA_AGENT_DEB   use this local .deb instead of downloading one
set -euo pipefail

readonly PACKAGE=pandorafms-agent
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
harness_init pandora-agent.sh
readonly ROOT="$repo_root"
readonly CACHE="$ROOT/.cache/pandora-agent"
readonly AGENT="$CACHE/usr/sbin/pandora_agent"
readonly EXEC_HELPER="$CACHE/usr/share/pandorafms/agent/pandora_agent_exec"
readonly STAMP="$CACHE/.installed"

usage() { # [exit-code]
    local code="${1:-64}"
    if [[ $code -eq 0 ]]; then
        sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
    else
        sed -n '2,18s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2
    fi
    exit "$code"
}

# The agent itself only uses core Perl modules; `perl -c` loads every `use` of the script, so it
# is the check. Debian's pandorafms-agent also depends on libterm-readkey-perl and
# libio-socket-ssl-perl, but only tentacle_client needs them, and transfer_mode local never runs it.
perl_deps_ok() {
    perl -c "$1" >/dev/null 2>&1
}

ensure_perl_deps() {
    local agent="$1"
    perl_deps_ok "$agent" && return 0
    # All of them are core modules, shipped by Debian's perl/perl-modules packages; a minimal
    # system may have only perl-base. Install perl only when it is missing (--no-upgrade: never
    # touch an installed one).
    if ! dpkg-query -W -f '${Status}' perl 2>/dev/null | grep -q 'ok installed'; then
        echo "pandora-agent.sh: the agent's Perl modules do not load, installing Debian's perl" >&2
        local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-upgrade perl)
        "${apt[@]}" >&2 || { apt-get update -q >&2 && "${apt[@]}" >&2; } \
            || die "apt-get install perl failed"
    fi
    perl_deps_ok "$agent" || {
        perl -c "$agent" >&2 || true
        die "the agent still does not compile: see the missing module above"
    }
}

download_deb() {
    local dir="$1"
    if [[ -n "${PANDORA_AGENT_DEB:-}" ]]; then
        cp "$PANDORA_AGENT_DEB" "$dir/" || die "cannot copy $PANDORA_AGENT_DEB"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found: set PANDORA_AGENT_DEB to a $PACKAGE .deb"
    # apt-get download needs package lists; a fresh machine may have none yet, so update once
    # only when the first attempt fails.
    (cd "$dir" && apt-get download -q "$PACKAGE" >/dev/null 2>"$dir/apt.err") \
        || { apt-get update -q >&2 && (cd "$dir" && apt-get download -q "$PACKAGE" >&2); } \
        || die "apt-get download $PACKAGE failed"
}

do_install() {
    if [[ -f "$STAMP" && -f "$AGENT" ]]; then
        printf '%s\n' "$AGENT"
        return 0
    fi
    mkdir -p "$ROOT/.cache"
    # Tests may call install concurrently: one installs, the others wait and then see the stamp.
    exec 9>"$ROOT/.cache/pandora-agent.lock"
    flock 9
    if [[ ! -f "$STAMP" || ! -f "$AGENT" ]]; then
        local tmp
        tmp="$(mktemp -d "$ROOT/.cache/pandora-agent.tmp.XXXXXX")"
        trap 'rm -rf "$tmp"' EXIT
        download_deb "$tmp"
        local debs=("$tmp/$PACKAGE"_*.deb)
        local deb="${debs[0]}"
        [[ -f "$deb" ]] || die "no $PACKAGE .deb found after download"
        dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
        [[ -f "$tmp/root/usr/sbin/pandora_agent" ]] || die "$deb has no usr/sbin/pandora_agent"
        ensure_perl_deps "$tmp/root/usr/sbin/pandora_agent"
        dpkg-deb -f "$deb" Version >"$tmp/root/.version"
        rm -rf "$CACHE"
        mv "$tmp/root" "$CACHE"
        rm -rf "$tmp"
        trap - EXIT
        printf '%s\n' "$(cat "$CACHE/.version")" >"$STAMP"
        echo "pandora-agent.sh: installed $PACKAGE $(cat "$CACHE/.version") into $CACHE" >&2
    fi
    flock -u 9
    exec 9>&-
    printf '%s\n' "$AGENT"
}

do_run() {
    [[ $# -ge 1 ]] || usage
    local workdir="$1"
    shift
    do_install >/dev/null
    mkdir -p "$workdir"
    workdir="$(cd "$workdir" && pwd)"
    mkdir -p "$workdir/temporal" "$workdir/server"

    local conf="$workdir/pandora_agent.conf"
    {
        echo "# written by tests/harness/pandora-agent.sh"
        echo "temporal $workdir/temporal"
        echo "logfile $workdir/agent.log"
        echo "agent_name ${AGENT_NAME:-pandora-ilert-test}"
        echo "interval 300"
        echo "debug 1"
        echo "transfer_mode local"
        echo "server_path $workdir/server"
        # The default points at /usr/share/...; module_exec with module_timeout needs the helper.
        echo "pandora_exec $EXEC_HELPER"
        local line
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$conf"

    # With debug 1 the agent writes <temporal>/<agent_name>.<epoch>.data, prints
    # "Wrote XML data file '<path>'" on stdout and exits without sending anything.
    local rc=0
    (cd "$workdir" && timeout "${AGENT_TIMEOUT:-120}" perl "$AGENT" "$workdir" \
        >"$workdir/agent.stdout" 2>"$workdir/agent.stderr") || rc=$?

    local data=""
    data="$(sed -n "s/.*Wrote XML data file '\(.*\)'\$/\1/p" "$workdir/agent.stdout" | tail -n1)"
    if [[ $rc -ne 0 || -z "$data" || ! -f "$data" ]]; then
        {
            if [[ $rc -eq 124 ]]; then
                echo "pandora-agent.sh: the agent did not finish within ${AGENT_TIMEOUT:-120}s"
            fi
            echo "pandora-agent.sh: no data file written (agent exit $rc); conf: $conf"
            echo "--- agent stdout/stderr:"
            tail -n 20 "$workdir/agent.stdout" "$workdir/agent.stderr" 2>/dev/null || true
            echo "--- tail of $workdir/agent.log:"
            tail -n 30 "$workdir/agent.log" 2>/dev/null || true
        } >&2
        exit 1
    fi
    printf '%s\n' "$data"
}

case "${1:-}" in
    install)
        shift
        [[ $# -eq 0 ]] || usage
        do_install
        ;;
    run)
        shift
        do_run "$@"
        ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
esac
