#!/usr/bin/env bash
# Packs what tools/bench/gpu-check.sh needs from a build made here into one archive, for a GPU
# machine with no package registry (the device tool's): build/glimpse, build/tests/glimpse_tests and
# every shared library they load except the C and C++ runtimes (the Vulkan loader included), each
# binary behind a wrapper that points the dynamic linker at those libraries, plus the source folder
# the tests were compiled against (their data paths are absolute). Usage:
#   tools/bench/gpu-bundle.sh [DEST]      (default .gpu; ignored by git: see .git/info/exclude)
# then carry DEST; gpu-check.sh unpacks DEST/bundle.tar.xz into build/ when there is no build/glimpse.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=${1:-.gpu}
bins=(build/glimpse build/tests/glimpse_tests)
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "gpu-bundle.sh: $b missing: build first" >&2; exit 1; }; done
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/build/gpu-lib" "$stage/build/gpu-bin" "$stage/build/tests" "$dest"
# The C and C++ runtimes stay the GPU machine's own (newer than ours, and its Python needs them).
ldd "${bins[@]}" | awk '/=> \//{print $3}' | sort -u |
  grep -vE '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/build/gpu-lib/"; done
for b in "${bins[@]}"; do
  name=$(basename "$b")
  cp "$b" "$stage/build/gpu-bin/$name"
  cat > "$stage/$b" <<WRAP
#!/bin/sh
d=\$(cd "\$(dirname "\$0")" && pwd)
while [ ! -d "\$d/gpu-lib" ]; do d=\$(dirname "\$d"); done
LD_LIBRARY_PATH="\$d/gpu-lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "\$d/gpu-bin/$name" "\$@"
WRAP
  chmod +x "$stage/$b"
done
pwd > "$stage/build/gpu-source-dir"
tar -C "$stage" -cJf "$dest/bundle.tar.xz" build
ls -l "$dest/bundle.tar.xz"
