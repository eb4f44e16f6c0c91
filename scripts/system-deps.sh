#!/usr/bin/env bash
# Debian packages trustledger needs; installed with apt-get when run as root.
set -euo pipefail
PACKAGES=(python3-venv postgresql-client poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk chromium libnss3-tools zbar-tools fonts-dejavu-core redis-server)
# --test: also what only the tests need — Go and the Go reference implementations of
# signed notes and transparency logs (golang.org/x/mod/sumdb), for tests/interop.
if [ "${1:-}" = "--test" ]; then
  PACKAGES+=(golang-go golang-golang-x-mod-dev)
fi
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "trustledger: missing Debian packages: ${missing[*]}" >&2
  echo "  install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
