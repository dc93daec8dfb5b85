#!/usr/bin/env bash
# The embedding API under AddressSanitizer and LeakSanitizer: builds libglimpse.so and the C API
# tests into build-asan/ with -fsanitize=address and runs them (the C test, and 4 threads x 25
# requests with an abort from another thread). Any error or leak fails.
#
# Lavapipe is preloaded: the Vulkan loader dlclose()s the driver at vkDestroyInstance, which
# orphans 128 bytes of Mesa's global state per instance (a plain vkCreateInstance/vkCreateDevice
# program shows the same "leak" from an unknown module). Preloaded, the driver stays mapped, that
# memory stays reachable, and LSan sees only what glimpse itself leaks.
set -euo pipefail
cd "$(dirname "$0")/.."
flags="-fsanitize=address -fno-omit-frame-pointer -g"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DGLIMPSE_BUILD_DESKTOP=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=address >/dev/null
cmake --build build-asan -j"$(nproc)" --target glimpse_capi_test glimpse_capi_threads >/dev/null
driver=$(ls /usr/lib/*/libvulkan_lvp.so 2>/dev/null | head -1 || true)
export ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0 GLIMPSE_CACHE_DIR="$PWD/build-asan/test-cache"
for test in glimpse_capi_test glimpse_capi_threads; do
  echo "== $test under ASan/LSan"
  LD_PRELOAD="$driver" "build-asan/tests/$test"
done
