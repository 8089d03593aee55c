#!/usr/bin/env bash
# Builds the Debian and RPM packages of pandora-ilert into <target>/packages/ and prints their
# paths, one per line, on stdout. Safe to run again.
#
#   bash packaging/build.sh
#
# The binary is linked against glibc 2.28, so that one package runs on RHEL / Rocky / Alma 8
# and later and on Debian 10 and later, whatever machine builds it. That build uses
# cargo-zigbuild with zig from PyPI (package ziglang, installed into .cache/zig).
# PANDORA_ILERT_GLIBC=native builds against this machine's glibc instead, without zig.
#
# The first run installs cargo-deb, cargo-generate-rpm and cargo-zigbuild from crates.io
# (cargo install --locked; a few minutes each) and zig; later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

glibc="${PANDORA_ILERT_GLIBC:-2.28}"
triple="$(uname -m)-unknown-linux-gnu"

say() { echo "packaging/build.sh: $*" >&2; }

# ensure_tool SUBCOMMAND CRATE VERSION_REQ VERSION_PATTERN: a major version we know reads our
# [package.metadata.*] tables; another one is replaced.
ensure_tool() {
    if ! "cargo-$1" --version 2>/dev/null | grep -q "^$2 $4"; then
        say "installing $2 $3 from crates.io (once)"
        cargo install --locked --quiet "$2" --version "$3"
    fi
}
ensure_tool deb cargo-deb "^3.8" "3\."
ensure_tool generate-rpm cargo-generate-rpm "^0.21" "0\.21\."

target="${CARGO_TARGET_DIR:-target}"
out="$target/packages"
mkdir -p "$out"

if [ "$glibc" = native ]; then
    cargo build --release --locked --quiet
    bin_dir="$target/release"
    target_args=()
    deb_args=(--variant native)
else
    ensure_tool zigbuild cargo-zigbuild "^0.24" "0\.24\."
    zig_env=.cache/zig
    if ! "$zig_env/bin/python3" -m ziglang version >/dev/null 2>&1; then
        say "installing zig (PyPI package ziglang) into $zig_env (once)"
        python3 -m venv "$zig_env"
        "$zig_env/bin/python3" -m pip install --quiet --disable-pip-version-check ziglang
    fi
    CARGO_ZIGBUILD_PYTHON_PATH="$PWD/$zig_env/bin/python3" \
        cargo zigbuild --release --locked --quiet --target "$triple.$glibc"
    bin_dir="$target/$triple/release"
    target_args=(--target "$triple")
    deb_args=()
fi

# The manual page, generated from the command-line definition, beside the binary: both tools
# read `target/release/` assets from the directory of the build they package.
"$bin_dir/pandora-ilert" man | gzip -9n > "$bin_dir/pandora-ilert.1.gz"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rm -f "$out"/pandora-ilert_*.deb "$out"/pandora-ilert-*.rpm
cargo deb --no-build --quiet "${target_args[@]}" "${deb_args[@]}" --output "$out/" >/dev/null
cargo generate-rpm "${target_args[@]}" --target-dir "$target" --output "$out/" >/dev/null

ls "$out"/pandora-ilert_"$version"-*.deb
ls "$out"/pandora-ilert-"$version"-*.rpm
