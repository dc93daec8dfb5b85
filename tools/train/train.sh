#!/usr/bin/env bash
# Trains the bundled models from scratch and writes them into models/ (see tools/train/README.md).
#
#   tools/train/train.sh [DATA_DIR]     # default: build/scenes-96
#
# Needs Debian's python3-torch, python3-numpy, python3-pil and a glimpse build (scripts/build.sh)
# for glimpse-scenes. ~50 minutes on a 2-core machine; the log and metrics land in tools/train/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
data="${1:-$root/build/scenes-96}"
scenes="$root/build/glimpse-scenes"
[[ -x "$scenes" ]] || { echo "train.sh: $scenes is missing: run scripts/build.sh first" >&2; exit 1; }
for split in train:100000 validation:1000; do
  name="${split%%:*}" count="${split##*:}"
  if [[ ! -f "$data/$name.jsonl" ]] || [[ "$(wc -l < "$data/$name.jsonl")" != "$count" ]]; then
    "$scenes" --split "$name" --count "$count" --size 96 --out "$data"
  fi
done
# PyTorch's strongest CPU configuration here: OpenBLAS, no OpenMP spinning against its threads.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SkylakeX}" OMP_WAIT_POLICY=PASSIVE
exec /usr/bin/python3 "$root/tools/train/train.py" --data "$data" --out "$root/models" \
  --steps 4000 --minutes 57 --log "$root/tools/train/train.log"
