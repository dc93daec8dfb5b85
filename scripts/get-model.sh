#!/usr/bin/env bash
# Downloads a checkpoint from the Hugging Face Hub (needs internet and curl) into a folder glimpse
# loads as it is: config.json, the weights (safetensors, one file or an index and its shards; else
# pytorch_model.bin or its shards, which glimpse reads with its restricted unpickler), the tokenizer
# files and preprocessor_config.json.
#
#   scripts/get-model.sh NAME [DEST] [--revision REV] [--force]
#
# NAME: blip-base, blip-large, blip-vqa, vit-gpt2, trocr-{small,base,large}-{printed,handwritten,stage1},
# trocr-{base,large}-str, florence-2-{base,large}[-ft] (microsoft/...), or any Hub repository as
# OWNER/NAME. (florence-community/Florence-2-*, the converted layout, downloads but glimpse refuses
# it for now: use microsoft/Florence-2-*.)
# DEST: default models/<repository name> in the checkout. REV: a branch, tag, commit or refs/pr/N (default main).
# Nothing is left half-written: files land in DEST.partial and move into place at the end.
# GLIMPSE_HUB_URL replaces https://huggingface.co (a mirror; the tests use a file:// tree).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage="usage: scripts/get-model.sh blip-base|blip-large|blip-vqa|vit-gpt2|trocr-SIZE-KIND|florence-2-SIZE[-ft]|OWNER/NAME [DEST] [--revision REV] [--force]"
name="" dest="" revision=main force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --revision) [ $# -ge 2 ] || { echo "get-model.sh: --revision needs a value" >&2; exit 2; }; revision=$2; shift ;;
    --force) force=1 ;;
    -h|--help) echo "$usage"; exit 0 ;;
    -*) echo "get-model.sh: unknown option '$1'" >&2; echo "$usage" >&2; exit 2 ;;
    *) if [ -z "$name" ]; then name=$1; elif [ -z "$dest" ]; then dest=$1; else echo "$usage" >&2; exit 2; fi ;;
  esac
  shift
done
case "$name" in
  blip-base) repo=Salesforce/blip-image-captioning-base ;;
  blip-large) repo=Salesforce/blip-image-captioning-large ;;
  blip-vqa) repo=Salesforce/blip-vqa-base ;;
  vit-gpt2) repo=nlpconnect/vit-gpt2-image-captioning ;;
  trocr-small-printed|trocr-small-handwritten|trocr-small-stage1|trocr-base-printed|trocr-base-handwritten|\
  trocr-base-stage1|trocr-base-str|trocr-large-printed|trocr-large-handwritten|trocr-large-stage1|trocr-large-str)
    repo=microsoft/$name ;;
  florence-2-base) repo=microsoft/Florence-2-base ;;
  florence-2-large) repo=microsoft/Florence-2-large ;;
  florence-2-base-ft) repo=microsoft/Florence-2-base-ft ;;
  florence-2-large-ft) repo=microsoft/Florence-2-large-ft ;;
  */*) repo=$name ;;
  *) echo "get-model.sh: unknown model '$name' (blip-base, blip-large, blip-vqa, vit-gpt2, trocr-SIZE-KIND, florence-2-SIZE[-ft], or OWNER/NAME)" >&2
     exit 2 ;;
esac
command -v curl >/dev/null || { echo "get-model.sh: curl is missing (apt-get install curl)" >&2; exit 1; }
dest=${dest:-$root/models/${repo#*/}}  # DEST itself is relative to where you are
if [ -f "$dest/config.json" ] && [ $force = 0 ]; then
  echo "$dest already holds a model (--force downloads it again)"
  exit 0
fi

hub=${GLIMPSE_HUB_URL:-https://huggingface.co}
rev_url=${revision//\//%2F}  # refs/pr/3 -> refs%2Fpr%2F3
base="$hub/$repo/resolve/$rev_url"
partial="$dest.partial"
rm -rf "$partial"
mkdir -p "$partial"
trap 'rm -rf "$partial"' EXIT

fetch() {  # fetch FILE: 0 when downloaded, 1 when the Hub has no such file (or is unreachable)
  curl -fsSL --retry 3 --connect-timeout 20 -o "$partial/$1" "$base/$1" 2>/dev/null || { rm -f "$partial/$1"; return 1; }
  echo "  $1 ($(wc -c < "$partial/$1") bytes)"
}

echo "$repo@$revision -> $dest"
fetch config.json || {
  echo "get-model.sh: cannot download config.json from $base (no internet, a wrong name, or a private repository)" >&2
  exit 1
}
if ! fetch model.safetensors; then
  if fetch model.safetensors.index.json; then
    # Shard names are the values of the index's weight_map.
    for shard in $(grep -o '"[^"]*\.safetensors"' "$partial/model.safetensors.index.json" | tr -d '"' | sort -u); do
      case "$shard" in */*|..*) echo "get-model.sh: the index names an unsafe shard path '$shard'" >&2; exit 1 ;; esac
      fetch "$shard" || { echo "get-model.sh: cannot download the shard $shard" >&2; exit 1; }
    done
  elif fetch pytorch_model.bin; then
    echo "  (no safetensors: glimpse reads pytorch_model.bin without running its pickle)"
  elif fetch pytorch_model.bin.index.json; then
    for shard in $(grep -o '"[^"]*\.bin"' "$partial/pytorch_model.bin.index.json" | tr -d '"' | sort -u); do
      case "$shard" in */*|..*) echo "get-model.sh: the index names an unsafe shard path '$shard'" >&2; exit 1 ;; esac
      fetch "$shard" || { echo "get-model.sh: cannot download the shard $shard" >&2; exit 1; }
    done
  else
    echo "get-model.sh: $repo@$revision publishes no weights glimpse reads (safetensors or pytorch_model.bin)." >&2
    exit 1
  fi
fi
for f in preprocessor_config.json tokenizer.json tokenizer_config.json special_tokens_map.json vocab.txt vocab.json \
         merges.txt sentencepiece.bpe.model generation_config.json; do
  fetch "$f" || true
done
rm -rf "$dest"
mv "$partial" "$dest"
trap - EXIT
echo "done: build/glimpse caption --model $dest IMAGE"
