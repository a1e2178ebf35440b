#!/usr/bin/env bash
# The main job, end to end on the embedded defaults. Installs what is missing first.
# Today: the contract workflow on the local Clarity VM (scripts/demo.mjs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash scripts/bootstrap.sh
node scripts/demo.mjs "$@"
