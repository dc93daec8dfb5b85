#!/bin/sh
# With every optional part OFF (GLIMPSE_BUILD_SAMPLES, _SERVER, _PYTHON, _DESKTOP, _TOOLS), the
# project configures, tests included, and the skipped programs are not targets; the library is.
# Usage: build-options-check.sh SOURCE_DIR
set -e
src=$1
rm -rf options-off
cmake -S "$src" -B options-off -DGLIMPSE_BUILD_SAMPLES=OFF -DGLIMPSE_BUILD_SERVER=OFF -DGLIMPSE_BUILD_PYTHON=OFF \
  -DGLIMPSE_BUILD_DESKTOP=OFF -DGLIMPSE_BUILD_TOOLS=OFF > options-off.log 2>&1 || { cat options-off.log; exit 1; }
targets=$(cmake --build options-off --target help)
for t in glimpse_shared glimpse_static glimpse_tests glimpse_capi_test; do
  echo "$targets" | grep -q "^\.\.\. $t\$" || { echo "missing target $t"; exit 1; }
done
for t in glimpse glimpse-vqa glimpse-server glimpse_python glimpse-desktop glimpse-scenes glimpse_server_api; do
  if echo "$targets" | grep -q "^\.\.\. $t\$"; then echo "target $t built although its option is OFF"; exit 1; fi
done
# ctest knows no test of a skipped part
tests=$(cd options-off && ctest -N)
for t in cli-caption server python sample-vqa-session model-accuracy; do
  if echo "$tests" | grep -q " $t\$"; then echo "test $t registered although its program is OFF"; exit 1; fi
done
rm -rf options-off options-off.log
echo "build options: all OFF configures without the optional parts"
