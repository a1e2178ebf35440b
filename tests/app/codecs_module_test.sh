#!/usr/bin/env bash
# OpenCV's image codecs are a module loaded on first use (src/codecs/opencv_codecs.h): the binary
# does not link libopencv_imgcodecs (whose ~120 libraries cost every command's start), a DICOM
# is hashed without the module, and a JPEG needs it — without it the JPEG is refused (exit 6)
# naming the file and the module, with it the JPEG is hashed; a copied (installed) binary finds
# the module beside itself and only there; a module others can write is refused.
# Usage: codecs_module_test.sh MEDANCHOR_BINARY CODECS_MODULE
set -euo pipefail
# shellcheck source=tests/shell_support.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell_support.sh"
bin=$1
module=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
dcm=/usr/lib/python3/dist-packages/pydicom/data/test_files/SC_rgb_rle.dcm
! readelf -d "$bin" | grep NEEDED | grep -q imgcodecs || fail "the binary links imgcodecs"
dcmj2pnm +oj "$dcm" "$work/img.jpg"
export MEDANCHOR_OPENCV_CODECS="$work/nothing-here.so"
"$bin" hash --public "$dcm" >/dev/null || fail "a DICOM without the codecs module"
run "$bin" hash --public "$work/img.jpg"
[ "$rc" = 6 ] || fail "a JPEG without the module: expected 6, got $rc: $out"
grep -q "$work/img.jpg: the OpenCV image codecs module cannot be loaded" <<<"$out" \
    || fail "the file and the module named: $out"
unset MEDANCHOR_OPENCV_CODECS
"$bin" hash --public "$work/img.jpg" | grep -q '^sha256:[0-9a-f]\{64\} ' || fail "a JPEG with the module"
# Installed: a copied binary takes the module beside itself, never the build tree's: without
# one beside it the JPEG is refused naming where it looked; a file there that is no module is
# refused, naming it; one others can write is refused (exit 8, permission) before it is opened;
# the real module there decodes.
mkdir "$work/bin"
cp "$bin" "$work/bin/medanchor"
run "$work/bin/medanchor" hash --public "$work/img.jpg"
[ "$rc" = 6 ] && grep -q "module cannot be loaded: $work/bin/medanchor_opencv_codecs.so: no such file" <<<"$out" \
    || fail "a copied binary falls back to the build tree's module: $rc: $out"
printf 'not a shared object' >"$work/bin/medanchor_opencv_codecs.so"
run "$work/bin/medanchor" hash --public "$work/img.jpg"
[ "$rc" = 6 ] && grep -q "$work/bin/medanchor_opencv_codecs.so" <<<"$out" \
    || fail "the module beside a copied binary comes first: $rc: $out"
cp "$module" "$work/bin/"
chmod o+w "$work/bin/medanchor_opencv_codecs.so"
run "$work/bin/medanchor" hash --public "$work/img.jpg"
[ "$rc" = 8 ] && grep -q "module refused: $work/bin/medanchor_opencv_codecs.so: writable by group or others" <<<"$out" \
    || fail "a module others can write: expected 8, got $rc: $out"
chmod o-w "$work/bin/medanchor_opencv_codecs.so"
"$work/bin/medanchor" hash --public "$work/img.jpg" | grep -q '^sha256:' || fail "the module beside a copied binary"
echo "ok: imgcodecs loaded only for what needs it"
