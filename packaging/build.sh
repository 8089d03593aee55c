#!/usr/bin/env bash
# Builds the Debian and RPM packages of pandora-ilert into <target>/packages/ and prints their
# paths, one per line, on stdout. Installs the packaging tools from crates.io the first time
# (cargo install --locked; a few minutes), then reuses them. Safe to run again.
#
#   bash packaging/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools, by major version: a newer major may read [package.metadata.*] differently.
CARGO_DEB_VERSION="^3.8"
CARGO_GENERATE_RPM_VERSION="^0.21"

# ensure_tool SUBCOMMAND CRATE VERSION_REQ VERSION_PREFIX
ensure_tool() {
    if ! cargo "$1" --version 2>/dev/null | grep -q "^$2 $4"; then
        echo "packaging/build.sh: installing $2 $3 from crates.io (once)" >&2
        cargo install --locked --quiet "$2" --version "$3"
    fi
}
ensure_tool deb cargo-deb "$CARGO_DEB_VERSION" "3\."
ensure_tool generate-rpm cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION" "0\.21\."

target="${CARGO_TARGET_DIR:-target}"
out="$target/packages"
mkdir -p "$out"

cargo build --release --locked --quiet
# The manual page, generated from the command-line definition.
"$target/release/pandora-ilert" man | gzip -9n > "$target/release/pandora-ilert.1.gz"

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
rm -f "$out"/pandora-ilert_*.deb "$out"/pandora-ilert-*.rpm
cargo deb --no-build --quiet --output "$out/" >/dev/null
cargo generate-rpm --target-dir "$target" --output "$out/" >/dev/null

deb=$(ls "$out"/pandora-ilert_"$version"-*.deb)
rpm=$(ls "$out"/pandora-ilert-"$version"-*.rpm)
echo "$deb"
echo "$rpm"
