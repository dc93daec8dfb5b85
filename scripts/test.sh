#!/usr/bin/env bash
# The README's test command: set up, build, run every test, then (for the whole suite) every test
# again under ASan + UBSan + LSan (scripts/sanitize.sh) and every fuzz target for 60 s
# (scripts/fuzz.sh). Arguments go to ctest (e.g. -L fast).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
(cd build && ctest --output-on-failure "$@")
if [ $# -eq 0 ]; then
  scripts/sanitize.sh
  scripts/fuzz.sh 60
fi
