#!/usr/bin/env bash
# Builds the Debian and RPM packages of pandora-ilert into <target>/packages/ and prints their
# paths, one per line, on stdout. Safe to run again.
#
#   bash packaging/build.sh
#
# The binary has glibc linked in (packaging/binary.sh), so that one package runs on any
# Linux 3.2 or later (RHEL / Rocky / Alma 8, Debian 10, and before), whatever machine builds
# it, and starts without the dynamic loader. PANDORA_ILERT_GLIBC=native builds a binary
# linked dynamically against this machine's glibc instead; PANDORA_ILERT_GLIBC=2.28 one linked
# dynamically against glibc 2.28 (cargo-zigbuild with zig from PyPI, package ziglang,
# installed into .cache/zig).
#
# The first run installs the packaging tools (pinned versions) into .cache/ with
# packaging/tools.sh, which says what it installs and how long that takes; later runs reuse them.
set -euo pipefail
cd "$(dirname "$0")/.."

glibc="${PANDORA_ILERT_GLIBC:-static}"
export PANDORA_ILERT_GLIBC="$glibc"
triple="$(uname -m)-unknown-linux-gnu"

# Run from `cargo test` (tests/packaging.rs), this script inherits the variables cargo sets for
# a test process. Build scripts of dependencies (ring's) track CARGO_MANIFEST_DIR, so its value
# there and its absence in a shell made each build redo ~50 s of work: build the same way from
# anywhere.
while read -r name; do
    unset "$name"
done < <(env | sed -n 's/^\(CARGO_MANIFEST_[A-Z_]*\|CARGO_PKG_[A-Z_]*\|CARGO_CRATE_NAME\|CARGO_BIN_NAME\|CARGO_PRIMARY_PACKAGE\|CARGO_TARGET_TMPDIR\|OUT_DIR\)=.*/\1/p')

bash packaging/tools.sh
export PATH="$PWD/.cache/cargo-tools/bin:$PATH"

target="${CARGO_TARGET_DIR:-target}"
out="$target/packages"
mkdir -p "$out"

case "$glibc" in
static)
    bin_dir="$(dirname "$(bash packaging/binary.sh)")"
    target_args=(--target "$triple")
    deb_args=()
    ;;
native)
    cargo build --release --locked --quiet
    bin_dir="$target/release"
    target_args=()
    deb_args=(--variant native)
    ;;
*)
    CARGO_ZIGBUILD_PYTHON_PATH="$PWD/.cache/zig/bin/python3" \
        cargo zigbuild --release --locked --quiet --target "$triple.$glibc"
    bin_dir="$target/$triple/release"
    target_args=(--target "$triple")
    deb_args=(--variant glibc228)
    ;;
esac

# The manual page, generated from the command-line definition, beside the binary: both tools
# read `target/release/` assets from the directory of the build they package.
"$bin_dir/pandora-ilert" man | gzip -9n > "$bin_dir/pandora-ilert.1.gz"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rm -f "$out"/pandora-ilert_*.deb "$out"/pandora-ilert-*.rpm
cargo deb --no-build --quiet "${target_args[@]}" "${deb_args[@]}" --output "$out/" >/dev/null
cargo generate-rpm "${target_args[@]}" --target-dir "$target" --output "$out/" >/dev/null

ls "$out"/pandora-ilert_"$version"-*.deb
ls "$out"/pandora-ilert-"$version"-*.rpm
