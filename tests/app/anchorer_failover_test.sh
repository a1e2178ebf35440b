#!/usr/bin/env bash
# The elected anchoring writer (issue 15 phase B2, docs/anchorer.md) through the real binary, on
# a real local chain (a block every 2 s) and a real PostgreSQL ledger started here:
#   - two `medanchor anchorer` processes of one signing key on one ledger: one is elected, the
#     other stands by naming the holder's pid;
#   - kill -9 of the writer while its transactions wait in the mempool: the standby is elected
#     and anchors the rest;
#   - pg_terminate_backend of the lock's session: the writer sees it before signing again
#     ("lost"), goes back to election, and one writer goes on;
#   - a PostgreSQL restart mid-run: the lock is lost, re-elected, and the rest is anchored;
#   - at the end, ON THE CHAIN: the contract's analysis-count equals the analyses the ledger
#     holds confirmed, each image has exactly one analysis (verify), the sender's account nonce
#     counts exactly the transactions the ledger saw mined (nonces 0..n-1 each once: the chain
#     takes a nonce once), and no nonce was ever signed twice in the ledger;
#   - SIGTERM: each anchorer finishes its pass, releases the lock and exits 0.
# Batches of one analysis (--batch-size 1) make many transactions: more than the node's 25
# chained per sender, so the writer also waits for room in the mempool.
# Usage: anchorer_failover_test.sh MEDANCHOR_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
work=$(mktemp -d)
# shellcheck source=tests/shell_support.sh
. "$(dirname "${BASH_SOURCE[0]}")/../shell_support.sh"
port=$(free_port)
api_port=$(free_port)
chain=(--port "$port" --api-port "$api_port" --data "$work/chain")
node=(--node "http://127.0.0.1:$port")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    "$bin" devnet stop "${chain[@]}" >/dev/null 2>&1 || true
    stop_postgres
    rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }; done
    exit 1
}
# shellcheck source=tests/app/chain_setup.sh
. "$(dirname "$0")/chain_setup.sh"
# shellcheck source=tests/app/postgres_setup.sh
. "$(dirname "$0")/postgres_setup.sh"

start_postgres
"${psql[@]}" -d postgres -c "CREATE DATABASE scans" || fail "createdb"
uri="postgresql://medanchor@/scans?host=$pg&port=$pg_port"
q() { "${psql[@]}" -d scans -c "$1"; }

export MEDANCHOR_SITE_KEY_FILE="$work/site.key"
"$bin" site-key new "$work/site.key" >/dev/null
start_chain_with_radiologist
"$bin" devnet stop "${chain[@]}" >/dev/null || fail "devnet stop"
"$bin" devnet start "${chain[@]}" --block-interval 2 >/dev/null || fail "devnet start --block-interval 2"

# Records analyses of COUNT new slices (seed SEED) for the doctor, without anchoring them.
record() {
    "$bin" simulate --out "$work/images-$1" --seed "$1" --count "$2" >/dev/null
    rm -f "$work/images-$1/truth.csv"
    "$bin" analyze "$work/images-$1" --out "$work/reports" --ledger "$uri" --no-anchor \
        --analyst "$doctor" >"$work/analyze-$1.out" 2>&1 || fail "analyze --no-anchor: $(cat "$work/analyze-$1.out")"
}
# Waits up to $2 seconds for the shell condition $1.
wait_for() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do eval "$1" && return 0; sleep 0.1; done
    fail "timed out waiting for: $1"
}
anchorer() { # NAME: starts an anchorer logging to $work/NAME.log; its pid in $started
    "$bin" anchorer --ledger "$uri" "${node[@]}" --key-file "$work/doctor.key" --batch-size 1 \
        --interval 0.5 --standby-retry 0.5 >"$work/$1.log" 2>&1 &
    started=$!
    pids+=("$started")
}
count() { grep -c "$1" "$2" 2>/dev/null || true; }
unsettled() { q "SELECT count(*) FROM analyses WHERE state IN ('pending', 'broadcast')"; }
in_mempool() { q "SELECT count(*) FROM transactions WHERE state = 'broadcast'"; }

record 21 40
[ "$(q "SELECT count(*) FROM analyses WHERE state = 'pending'")" -gt 25 ] || fail "more than 25 to anchor: $(q "SELECT state, count(*) FROM analyses GROUP BY state")"

# Two anchorers: one elected, the other standing by, naming the holder.
anchorer a
a=$started
wait_for '[ "$(count "anchorer elected" "$work/a.log")" -ge 1 ]' 30
anchorer b
b=$started
wait_for '[ "$(count "anchorer standby" "$work/b.log")" -ge 1 ]' 30
grep -q "pid $a" "$work/b.log" || fail "the standby names the holder's pid $a"

