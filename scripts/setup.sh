#!/usr/bin/env bash
# Installs the Debian packages glimpse needs to build and test, only those missing.
# Idempotent: a second run installs nothing. Usage: scripts/setup.sh
# (--bench is still accepted: OpenBLAS, once only the benchmark's yardstick, is always installed
# now that the CPU backend runs on it.)
set -euo pipefail

packages=(
  cmake g++ make pkg-config            # toolchain; pkg-config for the install test
  curl                                 # scripts/get-model.sh (Hub downloads) and its test; server tests
  libvulkan-dev mesa-vulkan-drivers    # Vulkan loader + headers, lavapipe as the software device
  glslc glslang-tools spirv-tools      # GLSL -> SPIR-V (glslc, glslangValidator fallback), spirv-val
  nlohmann-json3-dev                   # config.json, safetensors headers, tokenizer.json
  libjpeg62-turbo-dev libstb-dev       # JPEG as Pillow decodes it; PNG, BMP, GIF, PNM, TGA
  libedit-dev libopencv-dev            # the VQA sample app: line editing; its window and camera
  qt6-base-dev                         # the Qt 6 desktop sample (samples/desktop)
  xvfb xauth                           # a display for the sample apps' window tests
  python3-dev pybind11-dev python3-numpy  # the Python binding (python/)
  python3-distributed                  # tools/distributed/caption_dask.py and its test (Dask)
  libopenblas0-pthread                 # the CPU backend's GEMMs on CPU-only machines (loaded at run time)
  catch2                               # unit tests (v2)
  vulkan-validationlayers              # tests also run under the Khronos validation layer
  clang-14 libclang-rt-14-dev          # libFuzzer targets (scripts/fuzz.sh)
)
for arg in "$@"; do
  case "$arg" in
    --bench) ;;
    *) echo "setup.sh: unknown option '$arg' (expected --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
echo "setup: installing ${missing[*]}"
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
