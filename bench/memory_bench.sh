#!/usr/bin/env bash
# Peak memory of `medanchor analyze --no-anchor --threads 1` on one large image: a 3000x3000 CT
# slice with 12 bits stored and one with 16 (16 bits allocated: 18 MB of pixels each, written by
# pydicom), against the same command on a 64x64 slice in the same run (the fixed base: the
# program, the model's runtime, the libraries). Peak resident set from GNU time (%M). Prints each
# figure, the growth over the base, and that growth in decoded-pixel sizes.
#   bash bench/memory_bench.sh            (after a build into build/; MEDANCHOR_BIN=... for another)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
m=${MEDANCHOR_BIN:-$root/build/src/app/medanchor}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time, Debian package time)" >&2; exit 1; }
/usr/bin/python3 - "$work" <<'PY'
import os, sys
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

def write(path, n, stored):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = "2.25.%d" % (n * 100 + stored)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.is_little_endian, ds.is_implicit_VR = True, False
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "2.25.1", "2.25.2"
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "SIMULATED^BENCH", "BENCH"
    ds.Rows = ds.Columns = n
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, stored, stored - 1, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.PixelData = np.random.default_rng(1).integers(0, (1 << stored) - 1, size=(n, n),
                                                     dtype=np.uint16).astype("<u2").tobytes()
    ds.save_as(path, write_like_original=False)

write(os.path.join(sys.argv[1], "base", "s.dcm"), 64, 12)
write(os.path.join(sys.argv[1], "b12", "s.dcm"), 3000, 12)
write(os.path.join(sys.argv[1], "b16", "s.dcm"), 3000, 16)
PY
"$m" site-key new "$work/site.key" >/dev/null 2>&1
analyst=ST1PQHQKV0RJXZFY1DGX8MNSNYVE3VGZJSRTPGZGM
peak() {
    /usr/bin/time -f %M -o "$work/time" "$m" analyze "$work/$1" --no-anchor --analyst "$analyst" \
        --threads 1 --site-key "$work/site.key" --out "$work/out-$1" --ledger "$work/l-$1.sqlite" \
        >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
    cat "$work/time"
}
base=$(peak base)
pixels_kib=$((3000 * 3000 * 2 / 1024))
echo "build: $(grep -m1 CMAKE_BUILD_TYPE "$root/build/CMakeCache.txt" | cut -d= -f2); $(nproc) cores; $(date -u +%F)"
printf '%-26s %10s %12s %14s\n' image "peak MiB" "over base" "x pixel size"
printf '%-26s %10.1f %12s %14s\n' "64x64 (the base)" "$(awk -v b="$base" 'BEGIN{print b/1024}')" - -
for kind in b12 b16; do
    p=$(peak $kind)
    awk -v p="$p" -v b="$base" -v px="$pixels_kib" -v name="3000x3000 ${kind#b}-bit stored" \
        'BEGIN{printf "%-26s %10.1f %12.1f %14.2f\n", name, p/1024, (p-b)/1024, (p-b)/px}'

done
