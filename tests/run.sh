#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs and starts what the tests need (a real
# Synapse homeserver, the real Pandora agent, a MariaDB server), runs every test, and stops the services.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null; then
  echo "cargo is required (rustup.rs)" >&2
  exit 1
fi

# Services and tools the integration tests use; each script is idempotent.
started_synapse=0
started_mariadb=0
cleanup() {
  if [ "$started_synapse" = 1 ]; then bash tests/harness/synapse.sh stop || true; fi
  if [ "$started_mariadb" = 1 ]; then bash tests/harness/mariadb.sh stop || true; fi
}
trap cleanup EXIT

if [ -f tests/harness/pandora-agent.sh ]; then
  bash tests/harness/pandora-agent.sh install
fi
if [ -f tests/harness/synapse.sh ]; then
  bash tests/harness/synapse.sh start
  started_synapse=1
  # shellcheck disable=SC1091
  source .cache/synapse-run/env
fi
# The Pandora database for `alert --from-db` (tests/pandora_db.rs, bench/).
if [ -f tests/harness/mariadb.sh ]; then
  bash tests/harness/mariadb.sh start
  started_mariadb=1
  # shellcheck disable=SC1091
  source .cache/mariadb-run/env
fi

# The packaging tests list the .rpm with rpm and check the logrotate rule with logrotate
# (dpkg-deb comes with Debian). Installed once, quietly.
missing=()
command -v rpm >/dev/null || missing+=(rpm)
command -v logrotate >/dev/null || missing+=(logrotate)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The tests talk only to servers on loopback: keep any proxy from the environment out of it.
export NO_PROXY="127.0.0.1,localhost,::1${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets 2>&1
