#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang + ASan + UBSan into build-fuzz/ and runs each
# one for SECONDS (default 60) on its committed seed corpus (tests/fuzz/corpus/TARGET). New inputs
# go to build-fuzz/corpus/TARGET, crashes to build-fuzz/crashes/; any crash, leak, sanitizer report
# or timeout fails the run. One line per target: executions, coverage, corpus size.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Release -DGLIMPSE_FUZZ=ON -DGLIMPSE_WERROR=OFF \
  -DGLIMPSE_BUILD_DESKTOP=OFF -DBUILD_TESTING=OFF -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz-all >/dev/null
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz-safetensors fuzz-safetensors-index fuzz-config fuzz-tokenizer-files
                                     fuzz-wordpiece fuzz-bpe fuzz-image fuzz-server-request fuzz-torch-checkpoint
                                     fuzz-sentencepiece fuzz-http-request fuzz-florence2-postprocess)
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p build-fuzz/crashes
status=0
for t in "${targets[@]}"; do
  work="build-fuzz/corpus/$t"
  mkdir -p "$work"
  log="build-fuzz/$t.log"
  if build-fuzz/fuzz/"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
       -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/$t-" "$work" "tests/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
    echo "fuzz: $t: ${seconds} s, $runs executions, coverage $cov edges, corpus $(ls "$work" | wc -l) new inputs, no crashes"
  else
    status=1
    echo "fuzz: $t FAILED (log: $log)"
    grep -E 'ERROR|SUMMARY|==[0-9]+==|runtime error|Test unit written' "$log" | head -20
  fi
done
exit $status
