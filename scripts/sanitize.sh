#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, LeakSanitizer on:
# builds everything into build-asan/ and runs ctest there; any report fails (UBSan halts on its
# first finding). The validation-layer rerun is left to the normal build (same tests, and the
# layer is not instrumented). Arguments go to ctest.
#
# Lavapipe is preloaded: the Vulkan loader dlclose()s the driver at vkDestroyInstance, which
# orphans 128 bytes of Mesa's global state per instance (a plain vkCreateInstance/vkCreateDevice
# program shows the same "leak" from an unknown module). Preloaded, the driver stays mapped, that
# memory stays reachable, and LSan sees only what is really lost. tests/lsan.supp lists the few
# system libraries (D-Bus, fontconfig under the sample windows) that keep allocations for life.
# The Python tests load the instrumented glimpse module into Debian's uninstrumented python3, so
# they preload libasan (GLIMPSE_PYTHON_PRELOAD) and leave leak checking to the C/C++ tests;
# libstdc++ is preloaded too, or ASan's __cxa_throw interceptor finds no real one to call.
# -Werror is off here: GCC 12's -Wmaybe-uninitialized misfires inside <regex> and <functional>
# under the sanitizers' instrumentation (the normal build keeps it).
set -euo pipefail
cd "$(dirname "$0")/.."
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DGLIMPSE_WERROR=OFF \
  -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DGLIMPSE_PYTHON_PRELOAD="$(${CXX:-g++} -print-file-name=libasan.so):$(${CXX:-g++} -print-file-name=libstdc++.so)" >/dev/null
cmake --build build-asan -j"$(nproc)" >/dev/null
driver=$(ls /usr/lib/*/libvulkan_lvp.so 2>/dev/null | head -1 || true)
export ASAN_OPTIONS=detect_leaks=1:verify_asan_link_order=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"
export LD_PRELOAD="$driver"
cd build-asan && ctest --output-on-failure -E '^validation$' "$@"
