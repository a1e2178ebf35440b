#!/usr/bin/env bash
# Runs every medanchor test: the contract tests (vitest on clarinet-sdk's simnet, with coverage and
# cost reports), the Rendezvous property tests and invariants, the local chain's own tests, the
# Stacks test vectors' freshness, and the C++ build with its GoogleTest suite through CTest.
# Installs what is missing first.
#   RV_RUNS=N   Rendezvous runs per mode (default 100)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/bootstrap.sh

echo "== Contract tests: vitest on clarinet-sdk simnet (coverage and costs)"
npx vitest run -- --coverage --costs
node scripts/coverage-summary.mjs lcov.info contracts/medical-analysis.clar 95
echo "== Contract costs (docs/contract.md must match)"
node scripts/cost-table.mjs costs-reports.json --check docs/contract.md

echo "== Rendezvous property tests and invariants"
bash scripts/rendezvous.sh "${RV_RUNS:-100}"

echo "== Local chain (devnet/): node --test"
node --test devnet/test/

echo "== Stacks vectors: tests/stacks/vectors.json is what @stacks/transactions produces now"
node tools/stacks-vectors/generate.mjs | cmp -s - tests/stacks/vectors.json || {
    echo "tests/stacks/vectors.json is stale: node tools/stacks-vectors/generate.mjs > tests/stacks/vectors.json" >&2
    exit 1
}

echo "== C++: configure, build, test"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
# Most chain tests wait on the local chain's one-second blocks rather than compute: run twice as
# many as there are cores so the waits overlap (CI: 2 cores).
ctest --test-dir build --output-on-failure -j"$(( $(nproc) * 2 ))"
