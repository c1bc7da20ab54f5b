#!/bin/sh
# build-image.sh -- builds the portlab image with podman, without a Docker
# engine or a registry, from a local Debian 12 base.
#
#   scripts/build-image.sh [TAG]          default TAG: localhost/portlab:latest
#
# Makes localhost/debian:12 first if missing (scripts/make-base-image.sh).
# BASE_IMAGE / BASE_TAG in the environment pick another base, e.g.
# BASE_IMAGE=docker.io/library/debian BASE_TAG=12.11-slim where a registry
# is reachable (then without --pull=never). Needs podman, buildah, debootstrap
# (scripts/bootstrap.sh --image) and root.
set -eu

cd "$(dirname "$0")/.."
tag=${1:-localhost/portlab:latest}
base_image=${BASE_IMAGE:-localhost/debian}
base_tag=${BASE_TAG:-12}
version=$(sed -n 's/^project(portlab VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
source=$(git remote get-url origin 2>/dev/null || echo https://example.invalid/portlab)

if [ "$base_image:$base_tag" = "localhost/debian:12" ]; then
  scripts/make-base-image.sh localhost/debian:12
fi
# Where this machine's npm trusts an extra CA bundle (a TLS-inspecting proxy),
# the build stage borrows it through a build-time mount; it is not copied
# into any layer.
ca_args=""
cafile=$(npm config get cafile 2>/dev/null || true)
if [ -n "$cafile" ] && [ "$cafile" != "null" ] && [ "$cafile" != "undefined" ] && [ -f "$cafile" ]; then
  ca_args="--volume $cafile:/run/build-ca.crt:ro --build-arg NPM_CONFIG_CAFILE=/run/build-ca.crt"
fi
# No engine here: chroot isolation, host network (the build stage fetches
# Debian and npm packages), cgroupfs because no systemd manages cgroups,
# Docker's image format because OCI has no HEALTHCHECK.
# shellcheck disable=SC2086 # ca_args is a list of words
podman build --pull=never --network=host --isolation=chroot --cgroup-manager=cgroupfs \
  --format docker \
  --build-arg BASE_IMAGE="$base_image" --build-arg BASE_TAG="$base_tag" \
  --build-arg VERSION="$version" --build-arg SOURCE="$source" \
  $ca_args --layers -t "$tag" -f Dockerfile .
echo "build-image: $tag"
