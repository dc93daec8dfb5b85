#!/bin/sh
# The Qt desktop sample under a virtual display: it opens IMAGE with MODEL, quits after the first
# caption and saves its window. The caption it shows must equal `glimpse caption`'s for the same
# file and model, and the screenshot must be a PNG at least as big as the window's minimum.
#   desktop-check.sh GLIMPSE GLIMPSE_DESKTOP MODEL IMAGE SCREENSHOT [extra glimpse-desktop args]
set -eu
cli=$1 desktop=$2 model=$3 image=$4 shot=$5
shift 5
expected=$("$cli" caption --model "$model" "$image")
expected="caption: ${expected#"$image: "}"
rm -f "$shot"
shown=$(xvfb-run -a "$desktop" --model "$model" --image "$image" --quit-after-caption --screenshot "$shot" "$@" \
        2>desktop-stderr.txt | grep '^caption: ') || { cat desktop-stderr.txt >&2; exit 1; }
echo "cli:     $expected"
echo "desktop: $shown"
[ "$shown" = "$expected" ] || { echo "the desktop sample shows a different caption" >&2; exit 1; }
# PNG signature, then IHDR width and height (big-endian) at bytes 16..23.
[ "$(od -An -tx1 -N8 "$shot" | tr -d ' \n')" = 89504e470d0a1a0a ] || { echo "$shot is not a PNG" >&2; exit 1; }
width=$(od -An -tu1 -j16 -N4 "$shot" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
height=$(od -An -tu1 -j20 -N4 "$shot" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
echo "screenshot: $shot, ${width} x ${height}"
[ "$width" -ge 384 ] && [ "$height" -ge 288 ] || { echo "the screenshot is too small" >&2; exit 1; }
