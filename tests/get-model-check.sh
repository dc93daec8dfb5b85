#!/bin/sh
# scripts/get-model.sh against a fake Hub (a file:// tree built here from the tiny BLIP checkpoint):
# a single-file repository by its short name, a sharded one on a refs/pr/N revision, TrOCR published
# as pytorch_model.bin only, Florence-2 (pytorch_model.bin, BART tokenizer files), one without
# weights, an unknown name. The downloaded folders must
# caption like the originals.
#   get-model-check.sh REPO_ROOT GLIMPSE
set -eu
root=$1 glimpse=$2
tiny=$root/tests/data/blip/tiny-base image=$root/tests/data/blip/pattern.png
rm -rf hub got && mkdir -p hub/Salesforce/blip-image-captioning-base/resolve/main hub/o/sharded/resolve/refs/pr/7 \
  hub/o/noweights/resolve/main hub/microsoft/trocr-base-printed/resolve/main hub/microsoft/Florence-2-base/resolve/main
for f in config.json model.safetensors preprocessor_config.json tokenizer_config.json vocab.txt; do
  cp "$tiny/$f" hub/Salesforce/blip-image-captioning-base/resolve/main/
done
for f in config.json preprocessor_config.json tokenizer_config.json vocab.txt; do cp "$tiny/$f" hub/o/sharded/resolve/refs/pr/7/; done
cp "$tiny/model.safetensors" hub/o/sharded/resolve/refs/pr/7/model-00001-of-00001.safetensors
cp "$root/tests/data/hub/tiny-base-index.json" hub/o/sharded/resolve/refs/pr/7/model.safetensors.index.json
cp "$tiny/config.json" hub/o/noweights/resolve/main/
cp "$root/tests/data/trocr/tiny-vit-bin/"* hub/microsoft/trocr-base-printed/resolve/main/
cp "$root/tests/data/florence2/tiny/"* hub/microsoft/Florence-2-base/resolve/main/
export GLIMPSE_HUB_URL="file://$PWD/hub"

want=$("$glimpse" caption --model "$tiny" "$image")
"$root/scripts/get-model.sh" blip-base got/base
[ "$("$glimpse" caption --model got/base "$image")" = "$want" ] || { echo "blip-base download captions differently" >&2; exit 1; }
"$root/scripts/get-model.sh" blip-base got/base | grep -q "already holds a model"
"$root/scripts/get-model.sh" o/sharded got/sharded --revision refs/pr/7
[ -f got/sharded/model-00001-of-00001.safetensors ] && [ ! -f got/sharded/model.safetensors ]
[ "$("$glimpse" caption --model got/sharded "$image")" = "$want" ] || { echo "sharded download captions differently" >&2; exit 1; }
if "$root/scripts/get-model.sh" o/noweights got/nw 2>err.txt; then echo "no weights accepted" >&2; exit 1; fi
"$root/scripts/get-model.sh" trocr-base-printed got/trocr
[ -f got/trocr/pytorch_model.bin ] && [ -f got/trocr/tokenizer.json ]
[ "$("$glimpse" caption --model got/trocr "$image")" = "$("$glimpse" caption --model "$root/tests/data/trocr/tiny-vit" "$image")" ] ||
  { echo "trocr download reads differently" >&2; exit 1; }
"$root/scripts/get-model.sh" florence-2-base got/florence
[ -f got/florence/pytorch_model.bin ] && [ -f got/florence/tokenizer.json ] && [ -f got/florence/vocab.json ]
[ "$("$glimpse" caption --model got/florence --task '<OD>' --max-new-tokens 8 "$image")" = \
  "$("$glimpse" caption --model "$root/tests/data/florence2/tiny" --task '<OD>' --max-new-tokens 8 "$image")" ] ||
  { echo "florence-2-base download answers differently" >&2; exit 1; }
grep -q "publishes no weights glimpse reads" err.txt && [ ! -e got/nw ] && [ ! -e got/nw.partial ]
if "$root/scripts/get-model.sh" blip-huge 2>err.txt; then echo "unknown name accepted" >&2; exit 1; fi
grep -q "unknown model 'blip-huge'" err.txt
echo "get-model.sh: all cases pass"
