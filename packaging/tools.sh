#!/usr/bin/env bash
# Installs the packaging tools, exact versions, into this repository's .cache/ (never into
# ~/.cargo/bin), and says what it installs, where, and about how long it takes:
#
#   bash packaging/tools.sh
#
#   .cache/cargo-tools/bin/   cargo-deb, cargo-generate-rpm (cargo install --locked
#                             --root .cache/cargo-tools: compiled from crates.io), and
#                             cargo-zigbuild for PANDORA_ILERT_GLIBC=2.28 only
#   .cache/zig/               a Python venv with zig (PyPI package ziglang), the same
#
# packaging/build.sh runs it and puts .cache/cargo-tools/bin first on PATH. Each tool is checked
# by its version: a later run takes a second and installs nothing. Times are for a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB=3.8.0
CARGO_GENERATE_RPM=0.21.1
CARGO_ZIGBUILD=0.24.1
ZIGLANG=0.17.1

tools_root="$PWD/.cache/cargo-tools"
zig_env="$PWD/.cache/zig"

say() { echo "packaging/tools.sh: $*" >&2; }

# install_crate CRATE VERSION MINUTES: cargo install, unless that exact version is there.
install_crate() {
    local crate=$1 version=$2 minutes=$3
    if "$tools_root/bin/$crate" --version 2>/dev/null | grep -qx "$crate $version"; then
        return 0
    fi
    say "installing $crate $version into $tools_root/bin (compiles from crates.io, ~$minutes min)"
    local start=$SECONDS
    cargo install --locked --quiet --root "$tools_root" "$crate" --version "=$version"
    say "  $crate $version installed in $((SECONDS - start)) s"
}

install_crate cargo-deb "$CARGO_DEB" 2
install_crate cargo-generate-rpm "$CARGO_GENERATE_RPM" 2
# zig only for a build against an older glibc (PANDORA_ILERT_GLIBC=2.28); the default build
# links glibc in and needs neither.
case "${PANDORA_ILERT_GLIBC:-static}" in static | native) exit 0 ;; esac
install_crate cargo-zigbuild "$CARGO_ZIGBUILD" 2

if ! [ "$("$zig_env/bin/python3" -m pip show ziglang 2>/dev/null | sed -n 's/^Version: //p')" = "$ZIGLANG" ]; then
    say "installing zig (PyPI ziglang==$ZIGLANG, ~50 MB) into $zig_env (~1 min)"
    start=$SECONDS
    python3 -m venv "$zig_env"
    "$zig_env/bin/python3" -m pip install --quiet --disable-pip-version-check "ziglang==$ZIGLANG"
    say "  zig installed in $((SECONDS - start)) s"
fi
