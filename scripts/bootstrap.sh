#!/bin/sh
# bootstrap.sh -- installs the Debian 12 packages portlab needs, when missing.
#
#   scripts/bootstrap.sh          what building and running need
#   scripts/bootstrap.sh --test   also what the test suites need
#   scripts/bootstrap.sh --image  also what `make test-image` needs (podman, buildah, debootstrap)
#   scripts/bootstrap.sh --bench  also what `make bench` needs (websockify with numpy, the
#                                 libwebsockets test server, perf, taskset)
#
# Idempotent and quiet: it only calls apt-get when a package is missing.
set -eu

build_pkgs="gcc make cmake pkg-config gzip libwebsockets-dev libmicrohttpd-dev libcjson-dev
libsqlite3-dev libssl-dev libmd4c-dev libmd4c-html0-dev"
test_pkgs="python3 python3-websocket curl chromium firefox-esr tshark openssl asciinema clang clang-format"
image_pkgs="podman buildah debootstrap python3 python3-websocket"
bench_pkgs="python3 websockify python3-numpy libwebsockets-test-server linux-perf util-linux"

pkgs=$build_pkgs
[ "${1:-}" = "--test" ] && pkgs="$pkgs $test_pkgs"
[ "${1:-}" = "--image" ] && pkgs="$pkgs $image_pkgs"
[ "${1:-}" = "--bench" ] && pkgs="$pkgs $bench_pkgs"

missing=""
for p in $pkgs; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$status" in
    *"install ok installed"*) ;;
    *) missing="$missing $p" ;;
  esac
done
# npm installs the pinned front-end packages; any node >= 18 will do.
command -v npm >/dev/null 2>&1 || missing="$missing nodejs npm"
[ -z "$missing" ] && exit 0

echo "bootstrap: installing$missing"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
