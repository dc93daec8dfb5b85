#!/usr/bin/env bash
# glimpse vs the PyTorch peer on the same machine, interleaved (A B A B ...), medians of the
# per-pair ratios. Usage: tools/bench-caption-compare.sh [blip-base|blip-large] [pairs] [glimpse options]
# Needs build/glimpse, Debian's python3-torch and libopenblas0-pthread.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-blip-base}
pairs=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
out=$(mktemp)
for i in $(seq "$pairs"); do
  build/glimpse bench caption --config "$config" --reps 1 --json "$@" | sed 's/^/glimpse /' >> "$out"
  /usr/bin/python3 tools/bench-blip-torch.py --config "$config" --reps 1 | sed 's/^/torch /' >> "$out"
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = [l.split(" ", 1) for l in open(sys.argv[1])]
g = [json.loads(r) for k, r in rows if k == "glimpse"]
t = [json.loads(r) for k, r in rows if k == "torch"]
print(f"{g[0]['config']}: glimpse on {g[0]['device']} ({g[0]['weights']} weights) vs {t[0]['peer']}; {len(g)} interleaved pairs")
for key in ("encode_ms", "decode_ms_per_token", "total_ms"):
    gm, tm = statistics.median(x[key] for x in g), statistics.median(x[key] for x in t)
    ratio = statistics.median(b[key] / a[key] for a, b in zip(g, t))
    print(f"  {key:20s} glimpse {gm:9.1f}  torch {tm:9.1f}  torch/glimpse {ratio:5.2f}x")
print(f"  peak host MB         glimpse {max(x['peak_host_mb'] for x in g):9.0f}  torch {max(x['peak_host_mb'] for x in t):9.0f}"
      f"   (glimpse device {max(x['peak_device_mb'] for x in g):.0f} MB)")
PY
rm -f "$out"
