#!/usr/bin/env bash
# Builds the release binary and the benchmark's tools, then runs bench/bench.py, which prints
# the figures as a Markdown table. `bash bench/run.sh --quick` is a smoke run (a few minutes).
# Tools: a C compiler, python3 (with venv), curl and strace (installed with apt-get if missing).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl >/dev/null || missing+=(curl)
command -v strace >/dev/null || missing+=(strace)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
# shellcheck source=bench/tools.sh
source bench/tools.sh
install_packages "${missing[@]}"

# The binary the packages ship: glibc linked in, no dynamic loader (packaging/binary.sh).
PANDORA_ILERT_BIN="$PWD/$(bash packaging/binary.sh)"
export PANDORA_ILERT_BIN
# The fake ilert is its own small crate (its own workspace): the project's build and tests
# never compile it.
cargo build --release --quiet --manifest-path bench/fake-ilert/Cargo.toml --target-dir target/bench
cc -O2 -Wall -o target/bench/run1 bench/run1.c
cc -O2 -Wall -o target/bench/floors bench/floors/floors.c
# The Rust floor is linked like the binary measured (packaging/binary.sh): glibc linked in,
# not position-independent.
rustc -O -C target-feature=+crt-static -C relocation-model=static -o target/bench/noop-rust bench/floors/noop.rs

# Everything talks to 127.0.0.1 only: keep any proxy from the environment out of it.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
exec python3 bench/bench.py "$@"
