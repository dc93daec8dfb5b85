#!/usr/bin/env bash
# GPU checks for a session that borrows a GPU machine (the device tool). That machine has no package
# registry, so build here and pack the binaries with tools/bench/gpu-bundle.sh, then run from the
# repository root there with .gpu and .gl carried:
#   tools/bench/gpu-check.sh OUTDIR            (OUTDIR defaults to $OUT)
# It unpacks .gpu/bundle.tar.xz when there is no build/glimpse. Each step's output (the device
# list, a real caption of the bundled sample, BLIP-base captioning against transformers on CUDA in
# fp16 and fp32 from tools/bench/caption-compare.sh --peer transformers as markdown tables,
# glimpse's per-op GPU profile of one caption, Florence-2-base's speed, the tensor-core tuning table of
# tools/bench/coop-tune.sh, the whole test suite on the GPU, the op benchmark, startup times) goes
# into OUTDIR/gpu-check.tar.gz, rewritten after every step so a run cut short keeps what it did;
# OUTDIR/summary.txt lists each step's exit status and time, and the tables and test summary are
# printed at the end. Each step has its own time limit; the whole took 3.5 minutes on an H100.
# GPU_CHECK_VARIANT="LABEL=ENV ARGS" adds a glimpse variant to the comparisons (e.g. a kill switch).
# Where no CUDA PyTorch or transformers is found (this machine), the
# peer is blip-torch.py on the CPU, so the script can be run end to end on lavapipe too.
set -u
cd "$(dirname "$0")/../.."
dest=${1:-${OUT:-/tmp/glimpse-gpu-check}}
mkdir -p "$dest"
# Step outputs are gathered in one archive (the device tool brings back at most 8 files).
out=$(mktemp -d)/gpu-check
mkdir -p "$out"
if [ ! -x build/glimpse ] && [ -f .gpu/bundle.tar.xz ]; then
  tar -xJf .gpu/bundle.tar.xz
  # The tests' data paths are absolute, compiled in where the bundle was built.
  src=$(cat build/gpu-source-dir)
  if [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"; fi
fi
# The NVIDIA driver's Vulkan library needs libglvnd's libraries (GLX/EGL dispatch) installed on the
# machine: the device tool's README fetches them as .debs into .gl (carry it too).
if ls .gl/*.deb >/dev/null 2>&1; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
# The NVIDIA driver's Vulkan manifest: where the device tool's machines keep it, else wherever it is.
icd=""
for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json /usr/share/vulkan/icd.d/nvidia_icd*.json \
         /etc/vulkan/icd.d/nvidia_icd*.json; do [ -f "$f" ] && { icd=$f; break; }; done
[ -n "$icd" ] || icd=$(find / -xdev \( -path /proc -o -path /sys \) -prune -o -name 'nvidia_icd*.json' -print 2>/dev/null | head -1)
[ -n "$icd" ] && export VK_DRIVER_FILES="$icd"
{ echo "manifest: ${icd:-none found}"; [ -n "$icd" ] && cat "$icd"; ldconfig -p | grep -iE 'nvidia|vulkan'; } > "$out/vulkan-driver.txt" 2>&1
export GLIMPSE_CACHE_DIR=$(mktemp -d)  # starts cold
step() {  # step NAME LIMIT_S COMMAND...: output to OUTDIR/NAME.txt, status to summary.txt
  local name=$1 limit=$2 t0=$SECONDS; shift 2
  timeout "$limit" "$@" > "$out/$name.txt" 2>&1
  echo "$name rc=$? $((SECONDS - t0)) s" | tee -a "$dest/summary.txt"
  tar -czf "$dest/gpu-check.tar.gz" -C "$(dirname "$out")" gpu-check
}
python=python3
$python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null || python=/usr/bin/python3
peer=torch peer_device=cpu
if $python -c 'import torch, transformers, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  peer=transformers peer_device=cuda
fi
step nvidia-smi 20 nvidia-smi
step devices 60 build/glimpse devices
if grep -q "no Vulkan driver" "$out/devices.txt"; then  # nothing else can run: say why and stop
  VK_LOADER_DEBUG=error,warn,info build/glimpse devices > "$out/vulkan-loader.txt" 2>&1
  tar -czf "$dest/gpu-check.tar.gz" -C "$(dirname "$out")" gpu-check
  cat "$out/vulkan-driver.txt"; grep -iE "error|warn|nvidia|manifest" "$out/vulkan-loader.txt" | head -40
  exit 1
fi
step caption-sample 120 build/glimpse caption --json samples/images/scene-test-000000.png
for dtype in fp16 fp32; do
  [ "$peer_device" = cpu ] && [ "$dtype" = fp16 ] && continue  # no fp16 matmuls in CPU PyTorch 1.13
  step "caption-vs-$peer-$dtype" 200 env PYTHON=$python tools/bench/caption-compare.sh --rounds 3 --peer $peer \
    --peer-args "--device $peer_device --dtype $dtype" \
    --variant "vulkan f16=GLIMPSE_BACKEND=vulkan --f16" --variant "vulkan f32=GLIMPSE_BACKEND=vulkan" \
    ${GPU_CHECK_VARIANT:+--variant "$GPU_CHECK_VARIANT"}
done
step profile-f16 60 env GLIMPSE_BACKEND=vulkan GLIMPSE_PROFILE=1 build/glimpse bench caption --config blip-base --reps 1 --f16
# Florence-2-base (<CAPTION>, 3 beams, 20 tokens) on the GPU, glimpse alone: the machine cannot
# fetch the remote code transformers would need; tools/bench/florence-torch.py is the CPU peer.
for dtype in f16 f32; do
  step "florence2-$dtype" 120 env GLIMPSE_BACKEND=vulkan build/glimpse bench caption --config florence-2-base --reps 3 \
    $([ $dtype = f16 ] && echo --f16)
done
step coop-tune 150 tools/bench/coop-tune.sh
step tests 240 env GLIMPSE_BACKEND=vulkan build/tests/glimpse_tests
step bench-ops 90 build/glimpse bench ops --no-blas --reps 5
step bench-startup 60 build/glimpse bench startup
cat "$out"/caption-vs-*.txt "$out/coop-tune.txt"
tail -3 "$out/tests.txt"
