#!/usr/bin/env bash
# Builds the release binary and runs the benchmarks (bench/bench.py); prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
exec python3 bench/bench.py
