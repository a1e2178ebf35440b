#!/usr/bin/env bash
# Retrains the reference model (models/ct-nodule-sim) from one seed: installs the training
# packages if missing, builds medanchor, simulates the data, trains, calibrates, tests, exports.
#   bash tools/train/train.sh [--seed N] [train.py options]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' tools/train/apt-packages.txt | grep -v '^$')
missing=()
for p in "${wanted[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target medanchor
exec /usr/bin/python3 tools/train/train.py "$@"
