#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (one step, first run
# only), starts a real Synapse homeserver and a MariaDB server, runs every test including the
# `#[ignore]`d ones that need these harnesses, and stops the services.
#
# Everything installed goes into this repository's .cache/ (pinned versions), except the Debian
# packages rpm, logrotate, openssl and MariaDB's server and client (apt-get, as root). A plain `cargo test` runs the tests
# that need none of it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "cargo is required (rustup.rs)" >&2
  exit 1
fi

step() { echo "tests/run.sh: $*" >&2; }
started=$SECONDS

started_synapse=0
started_mariadb=0
cleanup() {
  if [ "$started_synapse" = 1 ]; then bash tests/harness/synapse.sh stop || true; fi
  if [ "$started_mariadb" = 1 ]; then bash tests/harness/mariadb.sh stop || true; fi
}
trap cleanup EXIT

# --- 1. harness tools: each installer is idempotent and quick once installed -------------------
step "1/4 harness tools (the first run installs them, ~11 min on 2 cores; later runs check them in seconds)"

# The packaging tests list the .rpm with rpm and check the logrotate rule with logrotate
# (dpkg-deb comes with Debian); the certificate test runs `openssl s_server`.
missing=()
command -v rpm >/dev/null || missing+=(rpm)
command -v logrotate >/dev/null || missing+=(logrotate)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    step "  ${missing[*]}: apt-get install (system packages, ~30 s)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    step "  missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) and run again"
    exit 1
  fi
fi

step "  the real Pandora agent: Debian's pandorafms-agent unpacked into .cache/pandora-agent (~2 s)"
bash tests/harness/pandora-agent.sh install >/dev/null

step "  Synapse (matrix-synapse, pinned with tests/harness/synapse-constraints.txt) into .cache/synapse-venv (~1 min)"
bash tests/harness/synapse.sh install

step "  packaging tools (pinned in packaging/tools.sh) into .cache/cargo-tools (~5 min: compiled from crates.io)"
bash packaging/tools.sh
export PATH="$PWD/.cache/cargo-tools/bin:$PATH"
step "  tools ready after $((SECONDS - started)) s"

# --- 2. services ------------------------------------------------------------------------------
step "2/4 starting Synapse on 127.0.0.1 (~10 s)"
bash tests/harness/synapse.sh start >/dev/null
started_synapse=1
# shellcheck disable=SC1091
source .cache/synapse-run/env
# The Pandora database for `alert --from-db` (tests/pandora_db.rs, bench/); the first start
# installs Debian's mariadb-server-core and mariadb-client-core (~30 s).
step "  starting MariaDB on a unix socket under .cache/mariadb-run (~15 s)"
bash tests/harness/mariadb.sh start >/dev/null
started_mariadb=1
# shellcheck disable=SC1091
source .cache/mariadb-run/env

# The tests talk only to servers on loopback: keep any proxy from the environment out of it.
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

# --- 3. lints -------------------------------------------------------------------------------
step "3/4 cargo fmt --check, cargo clippy (the first run compiles the dependencies: a few minutes)"
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings

# --- 4. tests -------------------------------------------------------------------------------
step "4/4 cargo test --all-targets -- --include-ignored (~3 min; the first run also compiles the tests and the release build of the packages)"
cargo test --all-targets -- --include-ignored 2>&1
# The README's first command: the native release build (fat LTO and the code layout of
# link/hot-text.ld, which no test build above uses) and its dry run.
step "  the demo, bash pandora/demo.sh (~3 min the first time: the native release build)"
bash pandora/demo.sh >/dev/null
step "all green in $((SECONDS - started)) s"
