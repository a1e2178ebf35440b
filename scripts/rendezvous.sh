#!/usr/bin/env bash
# Runs the Rendezvous property tests and invariants of contracts/medical-analysis.tests.clar for a
# bounded number of runs. Usage: scripts/rendezvous.sh [RUNS]   (env RV_SEED=N replays a run)
#
# Rendezvous 0.12 reads the deployment plan in the format clarinet-sdk 3.12 writes, so package.json
# pins its own clarinet-sdk to 3.12 (an npm override) while vitest uses the newest one. The two
# write deployments/default.simnet-plan.yaml differently, so Rendezvous runs on a scratch copy of
# the Clarinet project and never touches the checked-in plan.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${1:-100}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$root/Clarinet.toml" "$root/settings" "$root/contracts" "$work/"
seed_args=()
[ -n "${RV_SEED:-}" ] && seed_args=(--seed="$RV_SEED")
status=0
for type in test invariant; do
    echo "== rendezvous: medical-analysis $type, $runs runs"
    log="$work/rv-$type.log"
    dial=()
    [ "$type" = invariant ] && dial=(--dial="$root/tests/rendezvous-dialers.cjs")
    if ! "$root/node_modules/.bin/rv" "$work" medical-analysis "$type" --runs="$runs" "${seed_args[@]}" "${dial[@]}" \
        >"$log" 2>&1; then
        status=1
    fi
    # The per-call trace is long; keep the summary, and the whole trace when something failed.
    if grep -qE 'Counterexample|Property failed|Error' "$log"; then
        status=1
        cat "$log"
    else
        sed -n '/STATISTICS/,$p' "$log" | sed -e 's/\x1b\[[0-9;]*m//g'
    fi
done
exit "$status"