# kill -9 of the writer while it has transactions in the mempool.
wait_for '[ "$(in_mempool)" -ge 3 ]' 60
kill -9 "$a"
wait "$a" 2>/dev/null || true
echo "killed the writer with $(in_mempool) transaction(s) in the mempool"
wait_for '[ "$(count "anchorer elected" "$work/b.log")" -ge 1 ]' 30
wait_for '[ "$(unsettled)" = 0 ]' 180

# pg_terminate_backend of the lock's session while the writer has work: it says it lost the
# lock, and a writer (it or the new standby) is elected and finishes.
anchorer c
c=$started
wait_for '[ "$(count "anchorer standby" "$work/c.log")" -ge 1 ]' 30
record 22 30
wait_for '[ "$(in_mempool)" -ge 1 ]' 60
terminated=$(q "SELECT count(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted")
[ "$terminated" = 1 ] || fail "one lock session to terminate, found $terminated"
wait_for '[ "$(count "anchorer lost" "$work/b.log")" -ge 1 ]' 30
wait_for '[ "$(( $(count "anchorer elected" "$work/b.log") + $(count "anchorer elected" "$work/c.log") ))" -ge 2 ]' 30
wait_for '[ "$(unsettled)" = 0 ]' 180

# A PostgreSQL restart mid-run: the lock goes with every session; the writer re-elects.
lost_before=$(( $(count "anchorer lost" "$work/b.log") + $(count "anchorer lost" "$work/c.log") ))
record 23 30
wait_for '[ "$(in_mempool)" -ge 1 ]' 60
restart_postgres
wait_for '[ "$(( $(count "anchorer lost" "$work/b.log") + $(count "anchorer lost" "$work/c.log") ))" -gt "$lost_before" ]' 30
wait_for '[ "$(unsettled)" = 0 ]' 180

# SIGTERM: the pass ends, the lock is released, exit 0.
kill -TERM "$b" "$c"
wait "$b" || fail "anchorer b exited $? on SIGTERM"
wait "$c" || fail "anchorer c exited $? on SIGTERM"
grep -q "anchorer stopped" "$work/b.log" || fail "b says it stopped"
[ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2")" = 0 ] || fail "a lock left held"

# The ledger: everything settled, no nonce signed twice.
confirmed=$(q "SELECT count(*) FROM analyses WHERE state = 'confirmed'")
[ "$(q "SELECT count(*) FROM analyses WHERE state NOT IN ('confirmed', 'needs_review')")" = 0 ] \
    || fail "all confirmed or held: $(q "SELECT state, count(*) FROM analyses GROUP BY state")"
[ "$(q "SELECT count(*) FROM (SELECT 1 FROM transactions GROUP BY sender, nonce HAVING count(*) > 1) d")" = 0 ] \
    || fail "a nonce signed twice: $(q "SELECT sender, nonce, txid, state FROM transactions ORDER BY nonce")"
mined=$(q "SELECT count(*) FROM transactions WHERE state = 'success'")
[ "$mined" -gt 25 ] || fail "more than 25 transactions, got $mined"

# The chain: as many analyses as the ledger confirmed; the account's nonce counts the
# registration and every mined transaction once (the chain took nonces 0..n-1, each once).
params=$("$bin" admin params "${node[@]}" --json) || fail "admin params"
on_chain=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["analysis-count"].lstrip("u"))' "$params") \
    || fail "analysis-count in $params"
[ "$on_chain" = "$confirmed" ] || fail "the chain holds $on_chain analyses, the ledger confirmed $confirmed: $params"
nonce=$(curl -sf "http://127.0.0.1:$port/v2/accounts/$doctor?proof=0" | python3 -c 'import json,sys; print(json.load(sys.stdin)["nonce"])')
[ "$nonce" = $((mined + 1)) ] || fail "account nonce $nonce, expected 1 + $mined mined transactions"
# Each anchored image once on chain.
for s in 21 22 23; do
    "$bin" verify "$work/images-$s" "${node[@]}" --ledger "$uri" --json >>"$work/verify.jsonl" 2>/dev/null || true
done
[ "$(grep -c '"total":1,' "$work/verify.jsonl" || true)" = "$confirmed" ] \
    || fail "each of $confirmed anchored images once on chain: $(grep -c '"total":1,' "$work/verify.jsonl") found"
grep -q '"total":[2-9]' "$work/verify.jsonl" && fail "an image anchored twice"
echo "ok: $confirmed analyses anchored once each in $mined transactions across kill -9, pg_terminate_backend and a PostgreSQL restart"
