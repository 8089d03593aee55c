# Sourced by the bench scripts: `install_packages <Debian package>...` installs what a script
# found missing (with apt-get, as root), or says what to install and exits.
install_packages() {
  [ $# -eq 0 ] && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  else
    echo "$(basename "$0"): please install $*" >&2
    exit 1
  fi
}
