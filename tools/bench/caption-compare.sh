#!/usr/bin/env bash
# glimpse vs the PyTorch peer on the same machine, interleaved (torch and each glimpse variant;
# torch first in odd rounds, last in even ones), medians of the per-round ratios; prints a
# markdown table (the README's Performance table comes from here). Usage:
#   tools/bench/caption-compare.sh [--config blip-base|blip-large|trocr-small|trocr-base|trocr-large|florence-2-base]
#                                  [--rounds N] [--encode-batch N]
#                                  [--peer torch|transformers] [--peer-args "ARGS"]
#                                  [--variant "LABEL=ENV ARGS"]...
# The peer is tools/bench/blip-torch.py (default: the same model written in plain PyTorch, runs on
# Debian's torch 1.13 here) or blip-transformers.py (transformers' BlipForConditionalGeneration, the
# GPU check's peer); --peer-args go to it (e.g. "--device cuda --dtype fp16"). TrOCR configs use
# tools/bench/trocr-torch.py (plain PyTorch, CPU, batch 1), Florence-2 tools/bench/florence-torch.py
# (plain PyTorch, CPU, batch 1, <CAPTION> with 3 beams). PYTHON names the
# interpreter (default /usr/bin/python3, Debian's).
# --encode-batch N compares image-encode throughput with N images at once instead.
# A variant is environment assignments and `glimpse bench caption` options, e.g.
#   --variant "host f32=GLIMPSE_BACKEND=cpu" --variant "host f16=GLIMPSE_BACKEND=cpu --f16"
# Default variants: the CPU backend (f32, f16) and the Vulkan shaders (f32, f16).
# Needs build/glimpse, Debian's python3-torch and libopenblas0-pthread.
set -euo pipefail
cd "$(dirname "$0")/../.."
config=blip-base rounds=3 batch=0 peer=torch peer_extra="" variants=()
python=${PYTHON:-/usr/bin/python3}
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --encode-batch) batch=$2; shift 2 ;;
    --peer) peer=$2; shift 2 ;;
    --peer-args) peer_extra=$2; shift 2 ;;
    --variant) variants+=("$2"); shift 2 ;;
    *) echo "caption-compare.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[ ${#variants[@]} -gt 0 ] || variants=("host f32=GLIMPSE_BACKEND=cpu" "host f16=GLIMPSE_BACKEND=cpu --f16"
                                       "vulkan f32=GLIMPSE_BACKEND=vulkan" "vulkan f16=GLIMPSE_BACKEND=vulkan --f16")
# The peer's strongest configuration (README: PyTorch comparison); glimpse runs under the same.
# OpenBLAS's AVX-512 kernels wherever the CPU has them, whatever the environment says (this
# machine's sets Haswell, which made both sides' GEMMs ~1.4x slower).
grep -qw avx512f /proc/cpuinfo 2>/dev/null && export OPENBLAS_CORETYPE=SkylakeX
export OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE
family=${config%%-*}  # blip, trocr or florence: the peer script is tools/bench/$family-$peer.py
[ -f "tools/bench/$family-$peer.py" ] || { echo "caption-compare.sh: no $peer peer for $config" >&2; exit 2; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for r in $(seq "$rounds"); do
  peer_args=(--config "$config" --reps 1 $peer_extra) glimpse_args=(--config "$config" --reps 1 --json)
  [ "$batch" -gt 0 ] && peer_args+=(--encode-batch "$batch") glimpse_args+=(--batch "$batch" --tokens 1)
  # The peer first in odd rounds, last in even ones: whoever runs right after another heavy
  # process (a warm CPU, a busy page cache) is not always the same side.
  [ $((r % 2)) = 1 ] && "$python" "tools/bench/$family-$peer.py" "${peer_args[@]}" | sed "s/^/$r\ttorch\t/" >> "$out"
  for v in "${variants[@]}"; do
    label=${v%%=*} spec=${v#*=}
    envs=() args=()
    for w in $spec; do case "$w" in *=*) envs+=("$w") ;; *) args+=("$w") ;; esac; done
    env "${envs[@]}" build/glimpse bench caption "${glimpse_args[@]}" "${args[@]}" | sed "s/^/$r\t$label\t/" >> "$out"
  done
  [ $((r % 2)) = 0 ] && "$python" "tools/bench/$family-$peer.py" "${peer_args[@]}" | sed "s/^/$r\ttorch\t/" >> "$out"
done
"$python" - "$out" "$config" "$batch" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r, label, js = line.rstrip("\n").split("\t", 2)
    runs.setdefault(label, {})[r] = json.loads(js)
torch = runs.pop("torch")
t0 = next(iter(torch.values()))
med = lambda rows, k: statistics.median(x[k] for x in rows)
if int(sys.argv[3]):
    print(f"{sys.argv[2]} image encode, batch {sys.argv[3]}; {len(torch)} interleaved rounds; peer: {t0['peer']}; "
          "medians; ratio: median of per-round glimpse/torch throughput (above 1: glimpse faster)\n")
    print("| | encode ms (batch) | images/s | throughput vs torch |")
    print("|---|---|---|---|")
    print(f"| {'transformers' if t0['peer'].startswith('transformers') else 'PyTorch'} eager | {med(torch.values(), 'encode_ms'):.0f} | {med(torch.values(), 'encode_images_per_s'):.2f} | 1.00 |")
    for label, rows in runs.items():
        ratio = statistics.median(rows[r]["encode_images_per_s"] / torch[r]["encode_images_per_s"] for r in rows if r in torch)
        print(f"| glimpse {label} | {med(rows.values(), 'encode_ms'):.0f} | {med(rows.values(), 'encode_images_per_s'):.2f} | **{ratio:.2f}** |")
    sys.exit(0)
print(f"{sys.argv[2]}, 20 tokens, batch 1; {len(torch)} interleaved rounds; peer: {t0['peer']}; medians, "
      "ratios are medians of per-round glimpse/torch time (below 1: glimpse faster)\n")
print("| | encode ms | decode ms/token | total ms | total vs torch | peak host MB |")
print("|---|---|---|---|---|---|")
print(f"| {'transformers' if t0['peer'].startswith('transformers') else 'PyTorch'} eager | {med(torch.values(), 'encode_ms'):.0f} | {med(torch.values(), 'decode_ms_per_token'):.1f} | "
      f"{med(torch.values(), 'total_ms'):.0f} | 1.00 | {max(x['peak_host_mb'] for x in torch.values()):.0f} |")
for label, rows in runs.items():
    pairs = [(rows[r], torch[r]) for r in rows if r in torch]
    ratio = statistics.median(g["total_ms"] / t["total_ms"] for g, t in pairs)
    enc = statistics.median(g["encode_ms"] / t["encode_ms"] for g, t in pairs)
    dec = statistics.median(g["decode_ms_per_token"] / t["decode_ms_per_token"] for g, t in pairs)
    g = list(rows.values())
    print(f"| glimpse {label} | {med(g, 'encode_ms'):.0f} ({enc:.2f}x) | {med(g, 'decode_ms_per_token'):.1f} ({dec:.2f}x) | "
          f"{med(g, 'total_ms'):.0f} | **{ratio:.2f}** | {max(x['peak_host_mb'] for x in g):.0f} |")
PY
