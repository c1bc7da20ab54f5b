#!/bin/sh
# check-format.sh -- fails if any C file differs from .clang-format's layout.
# Run "scripts/check-format.sh --fix" to reformat in place.
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = "--fix" ]; then
  # shellcheck disable=SC2086
  clang-format -i $files
  exit 0
fi
# shellcheck disable=SC2086
clang-format --dry-run --Werror $files
