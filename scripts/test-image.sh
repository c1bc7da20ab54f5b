#!/bin/sh
# test-image.sh -- builds the image with podman and checks it without a
# container engine (`make test-image`; takes minutes, needs root).
#
#   scripts/test-image.sh [TAG]           default TAG: localhost/portlab:latest
#
# `podman run` cannot set resource limits on every machine (no systemd, no
# cgroup delegation), so the image is mounted (`podman image mount`) and its
# binary run inside it with chroot --userspec as the image's user and only
# the image's environment, a fresh data folder bind-mounted at /data:
# tests/image/check_image.py then checks health, a relayed SMTP session,
# SIGTERM and the data kept across a restart. Prints the image size, the
# layer the runtime stage adds, the time to healthy and the stop time.
# Leaves the image tagged TAG.
set -eu

cd "$(dirname "$0")/.."
tag=${1:-localhost/portlab:latest}
start=$(date +%s)
scripts/build-image.sh "$tag"
built=$(date +%s)

user=$(podman image inspect --format '{{.Config.User}}' "$tag")
# The promises of the image's configuration.
check() {
  got=$(podman image inspect --format "$1" "$tag")
  [ "$got" = "$2" ] || { echo "IMAGE: $1 is '$got', not '$2'" >&2; exit 1; }
}
check '{{.Config.User}}' 10001:10001
check '{{json .Config.Healthcheck.Test}}' '["CMD","/usr/local/bin/portlab","health"]'
check '{{json .Config.Entrypoint}}' '["/usr/local/bin/portlab"]'
check '{{json .Config.Volumes}}' '{"/data":{}}'
check '{{index .Config.Labels "org.opencontainers.image.version"}}' \
  "$(sed -n 's/^project(portlab VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)"
env=$(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$tag")
root=$(podman image mount "$tag")
data=$(mktemp -d /var/tmp/portlab-image-data.XXXXXX)
cleanup() {
  umount "$root/data" 2>/dev/null || true
  podman image unmount "$tag" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT INT TERM
chown "$user" "$data"
mount --bind "$data" "$root/data"

IMAGE_ROOT=$root IMAGE_DATA=$data IMAGE_USER=$user IMAGE_ENV=$env \
  PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 tests/image/check_image.py

# Sizes: the whole image, the base, and what the runtime stage adds on top.
size=$(podman image inspect --format '{{.Size}}' "$tag")
base=$(podman image inspect --format '{{.Size}}' "${BASE_IMAGE:-localhost/debian}:${BASE_TAG:-12}" 2>/dev/null || echo 0)
echo "IMAGE: $tag: $((size / 1000000)) MB in all, base $((base / 1000000)) MB," \
  "runtime stage adds $(((size - base) / 1000000)) MB (limit 40 MB)"
echo "IMAGE: its non-empty layers, newest first (the last one is the base):"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$tag" | grep -v -E '^0 ?B' | cut -c1-110 | head -n 10
echo "IMAGE: build $((built - start)) s (cached layers are reused)"
if [ $((size - base)) -ge 40000000 ]; then
  echo "IMAGE: the runtime stage adds 40 MB or more" >&2
  exit 1
fi
