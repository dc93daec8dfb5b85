#!/usr/bin/env bash
# Tensor-core kernel tuning on a GPU with VK_NV_cooperative_matrix: times the fp16-weight GEMMs of
# BLIP-base (577 rows) with every tile shape the tests cover (GLIMPSE_COOP_TILE=WMxWNxTMxTN), and
# the fp16 attention with 1, 2 and 4 subgroups per workgroup against the fp32 lanes kernel. Prints
# one line per shape and setting; coop_tile_auto() in runtime/ops-linear.cpp takes its tiles from
# these figures. Run from the repository root after a build (tools/bench/gpu-check.sh runs it).
set -u
cd "$(dirname "$0")/../.."
glimpse=${GLIMPSE:-build/glimpse}
if ! $glimpse devices | grep -q "tensor cores      yes"; then
  echo "coop-tune: no tensor cores (VK_NV_cooperative_matrix) on this device; nothing to tune"
  exit 0
fi
echo "## fp16 GEMMs, ms (GLIMPSE_COOP_TILE)"
for tile in 1x1x1x1 2x2x1x2 2x2x2x1 2x2x2x2 2x2x4x2 2x2x2x4 4x2x2x2 2x4x2x2 4x2x2x4 4x4x2x2 1x4x2x2 4x1x2x2; do
  GLIMPSE_COOP_TILE=$tile $glimpse bench ops --only linear --no-blas --reps 3 2>&1 |
    awk -v t="$tile" '/^linear/ && / f16 / { printf "%-9s %s x %s -> %s  %s ms  %s GFLOP/s\n", t, $2, $4, $6, $8, $10 }
                      /rror/ { print t ": " $0 }'
done
echo "## attention 577 x 577, 12 heads x 64, ms"
for sg in 1 2 4; do
  GLIMPSE_ATTENTION=coop GLIMPSE_ATTENTION_SUBGROUPS=$sg $glimpse bench ops --only attn --no-blas --reps 3 2>&1 |
    awk -v t="coop/$sg" '/^attn/ { print t "  " $0 } /rror/ { print t ": " $0 }'
done
