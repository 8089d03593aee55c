#!/usr/bin/env bash
# Builds the binary the packages ship and the benchmark measures, and prints its path:
#
#   bash packaging/binary.sh
#
# glibc is linked in (`crt-static`) and the binary is not position-independent: no dynamic
# loader runs at all when it starts, which the alert command does once per Pandora alert
# (README, "Packages" and "Performance"), and it runs on any Linux 3.2 or later, whatever
# glibc the host has. Host names are looked up in /etc/hosts and DNS only (src/start.rs).
#
# A static glibc build needs `--target` (with `crt-static` in RUSTFLAGS alone, the
# proc-macro crates the build compiles for the compiler itself could not be made), so the
# binary is target/<triple>/release/pandora-ilert. RUSTFLAGS replaces .cargo/config.toml's
# flags: they are repeated here.
set -euo pipefail
cd "$(dirname "$0")/.."

triple="$(uname -m)-unknown-linux-gnu"
target="${CARGO_TARGET_DIR:-target}"
# Not position-independent (see build.rs), unless PANDORA_ILERT_PIE=1: then static-pie.
relocation="-C relocation-model=static"
[ "${PANDORA_ILERT_PIE:-}" = 1 ] && relocation=""
export RUSTFLAGS="-C target-feature=+crt-static $relocation -C symbol-mangling-version=v0"
cargo build --release --locked --quiet --target "$triple"
echo "$target/$triple/release/pandora-ilert"
