#!/usr/bin/env bash
# GPU checks for a session that borrows a GPU machine (the device tool): run from the repository
# root there, with build/ (built here) and .gl/ (the Vulkan loader .debs, see the device tool's
# README) carried. Writes the device list, the whole test suite on the GPU and the op benchmark
# (GPU kernel shapes, and the CPU shapes for comparison), and BLIP-base captioning against the
# PyTorch peer on CUDA in fp32 and fp16 (tools/bench/caption-compare.sh: markdown tables) under
# OUTDIR (default $OUT). Usage:
#   tools/bench/gpu-check.sh OUTDIR
# Prepared without a GPU at hand: it runs end to end on lavapipe (the peer then on the CPU);
# expect to adjust it on first use.
set -u
out=${1:-${OUT:-/tmp/glimpse-gpu-check}}
mkdir -p "$out"
if ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
export GLIMPSE_CACHE_DIR="$out/pipeline-cache"

nvidia-smi > "$out/nvidia-smi.txt" 2>&1
build/glimpse devices > "$out/devices.txt" 2>&1
echo "devices rc=$?" >> "$out/summary.txt"
GLIMPSE_BACKEND=vulkan timeout 300 build/tests/glimpse_tests > "$out/tests.txt" 2>&1
echo "tests rc=$?" >> "$out/summary.txt"
timeout 120 build/glimpse bench ops --no-blas --reps 5 > "$out/bench-ops.txt" 2>&1
echo "bench rc=$?" >> "$out/summary.txt"
GLIMPSE_TUNING=cpu timeout 60 build/glimpse bench ops --no-blas --reps 3 --only linear > "$out/bench-ops-cpu-shapes.txt" 2>&1
build/glimpse bench startup > "$out/bench-startup.txt" 2>&1
peer_device=cpu
/usr/bin/python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null && peer_device=cuda
for dtype in fp32 fp16; do
  [ "$peer_device" = cpu ] && [ "$dtype" = fp16 ] && continue  # no fp16 matmuls in CPU PyTorch 1.13
  timeout 240 tools/bench/caption-compare.sh --rounds 3 --peer-args "--device $peer_device --dtype $dtype" \
    --variant "vulkan f32=GLIMPSE_BACKEND=vulkan" --variant "vulkan f16=GLIMPSE_BACKEND=vulkan --f16" \
    > "$out/caption-vs-torch-$dtype.md" 2>&1
  echo "caption vs torch $dtype on $peer_device rc=$?" >> "$out/summary.txt"
done
cat "$out/summary.txt"
