#!/bin/sh
# make-base-image.sh -- makes a Debian 12 base image locally, for machines that
# reach Debian's mirror but no image registry.
#
#   scripts/make-base-image.sh [TAG]      default TAG: localhost/debian:12
#
# debootstrap --variant=minbase bookworm from the mirror apt already uses, then
# `podman import`. The Dockerfile takes its base through the BASE build
# argument, so the same file builds from the official debian:12 elsewhere.
# Needs root (debootstrap), podman and debootstrap (scripts/bootstrap.sh --image).
set -eu

tag=${1:-localhost/debian:12}
if podman image exists "$tag" 2>/dev/null; then
  echo "make-base-image: $tag already exists"
  exit 0
fi

# The mirror apt uses (deb822 or one-line sources), else Debian's own.
mirror=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list \
  2>/dev/null | grep -v security | head -n 1 | awk '{print ($1 == "deb") ? $2 : $2}' || true)
case "$mirror" in
  http://* | https://*) ;;
  *) mirror=http://deb.debian.org/debian ;;
esac

dir=$(mktemp -d /var/tmp/portlab-debian12.XXXXXX)
trap 'rm -rf "$dir"' EXIT INT TERM
echo "make-base-image: debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$dir.log" 2>&1 || {
  tail -n 20 "$dir.log" >&2
  exit 1
}
rm -f "$dir.log"
# What an image needs no copy of: apt lists and caches, logs.
rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
  "$dir"/var/log/*.log
tar -C "$dir" -c . | podman import -q --change 'CMD ["/bin/bash"]' - "$tag" >/dev/null
echo "make-base-image: $tag ($(podman image inspect --format '{{.Size}}' "$tag") bytes)"
