#!/bin/sh
# glimpse caption --json with a file name that is not UTF-8 (byte 0xff): that image's line names it
# with U+FFFD, and the next image is still captioned. Usage: cli-json-names.sh GLIMPSE DATA_DIR
set -u
glimpse=$1 data=$2
dir=$(mktemp -d)
bad="$dir/$(printf 'name-\377.png')"
cp "$data/blip/pattern.png" "$bad"
out=$("$glimpse" caption --json --model "$data/blip/tiny-base" "$bad" "$data/images/rgb-420.jpg")
rc=$?
rm -rf "$dir"
fffd=$(printf '\357\277\275')
echo "$out"
[ "$rc" = 0 ] || { echo "exit status $rc"; exit 1; }
[ "$(echo "$out" | wc -l)" = 2 ] || { echo "expected two lines"; exit 1; }
echo "$out" | head -1 | grep -q "name-$fffd.png\".*\"token_ids\":\[193,39,120" || { echo "first line"; exit 1; }
echo "$out" | tail -1 | grep -q '"token_ids":\[193,86,102\]' || { echo "second line"; exit 1; }
echo "json names: pass"
