#!/usr/bin/env bash
# Throughput of `medanchor worker` on a PostgreSQL ledger (docs/scale.md): the same N simulated
# slices (default 2000, 64x64: the size scale_e2e_test.sh uses) analysed by 1 worker, then by 2
# worker processes in parallel, each run on a fresh database and report root, in one run of this
# script; then the queue alone (medanchor_bench_queue: claim + complete, no analysis, 1 and 2
# claimers). Prints figures; never pass/fail. No chain: the analyses are recorded for an analyst
# principal (--analyst) and not anchored. With --anchor, a last run under load: the local chain
# (1 s blocks) set up as the tests do (tests/app/chain_setup.sh), 2 workers recording for a
# verified radiologist and `medanchor anchorer` beside them; prints that run's images/s, the
# largest anchoring lag `medanchor status --json` reported during it (sampled every second), and
# the time from the last job done to every analysis settled (confirmed or held for review).
# Usage: bench/worker_bench.sh BUILD_DIR [N] [--anchor]
set -euo pipefail
build=$1
n=${2:-2000}
bin=$build/src/app/medanchor
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/app/postgres_setup.sh
. "$here/tests/app/postgres_setup.sh"
chain_up=
trap '[ -n "$chain_up" ] && "$bin" devnet stop "${chain[@]}" >/dev/null 2>&1; stop_postgres; rm -rf "$work"' EXIT
start_postgres bench_1
for db in bench_2 bench_queue; do "${psql[@]}" -d postgres -c "CREATE DATABASE $db" || fail "createdb"; done
analyst=ST2CY5V39NHDPWSXMW9QDT3HC3GD6Q6XX4CFRK9AG
export MEDANCHOR_SITE_KEY_FILE="$work/site.key"
"$bin" site-key new "$work/site.key" >/dev/null 2>&1
"$bin" simulate --out "$work/images" --seed 15 --count "$n" --size 64 --views 90 >/dev/null
rm -f "$work/images/truth.csv"

now() { date +%s.%N; }
run() {  # run WORKERS DATABASE
    local db=$2 pids=() t0 t1
    local u="postgresql://medanchor@/$db?host=$pg&port=$pg_port"
    "$bin" enqueue "$work/images" --ledger "$u" --analyst "$analyst" >/dev/null
    t0=$(now)
    for i in $(seq "$1"); do
        "$bin" worker --ledger "$u" --analyst "$analyst" --reports "$work/reports-$db" --once \
            --threads 1 >"$work/worker-$db-$i.log" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || fail "worker exit: $(cat "$work"/worker-"$db"-*.log)"; done
    t1=$(now)
    local done
    done=$("${psql[@]}" -d "$db" -c "SELECT count(*) FROM jobs WHERE state = 'done'")
    [ "$done" = "$n" ] || fail "$done of $n done"
    awk -v n="$n" -v w="$1" -v a="$t0" -v b="$t1" \
        'BEGIN { printf "%d worker(s), --threads 1 each: %d images in %.1f s = %.1f images/s\n", w, n, b - a, n / (b - a) }'
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
run 1 bench_1
run 2 bench_2
"$build/bench/medanchor_bench_queue" "postgresql://medanchor@/bench_queue?host=$pg&port=$pg_port" "$n" 32

[ "${3:-}" = --anchor ] || exit 0
src=$here
port=$(free_port); api_port=$(free_port)
chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
node=(--node "http://127.0.0.1:$port" --api "http://127.0.0.1:$api_port")
# shellcheck source=tests/app/chain_setup.sh
. "$here/tests/app/chain_setup.sh"
chain_up=1
start_chain_with_radiologist
"${psql[@]}" -d postgres -c "CREATE DATABASE bench_3" || fail "createdb"
u="postgresql://medanchor@/bench_3?host=$pg&port=$pg_port"
who=(--key-file "$work/doctor.key")
"$bin" enqueue "$work/images" --ledger "$u" "${who[@]}" >/dev/null
"$bin" anchorer --ledger "$u" "${node[@]}" "${who[@]}" --interval 1 >"$work/anchorer.log" 2>&1 &
anchorer=$!
t0=$(now)
pids=()
for i in 1 2; do
    "$bin" worker --ledger "$u" "${who[@]}" --reports "$work/reports-anchored" --once --threads 1 \
        >"$work/worker-anchored-$i.log" 2>&1 &
    pids+=($!)
done
max_lag=0
while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
    lag=$("$bin" status --ledger "$u" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["anchoring_lag_s"])')
    [ "$lag" -gt "$max_lag" ] && max_lag=$lag
    sleep 1
done
for p in "${pids[@]}"; do wait "$p" || fail "worker exit"; done
t1=$(now)
until [ "$("${psql[@]}" -d bench_3 -c "SELECT count(*) FROM analyses WHERE state IN ('pending', 'broadcast')")" = 0 ]; do
    sleep 0.2
done
t2=$(now)
kill -TERM "$anchorer"; wait "$anchorer" || true
confirmed=$("${psql[@]}" -d bench_3 -c "SELECT count(*) FROM analyses WHERE state = 'confirmed'")
awk -v n="$n" -v a="$t0" -v b="$t1" -v c="$t2" -v lag="$max_lag" -v conf="$confirmed" \
    'BEGIN { printf "2 workers + anchorer on the local chain (1 s blocks): %.1f images/s; largest anchoring lag during the run %d s; last job done to all settled %.1f s (%d confirmed, the rest held for review)\n", n / (b - a), lag, c - b, conf }'
