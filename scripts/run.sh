#!/usr/bin/env bash
# The README's main command: set up, build, then run the glimpse CLI with the given arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/glimpse "$@"
