#!/usr/bin/env bash
# OpenCV's image codecs are a module loaded on first use (src/codecs/opencv_codecs.h): the binary
# does not link libopencv_imgcodecs (whose ~120 libraries cost every command's start), a DICOM
# is hashed without the module, and a JPEG needs it — without it the JPEG is refused (exit 6)
# naming the file and the module, with it the JPEG is hashed.
# Usage: codecs_module_test.sh MEDANCHOR_BINARY
set -euo pipefail
bin=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
dcm=/usr/lib/python3/dist-packages/pydicom/data/test_files/SC_rgb_rle.dcm
! readelf -d "$bin" | grep NEEDED | grep -q imgcodecs || fail "the binary links imgcodecs"
dcmj2pnm +oj "$dcm" "$work/img.jpg"
export MEDANCHOR_OPENCV_CODECS="$work/nothing-here.so"
"$bin" hash --public "$dcm" >/dev/null || fail "a DICOM without the codecs module"
set +e
out=$("$bin" hash --public "$work/img.jpg" 2>&1)
rc=$?
set -e
[ "$rc" = 6 ] || fail "a JPEG without the module: expected 6, got $rc: $out"
grep -q "$work/img.jpg: the OpenCV image codecs module cannot be loaded" <<<"$out" \
    || fail "the file and the module named: $out"
unset MEDANCHOR_OPENCV_CODECS
"$bin" hash --public "$work/img.jpg" | grep -q '^sha256:[0-9a-f]\{64\} ' || fail "a JPEG with the module"
echo "ok: imgcodecs loaded only for what needs it"
