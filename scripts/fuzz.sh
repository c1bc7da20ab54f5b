#!/bin/sh
# fuzz.sh -- runs every libFuzzer target of a fuzz build for SECONDS each,
# starting from its seed corpus (tests/fuzz/corpus/NAME), and says per
# target how many inputs ran and whether it found anything. Inputs that
# crash are kept in BUILD/fuzz-findings/. Exit status 1 if any target
# found something.
#
#   scripts/fuzz.sh [BUILD [SECONDS]]      (make fuzz runs it)
set -u
build=${1:-build-fuzz}
seconds=${2:-60}
findings=$build/fuzz-findings
mkdir -p "$findings"
status=0
for t in "$build"/fuzz_*; do
  [ -x "$t" ] || continue
  name=${t##*/fuzz_}
  work=$(mktemp -d)
  log=$findings/$name.log
  echo "fuzzing $name for $seconds s"
  "$t" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$findings/$name-" \
    "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  if [ $rc -eq 0 ]; then
    echo "  $name: ${runs:-?} inputs, nothing found"
  else
    status=1
    echo "  $name: FOUND SOMETHING after ${runs:-?} inputs (status $rc); log: $log"
    grep -E "^SUMMARY|ERROR:|^    #[0-9]+ " "$log" |
      grep -vE "fuzzer::|__sanitizer|libc|raise|abort|pthread_kill|in main " | head -8 | sed 's/^/    /'
    ls "$findings" | grep "^$name-" | sed "s|^|    input: $findings/|"
  fi
  rm -rf "$work"
done
exit $status
